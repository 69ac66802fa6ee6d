"""detector.prehash: a scan's captures hashed from the command's start, used only for
the very file hashed, unchanged."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from detector import cli, prehash

PCAPS = Path(__file__).resolve().parents[1] / "pcaps"


@pytest.fixture(autouse=True)
def fresh_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prehash, "_jobs", [])


def _sample(tmp_path: Path) -> Path:
    src = sorted(PCAPS.glob("*.pcap"))[0]
    dst = tmp_path / src.name
    dst.write_bytes(src.read_bytes())
    return dst


def _take(path: Path) -> prehash.Pending | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return prehash.take(fd)
    finally:
        os.close(fd)


def test_hash_ahead_is_the_files_sha256(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    prehash.start(["scan", "--out", str(tmp_path / "out"), str(path)])
    ahead = _take(path)
    assert ahead is not None and ahead.digest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _take(path) is None  # given once


def test_a_file_changed_since_is_not_taken(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    prehash.start(["scan", str(path)])
    with open(path, "ab") as f:
        f.write(b"\x00" * 16)  # still being written: the reader hashes what it maps
    assert _take(path) is None


@pytest.mark.parametrize("what", ["not-a-capture", "directory", "missing", "other-command", "empty", "gzip"])
def test_nothing_is_hashed_for_other_arguments(tmp_path: Path, what: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("GET / HTTP/1.1\r\n")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(b"\xd4\xc3\xb2\xa1" + bytes(20)))  # hashed by its inflating reader
    sample = _sample(tmp_path)
    argv = {"not-a-capture": ["scan", str(text)], "directory": ["scan", str(tmp_path)],
            "missing": ["scan", str(tmp_path / "nope.pcap")], "other-command": ["report", str(sample)],
            "empty": ["scan", str(empty)], "gzip": ["scan", str(gz)]}[what]
    prehash.start(argv)
    assert prehash._jobs == []


def test_at_most_max_files(tmp_path: Path) -> None:
    paths = []
    for i in range(prehash.MAX_FILES + 2):
        p = tmp_path / f"c{i}.pcap"
        p.write_bytes(sorted(PCAPS.glob("*.pcap"))[0].read_bytes())
        paths.append(str(p))
    prehash.start(["scan", *paths])
    assert len(prehash._jobs) == prehash.MAX_FILES
    for job in prehash._jobs:
        job.digest()


def test_scan_command_reports_the_same_sha256(tmp_path: Path) -> None:
    """The whole command (hash ahead) and a file's own bytes agree in findings.json."""
    path = _sample(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["scan", str(path), "--out", str(out), "--quiet"]) == 0
    findings = json.loads((out / "findings.json").read_text())
    assert [i["sha256"] for i in findings["inputs"]] == [hashlib.sha256(path.read_bytes()).hexdigest()]
    assert prehash._jobs == []  # taken by the scan


@pytest.fixture(params=["native", "python"])
def hasher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both hashers: the kernel's Hasher thread, and the Python thread used without one."""
    if request.param == "python":
        monkeypatch.setattr(prehash, "_fastpath", None)
    elif prehash._fastpath is None:
        pytest.skip("detector._fastpath is not built")
    return str(request.param)


@pytest.mark.parametrize("size", [0, 1, 255 << 10, 256 << 10, (256 << 10) + 1, 3_000_017])
def test_begin_hashes_an_open_file_through_its_own_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              hasher: str, size: int) -> None:
    monkeypatch.setattr(prehash, "PIECE", 4096)  # many pieces (Python thread)
    path = tmp_path / "c.pcap"
    path.write_bytes(os.urandom(size))
    fd = os.open(path, os.O_RDONLY)
    job = prehash.begin(fd)
    os.close(fd)  # the hash reads through a duplicate
    assert (job.native is not None) == (hasher == "native")
    assert job.digest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.digest() == hashlib.sha256(path.read_bytes()).hexdigest()  # asked again: the same


