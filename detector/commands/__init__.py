"""Subcommands, one module each; ``COMMANDS`` lists them in the order ``--help`` shows them."""

from __future__ import annotations

from detector.commands import report, rules_export, scan, suricata, train, zeek

COMMANDS = (scan, report, zeek, suricata, rules_export, train)
