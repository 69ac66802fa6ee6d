"""One writer in a forked process while this one writes the others.

A scan's reports are independent of each other once the findings exist, and report.html takes
the longest (~0.04 s for a 200-host report, seconds for a province's). ``start(fn, *args)``
forks a child that calls ``fn(*args)`` and exits; this process writes the other files meanwhile
and ``Job.wait()`` then returns ``fn``'s result (a path) or raises the child's exception here.
Forking is used only where it is safe and cheap: a POSIX system with ``os.fork``, and no other
Python thread running (a fork copies only the calling thread; a lock another thread held would
stay locked in the child). Elsewhere, or with ``MINESWEEP_FORK=0``, ``wait()`` calls ``fn`` in
this process, so the files are the same either way.

The child never returns into the caller: it ends with ``os._exit`` (no ``atexit`` handlers, no
flushing of the parent's buffered output twice). What it reports back, through a pipe, is the
pickled exception it raised, if any; a child killed by a signal or unable to report becomes a
``MinesweepError`` naming what it was writing.

Public API: ``start(fn, *args, what, result) -> Job``; ``Job.wait() -> Any``, ``Job.abandon()``.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

from detector.errors import MinesweepError

ENV = "MINESWEEP_FORK"  #: "0", "off", "no" or "false": write everything in this process
MAX_REPORT = 64 << 10  #: bytes of a pickled exception the child sends (a pipe holds them unread)


def enabled() -> bool:
    if os.environ.get(ENV, "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    return hasattr(os, "fork") and sys.platform != "win32" and threading.active_count() == 1


class Job:
    """``fn(*args)``: running in a child process (``pid``), or to be called by ``wait()``."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], what: str, result: Any) -> None:
        self.fn, self.args, self.what, self.result = fn, args, what, result
        self.pid: int | None = None
        self._pipe: int | None = None

    def _fork(self) -> None:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: the writer runs in this one, in wait()
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: write, report, and leave without returning to the caller
            code = 0
            try:
                os.close(read)
                # no cyclic collection: the child's work is bounded and it ends with os._exit,
                # while each collection of the oldest generation walked the heap it shares with
                # the parent, copying every page it wrote an object header of
                gc.disable()
                self.fn(*self.args)
            except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
                code = 1
                try:
                    os.write(write, _report(exc, self.what))
                except BaseException:  # noqa: BLE001 - the exit status still tells
                    pass
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self._pipe = pid, read

    def wait(self) -> Any:
        """The writer's result; its exception, raised here, if it failed."""
        if self.pid is None:
            return self.fn(*self.args)
        report = self._collect()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return self.result
        if report:
            try:
                exc = pickle.loads(report)
            except Exception:  # noqa: BLE001 - an unreadable report: the status below tells
                exc = None
            if isinstance(exc, BaseException):
                raise exc
        if os.WIFSIGNALED(status):
            raise MinesweepError(f"{self.what}: the process writing it was killed by signal {os.WTERMSIG(status)}")
        raise MinesweepError(f"{self.what}: the process writing it failed (exit status {os.WEXITSTATUS(status)})")

    def abandon(self) -> None:
        """Wait for the child without raising what it reports (this process is failing already)."""
        if self.pid is not None:
            self._collect()
            os.waitpid(self.pid, 0)
            self.pid = None

    def _collect(self) -> bytes:
        assert self._pipe is not None
        chunks = []
        try:
            while chunk := os.read(self._pipe, 65536):
                chunks.append(chunk)
        finally:
            os.close(self._pipe)
            self._pipe = None
        return b"".join(chunks)


def _report(exc: BaseException, what: str) -> bytes:
    """The child's exception, pickled (its type and text when it does not pickle, or is too big)."""
    try:
        report = pickle.dumps(exc)
    except Exception:  # noqa: BLE001
        report = b""
    if not report or len(report) > MAX_REPORT:
        report = pickle.dumps(MinesweepError(f"{what}: {type(exc).__name__}: {str(exc)[:1000]}"))
    return report


def start(fn: Callable[..., Any], *args: Any, what: str, result: Any) -> Job:
    """Begin ``fn(*args)`` in a forked child where that is safe (see the module docstring).
    ``what`` names what it writes (for errors); ``result`` is what ``wait()`` returns when the
    child succeeded (``fn``'s own return value stays in the child)."""
    job = Job(fn, args, what, result)
    if enabled():
        job._fork()
    return job