def _pending(path: Path, size: int) -> prehash.Pending:
    fd = os.open(path, os.O_RDONLY)
    st = os.fstat(fd)
    return prehash.Pending(fd, (st.st_dev, st.st_ino, size, st.st_mtime_ns))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_cancelled_or_short_hash_has_no_digest(tmp_path: Path, hasher: str) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(600_000))
    before = _open_fds()
    cancelled = _pending(path, 600_004)
    if hasher == "native":  # held at the gate before its first piece, then cancelled
        cancelled.native = prehash._fastpath.Hasher(cancelled._fd, 600_004, held=True)
        cancelled.cancel()
    else:  # cancelled before its first piece
        cancelled.cancel()
        cancelled.start()
    shrunk = _pending(path, 900_000).start()  # the file is shorter than when it was looked at
    assert cancelled.digest() is None and shrunk.digest() is None
    assert _open_fds() == before  # each hash closed the descriptor it owned


def test_held_gate_waits_until_opened(tmp_path: Path) -> None:
    """A kernel's walker holds its Hasher back while both cores are busy; opened, it goes on."""
    if prehash._fastpath is None:
        pytest.skip("detector._fastpath is not built")
    path = tmp_path / "c.pcap"
    path.write_bytes(os.urandom(2_000_000))
    job = _pending(path, 2_000_000).start()
    job.native.hold(True)
    job.native.hold(False)
    assert job.digest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_hasher_arguments() -> None:
    if prehash._fastpath is None:
        pytest.skip("detector._fastpath is not built")
    with pytest.raises(ValueError, match="negative"):
        prehash._fastpath.Hasher(-1, 10)
    with pytest.raises(ValueError, match="negative"):
        prehash._fastpath.Hasher(0, -1)
    unread = prehash._fastpath.Hasher.__new__(prehash._fastpath.Hasher)
    with pytest.raises(RuntimeError, match="not started"):
        unread.digest()
    bad = prehash._fastpath.Hasher(10_000, 5)  # not an open descriptor: no digest
    assert bad.digest() is None


def test_discard_cancels_what_nobody_took(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    prehash.start(["scan", str(path)])
    assert len(prehash._jobs) == 1
    job = prehash._jobs[0]
    prehash.discard()
    assert prehash._jobs == [] and _take(path) is None
    job.digest()  # ended (cancelled or done)


def test_a_scan_without_a_digest_says_so(tmp_path: Path, hasher: str) -> None:
    """CaptureInfo.settle(): the digest of a hash that failed is not invented, the input says why."""
    from detector.capture.model import CaptureInfo

    path = tmp_path / "c.pcap"
    path.write_bytes(bytes(100))
    good, bad = _pending(path, 100).start(), _pending(path, 200).start()
    ok, failed = CaptureInfo(path="a", sha256_later=good), CaptureInfo(path="b", sha256_later=bad)
    ok.settle()
    failed.settle()
    failed.settle()  # settled once
    assert ok.sha256 == hashlib.sha256(bytes(100)).hexdigest() and ok.warnings == []
    assert failed.sha256 == "" and failed.warnings == [
        "no SHA-256: the file changed or could not be read while it was hashed"]
    assert ok.sha256_later is None and failed.sha256_later is None


def test_digest_waiters_and_the_gate_never_lose_a_wakeup(tmp_path: Path) -> None:
    """digest() waiting in one thread while the gate opens and closes in another (the walker's
    rhythm): the hash still ends once the gate is open for good."""
    import threading
    import time

    if prehash._fastpath is None:
        pytest.skip("detector._fastpath is not built")
    path = tmp_path / "c.pcap"
    path.write_bytes(os.urandom(3_000_000))
    for _ in range(4):
        hasher = prehash._fastpath.Hasher(os.open(path, os.O_RDONLY), 3_000_000, held=True)
        got: list[str | None] = []
        waiter = threading.Thread(target=lambda h=hasher, out=got: out.append(h.digest()), daemon=True)
        waiter.start()
        for _ in range(20):
            hasher.hold(False)
            time.sleep(0.0005)
            hasher.hold(True)
            time.sleep(0.002)
        hasher.hold(False)
        waiter.join(20)
        assert got == [hashlib.sha256(path.read_bytes()).hexdigest()]


def test_a_signal_interrupts_a_digest_wait(tmp_path: Path) -> None:
    import signal

    if prehash._fastpath is None or not hasattr(signal, "setitimer"):
        pytest.skip("no kernel, or no interval timer")
    path = tmp_path / "c.pcap"
    path.write_bytes(bytes(1000))
    hasher = prehash._fastpath.Hasher(os.open(path, os.O_RDONLY), 1000, held=True)  # never goes on

    class Alarm(Exception):
        pass

    def ring(*_: object) -> None:
        raise Alarm

    previous = signal.signal(signal.SIGALRM, ring)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Alarm):
            hasher.digest()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        hasher.cancel()
    assert hasher.digest() is None


