"""The ``minesweep`` command line. Subcommands live in detector/commands/ (one module each, with
``register(subparsers)``); this is the only place that turns errors into messages and exit codes:

    0  success            2  an input could not be used (one line on stderr, no traceback)
    1  unexpected error   3  partial results: some input files could not be scanned (named on
                             stderr); the outputs cover the others
                          130 interrupted
"""

from __future__ import annotations

import atexit
import os
import sys

from detector import __version__, lifetime, prehash
from detector.errors import InputError, MinesweepError

# This module imports little before ``main`` starts hashing the captures (``detector.prehash``):
# typing, threading, argparse and the commands come after (a scan's imports take ~0.06 s).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: with the subcommand it names only, if it names one (see
    ``detector.commands``); all of them otherwise."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="minesweep",
        description="Find cryptocurrency mining in network traffic and report it.",
    )
    parser.add_argument("--version", action="version", version=f"minesweep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from detector.commands import modules_for  # after prehash.start: a scan's imports take ~0.06 s

    for module in modules_for(argv):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    prehash.start(args_list)  # a scan's captures are hashed while the command is imported
    parser = build_parser(args_list)
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
    except OSError as exc:  # e.g. standard output on a full disk: what was not written is lost
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"minesweep: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def console() -> None:
    """The ``minesweep`` console script: ``main``, then a quick exit.

    Python's own exit frees, one by one, every object the command made (on the benchmark capture
    ~25 ms of a 0.75 s scan) for a process that is ending; state that would be freed before the
    end (a scan's flow table, ~13 ms) is left for it too (``detector.lifetime``). Every file the
    command wrote is closed by the time ``main`` returns, so this runs the exit handlers, flushes
    the standard streams and ends the process. With another thread still running, the usual exit
    (which waits for it) is kept. A standard stream that cannot be flushed is reported like any
    write error (exit 1), except a closed pipe, which ``main`` treats as success too."""
    lifetime.leave_to_exit()  # what is still alive at the end costs nothing to free
    code = main()
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass
        except OSError as exc:
            os.write(2, f"minesweep: error: cannot write {stream.name} ({exc.strerror})\n".encode())
            code = code or 1
    os._exit(code)

