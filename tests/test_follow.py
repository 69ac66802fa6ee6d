"""Follower: complete lines, rotation, copy-truncate, gzip, restarts, huge lines, stop."""

from __future__ import annotations

import gzip
import json
import os
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector.errors import InputError
from detector.sensors.follow import FollowedLine, Follower, install_stop_handlers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ev(n: int) -> str:
    """A distinct, timestamped line, like a sensor's."""
    t = f"{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}"
    return f'{{"timestamp": "2024-01-01T{t}+0000", "n": {n}}}\n'


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def numbers(lines: list[FollowedLine]) -> list[int]:
    return [json.loads(x.line)["n"] for x in lines]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(tmp_path: Path, clock: Clock, pattern: str = "eve.json*", **kw: Any) -> Follower:
    """A Follower whose iterator stops at its first idle sleep (tests never hang)."""
    fo = Follower(
        [str(tmp_path / pattern)],
        tmp_path / "state" / "cp.json",
        clock=clock,
        sleep=lambda s: fo.stop(),
        **kw,
    )
    _made.append(fo)
    return fo


_made: list[Follower] = []


@pytest.fixture(autouse=True)
def close_followers() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()


# --------------------------------------------------------------------------- basics


def test_complete_lines_only(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2)[:10])
    fo = make(tmp_path, clock)
    got = fo.poll()
    st = os.stat(log)
    assert got == [FollowedLine(f"{st.st_dev}:{st.st_ino}", ev(1)[:-1].encode(), 0)]
    assert fo.poll() == []
    append(log, ev(2)[10:] + ev(3))
    got = fo.poll()
    assert numbers(got) == [2, 3] and got[0].position == len(ev(1))
    assert fo.path_of(got[0].file_id) == str(log)


def test_new_file_for_glob(tmp_path: Path, clock: Clock) -> None:
    fo = make(tmp_path, clock, "*.log")
    assert fo.poll() == []
    append(tmp_path / "conn.log", ev(1))
    append(tmp_path / "dns.log", ev(2))
    append(tmp_path / "notes.txt", ev(3))
    assert sorted(numbers(fo.poll())) == [1, 2]


def test_rotation_by_rename_reads_old_inode_to_its_end_first(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock, "eve.json")  # the rotated name is outside the glob
    assert numbers(fo.poll()) == [1]
    os.rename(log, tmp_path / "eve.json.1")
    append(tmp_path / "eve.json.1", ev(2))  # the writer finishes its old file
    append(log, ev(3))
    assert numbers(fo.poll()) == [2, 3]
    append(tmp_path / "eve.json.1", ev(4))  # late write after rotation, within the grace time
    clock.now += 5
    assert numbers(fo.poll()) == [4]
    assert len(fo.following) == 2
    clock.now += 11
    assert fo.poll() == [] and len(fo.following) == 1
    assert fo.stats.skipped["detached"] == 1


