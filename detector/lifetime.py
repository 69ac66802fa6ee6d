"""State left for the end of the process instead of being freed object by object.

The ``minesweep`` console script ends the process with ``os._exit`` once its outputs are written
(``detector.cli.console``), so every object still alive then costs nothing to free. A scan's flow
table is not alive then: it goes out of scope when the scan returns, before the outputs are
written, and freeing its tens of thousands of flows, summaries and keys one by one took ~13 ms of
the 1M-packet benchmark, on the command's critical path. ``keep(obj)`` hands such state over:
after ``leave_to_exit()`` (which only the console script calls) it is held here until the process
ends; otherwise ``keep`` does nothing and the object is freed as usual, so a library caller
scanning again and again holds no more memory than before. At most ``MAX_KEPT`` objects are held
(a command that scans many times over keeps only its first few scans' state: bounded memory).

Public API: ``MAX_KEPT``, ``leave_to_exit() -> None``, ``keep(obj) -> None``, ``kept() -> int``.
"""

from __future__ import annotations

MAX_KEPT = 4  #: objects held at most; more are freed as usual
_kept: list[object] | None = None


def leave_to_exit() -> None:
    """From now on ``keep`` holds what it is given until the process ends (the process is about to
    end without freeing its objects)."""
    global _kept
    if _kept is None:
        _kept = []


def keep(obj: object) -> None:
    """Hold ``obj`` until the process ends, if ``leave_to_exit()`` was called; else nothing."""
    if _kept is not None and len(_kept) < MAX_KEPT:
        _kept.append(obj)


def kept() -> int:
    """How many objects are held (0 unless ``leave_to_exit()`` was called)."""
    return 0 if _kept is None else len(_kept)