def test_hashes_still_running_are_ended_at_exit(tmp_path: Path) -> None:
    """A hash begun and never collected (its Pending kept alive) is ended before the interpreter
    exits: the process exits cleanly, every time."""
    import subprocess
    import sys

    path = tmp_path / "big.pcap"
    with open(path, "wb") as f:
        f.truncate(300 << 20)  # sparse: read as zeros, quickly
    code = ("import os, sys; from detector import prehash; fd = os.open(sys.argv[1], os.O_RDONLY); "
            "keep = [prehash.begin(fd)]; sys.modules['keep'] = keep")
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert done.returncode == 0, done.stderr[-2000:]


def _policies() -> dict[int, int]:
    """Scheduling policy of each thread of this process, by thread id."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            out[int(tid)] = os.sched_getscheduler(int(tid))
        except OSError:  # ended meanwhile
            pass
    return out


def _idle_allowed() -> bool:
    """Whether a thread may go to SCHED_IDLE and back here (the kernel's own check, in Python)."""
    import threading

    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return result[0]


def test_the_hash_takes_idle_time_only_until_its_digest_is_waited_for(tmp_path: Path) -> None:
    """Where the process may (CAP_SYS_NICE or RLIMIT_NICE), the Hasher's thread runs at
    SCHED_IDLE — a kernel's walker then leaves its gate open — and whoever waits for the digest
    gives it its normal policy back first; elsewhere it keeps its normal policy and the gate."""
    import threading
    import time

    if prehash._fastpath is None or not hasattr(os, "SCHED_IDLE") or not os.path.isdir("/proc/self/task"):
        pytest.skip("detector._fastpath is not built, or no SCHED_IDLE here")
    allowed = _idle_allowed()
    path = tmp_path / "c.pcap"
    path.write_bytes(os.urandom(3_000_000))
    before = _policies()
    hasher = prehash._fastpath.Hasher(os.open(path, os.O_RDONLY), 3_000_000, held=True)
    deadline = time.monotonic() + 10
    new: dict[int, int] = {}
    while time.monotonic() < deadline and not new:  # the thread exists (held at the gate)
        new = {tid: p for tid, p in _policies().items() if tid not in before}
    assert len(new) == 1
    (tid, policy), = new.items()
    expected = os.SCHED_IDLE if allowed else os.SCHED_OTHER
    while time.monotonic() < deadline and policy != expected:  # (set by the thread as it starts)
        time.sleep(0.001)
        policy = os.sched_getscheduler(tid)
    assert policy == expected
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(hasher.digest()), daemon=True)
    waiter.start()
    while time.monotonic() < deadline and os.sched_getscheduler(tid) != os.SCHED_OTHER:
        time.sleep(0.001)
    assert os.sched_getscheduler(tid) == os.SCHED_OTHER  # waited for: normal again, still held
    assert got == []
    hasher.hold(False)
    waiter.join(20)
    assert got == [hashlib.sha256(path.read_bytes()).hexdigest()]
