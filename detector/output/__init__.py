"""Writers of the scan's outputs: findings.json, report.md and the CSV tables."""
