"""``minesweep zeek LOGDIR_OR_FILES... --out DIR``: Zeek logs in, findings and alerts out.

Reads conn, dns, ssl, x509, notice, intel, signatures and http logs (TSV or JSON, plain or gzip,
single files or ZeekControl directories with dated archives and ``current/``), writes the same
reports as ``minesweep scan`` plus ``mining.log``; with ``--follow`` keeps tailing the logs and
alerts on each new finding at once (detector/sidecar/live.py).

Public API: ``register(subparsers)``, ``run(args, stdout=None) -> int``.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from detector.sidecar.run import add_arguments, run_command

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zeek", help="find mining in Zeek logs (batch or --follow)",
                       description="Find cryptocurrency mining in Zeek logs (conn, dns, ssl, x509, notice, "
                                   "intel; TSV or JSON; .gz; ZeekControl layout) and write findings.json, "
                                   "report.md, hosts.csv, report.html, the CSVs and mining.log.")
    p.add_argument("inputs", nargs="+", metavar="LOGDIR_OR_FILE")
    add_arguments(p, "zeek")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    return run_command("zeek", args, stdout)
