"""Writers of the scan's outputs: findings.json, report.md and the CSV tables."""

#: languages of report.html (detector.output.html; here so that a command's options need not
#: import the renderer)
LANGS = ("en", "zh")
