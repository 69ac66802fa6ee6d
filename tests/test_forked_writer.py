"""detector.output.forked: report.html written by a forked process beside the other writers —
the same files as in one process, the child's failures raised in the parent, no fork where it
would not be safe."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from detector.commands import report
from detector.errors import MinesweepError, UnreadableInputError
from detector.output import forked

PARENT = os.getpid()
GOLDEN = Path(__file__).resolve().parent / "golden"


def _findings() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GOLDEN / "campus.pcapng.json").read_text("utf-8"))
    return doc


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_files_forked_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: None) -> None:
    findings = _findings()
    forked_dir, inline_dir = tmp_path / "forked", tmp_path / "inline"
    forked_dir.mkdir()
    inline_dir.mkdir()
    started: list[int | None] = []
    real_start = forked.start

    def spy(*args: Any, **kwargs: Any) -> forked.Job:
        job = real_start(*args, **kwargs)
        started.append(job.pid)
        return job

    monkeypatch.setattr(forked, "start", spy)
    first = report.write_outputs(findings, forked_dir, "en", first=(lambda: Path("x"),))
    monkeypatch.setenv(forked.ENV, "0")
    report.write_outputs(findings, inline_dir, "zh")
    report.write_outputs(findings, inline_dir, "en")
    assert started[0] is not None and started[1:] == [None, None]  # forked, then not
    assert first == [Path("x"), forked_dir / "report.html", forked_dir / "iocs.csv", forked_dir / "sessions.csv",
                     forked_dir / "subnets.csv"]
    assert _files(forked_dir) == _files(inline_dir)


def test_the_childs_error_is_raised_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: None) -> None:
    def broken(*_: Any) -> Path:
        raise UnreadableInputError("report.html: cannot write (disk full)")

    monkeypatch.setattr(report, "write_report_html", broken)
    with pytest.raises(UnreadableInputError, match="disk full"):
        report.write_outputs(_findings(), tmp_path)
    assert (tmp_path / "iocs.csv").is_file()  # the others were written meanwhile


@pytest.mark.parametrize("how", ["killed", "unpicklable", "exit"])
def test_a_child_that_dies_or_cannot_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: None,
                                             how: str) -> None:
    class Odd(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("no")

    def dies(*_: Any) -> Path:
        if how == "killed" and os.getpid() != PARENT:
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "exit" and os.getpid() != PARENT:
            os._exit(7)
        raise Odd("odd failure")

    monkeypatch.setattr(report, "write_report_html", dies)
    expected = {"killed": "killed by signal 9", "unpicklable": "Odd: odd failure", "exit": "exit status 7"}[how]
    with pytest.raises(MinesweepError, match=expected):
        report.write_outputs(_findings(), tmp_path)


def test_the_parents_error_wins_and_the_child_is_reaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        forks: None) -> None:
    def fails() -> Path:
        raise OSError(28, "No space left on device")

    children: list[int] = []
    real_start = forked.start

    def spy(*args: Any, **kwargs: Any) -> forked.Job:
        job = real_start(*args, **kwargs)
        children.append(job.pid or 0)
        return job

    monkeypatch.setattr(forked, "start", spy)
    with pytest.raises(OSError, match="No space"):
        report.write_outputs(_findings(), tmp_path, first=(fails,))
    assert children[0] > 0
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0], os.WNOHANG)  # already reaped


def test_no_fork_with_other_threads_or_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forked.ENV, raising=False)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.enabled()
        job = forked.start(lambda: "here", what="x", result="there")
        assert job.pid is None and job.wait() == "here"  # called in this process
    finally:
        stop.set()
        other.join()
    monkeypatch.setenv(forked.ENV, "off")
    assert not forked.enabled()