def test_copy_truncate(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2))
    fo = make(tmp_path, clock, "eve.json")
    assert numbers(fo.poll()) == [1, 2]
    append(log, ev(3))  # written, then rotated before the next poll
    (tmp_path / "eve.json.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, ev(4))
    assert numbers(fo.poll()) == [4]  # ev(3) exists only in the copy, which the glob excludes
    assert fo.stats.skipped["truncated"] == 1


def test_copy_truncate_with_copy_in_glob(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2))
    fo = make(tmp_path, clock, "eve.json*")
    assert numbers(fo.poll()) == [1, 2]
    append(log, ev(3))
    (tmp_path / "eve.json.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, ev(4) + ev(5))
    assert numbers(fo.poll()) == [3, 4, 5]  # the copy continues where we were, and first


def test_copy_seen_before_truncation(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock, "eve.json*")
    assert numbers(fo.poll()) == [1]
    append(log, ev(2))
    (tmp_path / "eve.json.1").write_bytes(log.read_bytes())
    assert numbers(fo.poll()) == [2]  # read once, from the original
    os.truncate(log, 0)
    append(log, ev(3))
    assert numbers(fo.poll()) == [3]


def test_rotated_file_gzipped_later_is_not_reread(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1, 2]
    rotated = tmp_path / "eve.json.1"
    os.rename(log, rotated)
    append(rotated, ev(3))  # not yet read when the compressor runs
    append(log, ev(4))
    (tmp_path / "eve.json.1.gz").write_bytes(gzip.compress(rotated.read_bytes()))
    rotated.unlink()
    clock.now += 30
    got = fo.poll()
    assert sorted(numbers(got)) == [3, 4]
    clock.now += 30
    assert fo.poll() == []
    assert len(fo.following) == 1  # the .gz was read to its end and closed


def test_rotated_unterminated_last_line_read_once(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    rotated = tmp_path / "eve.json.1"
    os.rename(log, rotated)
    append(rotated, ev(2)[:-1])  # the writer died mid-line
    assert fo.poll() == []
    (tmp_path / "eve.json.1.gz").write_bytes(gzip.compress(rotated.read_bytes()))
    rotated.unlink()
    got = []
    for _ in range(3):
        clock.now += 30
        got += fo.poll()
    assert numbers(got) == [2] and fo.following == ()


def test_idle_file_is_closed_then_reopened_when_it_grows(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    clock.now += 61
    assert fo.poll() == [] and fo.following == ()
    assert fo.poll() == []
    append(log, ev(2))
    assert numbers(fo.poll()) == [2] and len(fo.following) == 1


def test_copy_truncate_of_idle_file(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    clock.now += 61
    assert fo.poll() == [] and fo.following == ()
    append(log, ev(2))
    (tmp_path / "eve.json.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, ev(3) + ev(4))
    assert numbers(fo.poll()) == [2, 3, 4]


def test_restart_after_rotation(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    fo.commit()
    fo.close()
    os.rename(log, tmp_path / "eve.json.1")
    append(tmp_path / "eve.json.1", ev(2))
    append(log, ev(3))
    fo2 = make(tmp_path, clock)
    assert numbers(fo2.poll()) == [2, 3]


def test_gzip_still_being_written_waits(tmp_path: Path, clock: Clock) -> None:
    data = "".join(ev(n) for n in range(1, 41)).encode()
    whole = gzip.compress(data)
    gz = tmp_path / "eve.json.gz"
    gz.write_bytes(whole[: len(whole) // 2])
    fo = make(tmp_path, clock)
    first = numbers(fo.poll())
    assert first == list(range(1, len(first) + 1))  # only complete lines of the prefix
    assert fo.poll() == []
    gz.write_bytes(whole)
    rest = numbers(fo.poll())
    assert first + rest == list(range(1, 41))


def test_file_deleted_while_followed(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    with open(log, "ab") as writer:
        writer.write(ev(2).encode() + b'{"n": 3}')  # last line unterminated
        log.unlink()
        writer.flush()
        assert numbers(fo.poll()) == [2]
        clock.now += 11
        assert [x.line for x in fo.poll()] == [b'{"n": 3}']  # final: the file cannot grow
    assert fo.following == ()
    append(log, ev(4))  # a new file at the same path
    assert numbers(fo.poll()) == [4]


def test_inode_reuse_detected_by_head_hash(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1, 2]
    fo.commit()
    fo.close()
    with open(log, "r+b") as f:  # same inode, other content (what a reused inode looks like)
        f.write((ev(7) + ev(8) + ev(9)).encode())
    fo2 = make(tmp_path, clock)
    assert numbers(fo2.poll()) == [7, 8, 9]
    assert fo2.stats.skipped["inode_reused"] == 1


def test_rewritten_in_place_while_followed(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1]
    with open(log, "r+b") as f:
        f.write((ev(5) + ev(6)).encode())
    assert numbers(fo.poll()) == [5, 6]


# --------------------------------------------------------------------------- huge lines


def test_huge_line_is_skipped_without_buffering(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + "x" * (8 << 20) + "\n" + ev(2))
    fo = make(tmp_path, clock)
    tracemalloc.start()
    try:
        got = fo.poll()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert numbers(got) == [1, 2]
    assert got[1].position == len(ev(1)) + (8 << 20) + 1
    assert peak < 3 << 20
    assert fo.stats.skipped["too_long"] == 1


def test_huge_line_still_being_written(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + "y" * 5000)
    fo = make(tmp_path, clock, max_line=1000)
    assert numbers(fo.poll()) == [1]
    append(log, "y" * 5000)
    assert fo.poll() == []
    append(log, "\n" + ev(2))
    assert numbers(fo.poll()) == [2]
    assert fo.stats.skipped["too_long"] == 1


def test_line_of_exactly_max_line_is_kept(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", b"a" * 100 + b"\n" + b"b" * 101 + b"\n")
    fo = make(tmp_path, clock, max_line=100)
    assert [x.line for x in fo.poll()] == [b"a" * 100]


def test_batches_are_bounded(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", "".join(ev(n) for n in range(1, 101)))
    fo = make(tmp_path, clock, max_batch_bytes=1000)
    sizes = []
    got: list[int] = []
    while batch := fo.poll():
        sizes.append(len(batch))
        got += numbers(batch)
    assert got == list(range(1, 101))
    assert max(sizes) == 18 and len(sizes) == 6  # 57-byte lines: 1000 bytes -> 18 lines


# --------------------------------------------------------------------------- restarts


def test_restart_without_commit_redelivers(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1) + ev(2))
    fo = make(tmp_path, clock)
    assert numbers(fo.poll()) == [1, 2]
    fo.commit()
    append(log, ev(3))
    assert numbers(fo.poll()) == [3]
    fo.close()  # killed before commit
    fo2 = make(tmp_path, clock)
    assert numbers(fo2.poll()) == [3]


def test_consumer_leaving_mid_batch(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", "".join(ev(n) for n in range(1, 6)))
    fo = make(tmp_path, clock)
    it = fo.__iter__()  # a generator: closed below, as a consumer leaving would
    assert [json.loads(next(it).line)["n"] for _ in range(2)] == [1, 2]
    it.close()
    fo.commit()
    assert numbers(list(_take(fo, 3))) == [3, 4, 5]  # same process: nothing lost
    fo.close()
    fo2 = make(tmp_path, clock)
    assert numbers(fo2.poll()) == [3, 4, 5]  # restart: resumes after what was committed


def test_commit_per_line_then_crash_mid_batch(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", ev(1) + ev(2) + ev(3))
    fo = make(tmp_path, clock)
    it = fo.__iter__()
    assert json.loads(next(it).line)["n"] == 1
    fo.commit()  # the consumer commits each line; it dies while handling line 2
    assert json.loads(next(it).line)["n"] == 2
    fo2 = make(tmp_path, clock)  # `it` is never closed: no clean-up ran
    assert numbers(fo2.poll()) == [2, 3]
    it.close()


def _take(fo: Follower, n: int) -> list[FollowedLine]:
    out = []
    for line in fo:
        out.append(line)
        if len(out) == n:
            break
    return out


def test_no_loss_no_duplicates_across_restarts_and_rotations(tmp_path: Path, clock: Clock) -> None:
    """A writer appends, rotates (rename, gzip later, copy-truncate); the reader is killed and
    restarted, sometimes after committing; what was committed is every line exactly once."""
    log = tmp_path / "eve.json"
    committed: list[int] = []
    n = 0

    def write(k: int) -> None:
        nonlocal n
        for _ in range(k):
            n += 1
            append(log, ev(n))

    fo = make(tmp_path, clock)
    pending: list[int] = []
    steps = [
        ("write", 3), ("read", 0), ("commit", 0), ("write", 2), ("read", 0), ("kill", 0),
        ("read", 0), ("commit", 0), ("write", 2), ("rename", 1), ("write", 2), ("read", 0),
        ("commit", 0), ("write", 1), ("gzip", 1), ("read", 0), ("kill", 0), ("read", 0),
        ("commit", 0), ("write", 2), ("copytruncate", 2), ("write", 1), ("read", 0),
        ("commit", 0), ("write", 3), ("read", 0), ("commit", 0), ("kill", 0), ("read", 0),
        ("commit", 0),
    ]  # fmt: skip
    for action, arg in steps:
        clock.now += 20
        if action == "write":
            write(arg)
        elif action == "read":
            pending += numbers(fo.poll())
        elif action == "commit":
            fo.commit()
            committed += pending
            pending = []
        elif action == "kill":
            fo.close()
            pending = []
            fo = make(tmp_path, clock)
        elif action == "rename":
            os.rename(log, tmp_path / f"eve.json.{arg}")
        elif action == "gzip":
            src = tmp_path / f"eve.json.{arg}"
            (tmp_path / f"eve.json.{arg}.gz").write_bytes(gzip.compress(src.read_bytes()))
            src.unlink()
        elif action == "copytruncate":
            (tmp_path / f"eve.json.{arg}").write_bytes(log.read_bytes())
            os.truncate(log, 0)
    assert committed == list(range(1, n + 1))


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_is_atomic_json(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", ev(1))
    fo = make(tmp_path, clock)
    fo.poll()
    fo.commit()
    state = tmp_path / "state"
    assert [p.name for p in state.iterdir()] == ["cp.json"]
    doc = json.loads((state / "cp.json").read_text())
    ((key, entry),) = doc["files"].items()
    st = os.stat(tmp_path / "eve.json")
    assert key == f"{st.st_dev}:{st.st_ino}" and entry["offset"] == len(ev(1))
    assert entry["head_len"] == len(ev(1)) and len(entry["head"]) == 64


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"version": 9, "files": {}}',
        '{"version": 1, "files": {"1:2": {"offset": "x"}}}',
    ],
)
def test_corrupt_checkpoint(tmp_path: Path, clock: Clock, text: str) -> None:
    (tmp_path / "state" / "cp.json").write_text(text)
    with pytest.raises(InputError, match="corrupt checkpoint"):
        make(tmp_path, clock)


def test_checkpoint_never_followed(tmp_path: Path, clock: Clock) -> None:
    fo = Follower([str(tmp_path / "*")], tmp_path / "cp.json", clock=clock)
    _made.append(fo)
    append(tmp_path / "x.log", ev(1))
    fo.poll()
    fo.commit()
    assert numbers(fo.poll()) == []


# --------------------------------------------------------------------------- stopping


def test_stop_during_a_batch_returns_after_it(tmp_path: Path, clock: Clock) -> None:
    append(tmp_path / "eve.json", ev(1) + ev(2))
    fo = make(tmp_path, clock)
    got = []
    for line in fo:
        got.append(line)
        fo.stop()  # the batch (1, 2) is still delivered, then the iterator returns
    assert numbers(got) == [1, 2]


def test_idle_polls_sleep_until_stopped(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "eve.json"
    append(log, ev(1))
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock.now += s
        if len(sleeps) == 2:
            append(log, ev(2))
        if len(sleeps) == 4:
            fo.stop()

    fo = Follower([str(log)], tmp_path / "cp.json", clock=clock, sleep=sleep, poll_interval=0.5)
    _made.append(fo)
    got = []
    for line in fo:
        got.append((line, len(sleeps)))
    assert [(json.loads(x.line)["n"], n) for x, n in got] == [(1, 0), (2, 2)]
    assert sleeps == [0.5] * 4


def test_signal_handlers_stop_cleanly(tmp_path: Path, clock: Clock) -> None:
    fo = make(tmp_path, clock)
    before = signal.getsignal(signal.SIGTERM)
    restore = install_stop_handlers(fo)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert fo.stopped
        assert list(fo) == []
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before
