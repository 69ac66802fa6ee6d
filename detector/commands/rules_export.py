"""``minesweep rules export --format zeek-intel|zeek-sig|suricata --out FILE``: sensor rule files
generated from rules/ (detector/export/).

* ``suricata``   a rules file for ``suricata-update --local FILE``
* ``zeek-sig``   Zeek signatures for ``@load-sigs ./minesweep.sig``
* ``zeek-intel`` a Zeek Intel file for ``redef Intel::read_files += { "FILE" };``

``--out -`` writes to stdout; ``--rules DIR`` reads another rules directory.

Public API: ``register(subparsers)``, ``run(args, stdout=None) -> int``, ``FORMATS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from detector.errors import UnreadableInputError

__all__ = ["FORMATS", "register", "run"]


def _suricata(rules_dir: Path | None, out: str) -> str:
    from detector.export import suricata_rules

    return suricata_rules.render(rules_dir, path_hint=out if out != "-" else "minesweep.rules")


def _zeek_sig(rules_dir: Path | None, out: str) -> str:
    from detector.export import zeek_sig

    return zeek_sig.render(rules_dir)


def _zeek_intel(rules_dir: Path | None, out: str) -> str:
    from detector.export import zeek_intel

    return zeek_intel.render(rules_dir)


FORMATS: dict[str, Callable[[Path | None, str], str]] = {
    "suricata": _suricata, "zeek-sig": _zeek_sig, "zeek-intel": _zeek_intel,
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="export sensor rules (Suricata, Zeek) from rules/",
                       description="Work with minesweep's rules/ data.")
    actions = p.add_subparsers(dest="rules_action", metavar="ACTION", required=True)
    e = actions.add_parser("export", help="write Suricata rules, Zeek signatures or a Zeek Intel file",
                           description="Write a sensor rule file generated from rules/: Suricata rules for "
                                       "every decoded dialect plus TLS SNI / DNS rules for every pool domain, "
                                       "Zeek signatures, or a Zeek Intel file.")
    e.add_argument("--format", required=True, choices=sorted(FORMATS))
    e.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    e.add_argument("--rules", type=Path, default=None, metavar="DIR", help="rules directory (default: the project's)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    text = FORMATS[args.format](args.rules, args.out)
    if args.out == "-":
        stdout.write(text)
        return 0
    path = Path(args.out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UnreadableInputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return 0
