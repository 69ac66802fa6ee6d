"""Subcommands, one module each; ``COMMANDS`` lists them in the order ``--help`` shows them."""

from __future__ import annotations

from detector.commands import report, scan, train

COMMANDS = (scan, report, train)
