"""``minesweep suricata EVE... --out DIR``: Suricata eve.json in, findings and alerts out.

Reads alert (payloads decoded with minesweep's dialect parsers), flow, dns, tls, http, fileinfo
and anomaly events from eve.json files (plain or gzip; a directory gives its ``eve*.json*``);
other event types and damaged lines are counted and reported in ``inputs[].warnings``. Writes
the same reports as ``minesweep scan`` plus ``mining.log``; with ``--follow`` keeps tailing and
alerts on each new finding at once.

Public API: ``register(subparsers)``, ``run(args, stdout=None) -> int``.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from detector.sidecar.run import add_arguments, run_command

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suricata", help="find mining in Suricata eve.json (batch or --follow)",
                       description="Find cryptocurrency mining in Suricata EVE JSON (alert payloads decoded "
                                   "like a packet scan, flow, dns, tls, http) and write findings.json, "
                                   "report.md, hosts.csv, report.html, the CSVs and mining.log.")
    p.add_argument("inputs", nargs="+", metavar="EVE")
    add_arguments(p, "suricata")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    return run_command("suricata", args, stdout)
