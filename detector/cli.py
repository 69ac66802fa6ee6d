"""The ``minesweep`` command line. Subcommands live in detector/commands/ (one module each, with
``register(subparsers)``); this is the only place that turns errors into messages and exit codes:

    0  success            2  an input could not be used (one line on stderr, no traceback)
    1  unexpected error   3  partial results: some input files could not be scanned (named on
                             stderr); the outputs cover the others
                          130 interrupted
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from detector import __version__
from detector.capture import prehash
from detector.errors import InputError, MinesweepError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minesweep",
        description="Find cryptocurrency mining in network traffic and report it.",
    )
    parser.add_argument("--version", action="version", version=f"minesweep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from detector.commands import COMMANDS  # after prehash.start: these imports take ~0.15 s

    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    prehash.start(args_list)  # a scan's captures are hashed while the command is imported
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.argv = ["minesweep", *args_list]
    try:
        return int(args.run(args))
    except InputError as exc:
        print(f"minesweep: error: {exc}", file=sys.stderr)
        return 2
    except MinesweepError as exc:
        print(f"minesweep: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("minesweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
