"""Follow log files as a sensor writes them, across rotation, resumable from a checkpoint.

``Follower(paths_or_globs, checkpoint_path)`` yields ``FollowedLine(file_id, line, position)`` for
every complete line (without its ``\\n``) of the files the globs match, in file order:

* a partial last line waits until its newline arrives;
* rotation by rename: the old inode is read to its end (through the descriptor we hold, even if
  it was renamed out of the globs or deleted) before the new file;
* copy-truncate: a file whose size drops below what was read (or whose first KiB changes) is read
  again from 0; the copy, if the globs match it, is read only past what had been read;
* a rotated file gzipped later (``conn.log`` -> ``conn.…log.gz``): the ``.gz`` is recognised by
  the hash of its first KiB of content and read only past what had been read (nothing, usually);
* a new file matching a glob is picked up at the next poll.

A file's identity is ``(st_dev, st_ino)`` (the ``file_id`` "dev:ino") plus the SHA-256 of its
first KiB, which tells a reused inode from the file that had it. ``position`` is the byte offset
of the line's start (in the decompressed stream for ``.gz``).

Checkpoint: ``commit()`` atomically replaces a JSON file (temp file, fsync, ``os.replace``)
holding, per identity, the offset just past the last line the consumer has received. Call it
after the lines received so far have been processed: a restart resumes there, so a record is
neither lost nor counted twice. Lines received after the last ``commit()`` are delivered again
after a restart.

Memory is bounded: lines longer than ``max_line`` are read through to their newline without
being kept and counted (``stats.skipped["too_long"]``); each poll reads at most
``max_batch_bytes``.

Limits: recognising a copy or a ``.gz`` by content needs distinctive first bytes (true of Zeek
headers, which carry ``#open``, and of timestamped EVE lines) and the original's identity to be
still open or among the last ``MAX_KNOWN`` remembered; with copy-truncate and a glob that misses
the copy, lines written between the last poll and the copy exist only in the copy and are not
seen. A Zeek TSV file resumed mid-file needs its header: ``ZeekLineParser.load_header(path)``.

Iterating a ``Follower`` polls forever, sleeping ``poll_interval`` between empty polls;
``stop()`` (or SIGTERM/SIGINT once ``install_stop_handlers`` was called) makes the iterator
return after the current batch. ``clock`` and ``sleep`` are injectable for deterministic tests.

Public API
    Follower(paths_or_globs, checkpoint_path, *, clock=time.monotonic, sleep=time.sleep,
             poll_interval=1.0, max_line=MAX_LINE, max_batch_bytes=8 MiB, detach_grace=10.0,
             idle_close=60.0)
        iter(follower) -> Iterator[FollowedLine];  poll() -> list[FollowedLine]
        commit();  stop();  stopped;  following;  path_of(file_id);  close();  stats
    install_stop_handlers(follower, signals=(SIGTERM, SIGINT)) -> restore()
    FollowedLine(file_id, line, position)
    write_checkpoint(path, text)     atomic, durable replacement of a checkpoint file
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import json
import os
import signal
import time
import zlib
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

from detector.errors import InputError
from detector.sensors import GZIP_MAGIC, MAX_LINE, ReadStats

__all__ = ["FollowedLine", "Follower", "install_stop_handlers", "write_checkpoint"]

HEAD_BYTES = 1024  #: identity hash covers the first KiB of content
MAX_KNOWN = 1024  #: identities remembered for files no longer open (rotated, gzipped, idle)
CHECKPOINT_VERSION = 1
_DRAIN_CHUNK = 64 << 10


class FollowedLine(NamedTuple):
    """One complete line of a followed file."""

    file_id: str  #: "st_dev:st_ino" of the file the line was read from
    line: bytes  #: without the trailing newline
    position: int  #: offset of the line's first byte (decompressed offset for .gz)


class _File:
    """One identity: an open file being followed, or a remembered one (``fh`` is None)."""

    __slots__ = ("key", "path", "gzip", "raw", "fh", "offset", "acked", "head", "head_len",
                 "size", "skipping", "scan", "done", "retry_size", "detached_since",
                 "last_growth", "seq", "successor")  # fmt: skip

    def __init__(self, key: str, path: str, *, gz: bool = False, offset: int = 0) -> None:
        self.key = key
        self.path = path
        self.gzip = gz
        self.raw: IO[bytes] | None = None  #: the descriptor we hold (survives rename/delete)
        self.fh: IO[bytes] | None = None  #: raw, or a GzipFile over it
        self.offset = offset  #: start of the next line not yet read
        self.acked = offset  #: end of the last line handed to the consumer (checkpointed)
        self.head = ""  #: sha256 hex of the first head_len bytes of content
        self.head_len = 0
        self.size = -1  #: st_size when last looked at (compressed size for .gz)
        self.skipping = False  #: inside an over-long line
        self.scan = 0  #: where the over-long line's skip has reached
        self.done = False  #: .gz read to its end
        self.retry_size = -1  #: .gz truncated at this size: retry once it changes
        self.detached_since: float | None = None  #: no longer reachable through the globs
        self.last_growth = 0.0
        self.seq = 0
        self.successor: _File | None = None  #: the identity that took over this one's content

    def complete(self) -> bool:
        """Whether the consumer has received everything the file held at ``size``."""
        if self.gzip:
            return self.done and self.acked >= self.offset
        return 0 <= self.size <= self.acked

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.acked, "head": self.head, "head_len": self.head_len,
                "path": self.path, "gzip": self.gzip, "size": self.size,
                "done": self.done and self.acked >= self.offset}  # fmt: skip

    @classmethod
    def from_json(cls, key: str, d: dict[str, Any]) -> _File:
        f = cls(key, str(d["path"]), gz=bool(d["gzip"]), offset=int(d["offset"]))
        f.head, f.head_len, f.size = str(d["head"]), int(d["head_len"]), int(d["size"])
        f.done = bool(d["done"])
        if f.offset < 0 or not 0 <= f.head_len <= HEAD_BYTES:
            raise ValueError("offset or head_len out of range")
        return f


def write_checkpoint(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably (a reader sees the old file or the
    new one, never half of one, and a crash right after keeps the new one); InputError if not."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"{path}: cannot write checkpoint: {e.strerror or e}") from None
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _ack(f: _File, end: int) -> None:
    """The consumer received the line of ``f`` ending at ``end``."""
    f.acked = end
    while f.successor is not None:
        f = f.successor
        f.acked = max(f.acked, end)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _starts_with(head: bytes, f: _File) -> bool:
    """Whether content beginning with ``head`` begins like ``f`` did (its first head_len bytes)."""
    return bool(f.head_len) and len(head) >= f.head_len and _sha(head[: f.head_len]) == f.head


def _read_head(path: str, gz: bool, n: int = HEAD_BYTES) -> bytes | None:
    """First ``n`` bytes of content; None if unreadable or (gzip) still being written."""
    try:
        if gz:
            with gzip.open(path, "rb") as g:
                return g.read(n)
        with open(path, "rb") as f:
            return f.read(n)
    except EOFError:  # gzip stream shorter than n and not finished
        return None
    except (OSError, zlib.error):
        return None


class Follower:
    """Tail files matching ``paths_or_globs``; see the module docstring."""

    def __init__(
        self,
        paths_or_globs: str | Iterable[str],
        checkpoint_path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 1.0,
        max_line: int = MAX_LINE,
        max_batch_bytes: int = 8 << 20,
        detach_grace: float = 10.0,
        idle_close: float = 60.0,
    ) -> None:
        patterns = [paths_or_globs] if isinstance(paths_or_globs, str) else list(paths_or_globs)
        self.patterns = [os.fspath(p) for p in patterns]
        self.checkpoint_path = Path(checkpoint_path)
        self._clock = clock
        self._sleep = sleep
        self.poll_interval = poll_interval
        self.max_line = max_line
        self.max_batch_bytes = max_batch_bytes
        self.detach_grace = detach_grace
        self.idle_close = idle_close
        self.stats = ReadStats("follow:" + ",".join(self.patterns), format="follow")
        self._stopped = False
        self._seq = 0
        self._open: dict[str, _File] = {}
        self._replaced: set[str] = set()  #: keys found rewritten while closed, this poll
        self._unreadable: set[str] = set()  #: keys already warned about
        self._known: dict[str, _File] = self._load_checkpoint()

    # -- public

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Ask the iterator to return after the current batch (safe from a signal handler)."""
        self._stopped = True

    @property
    def following(self) -> tuple[str, ...]:
        """file_ids of the files currently held open."""
        return tuple(self._open)

    def path_of(self, file_id: str) -> str | None:
        """The last path a followed file was seen at."""
        f = self._open.get(file_id) or self._known.get(file_id)
        return f.path if f else None

    def __iter__(self) -> Generator[FollowedLine, None, None]:
        while not self._stopped:
            batch = self._poll()
            handed = 0
            try:
                for line, end, f in batch:
                    _ack(f, end)
                    handed += 1
                    yield line
            finally:
                if handed < len(batch):  # the consumer left mid-batch: read the rest again
                    self._rewind(batch[handed:])
            self._settle(batch)
            if self._stopped:
                return
            if not batch:
                self._sleep(self.poll_interval)

    def poll(self) -> list[FollowedLine]:
        """One poll without sleeping; the lines returned count as received (for ``commit``)."""
        batch = self._poll()
        for _, end, f in batch:
            _ack(f, end)
        self._settle(batch)
        return [line for line, _, _ in batch]

    def commit(self) -> None:
        """Atomically record what the consumer has received so far."""
        files = {k: f.to_json() for k, f in self._known.items()}
        files.update({k: f.to_json() for k, f in self._open.items()})
        write_checkpoint(self.checkpoint_path, json.dumps({"version": CHECKPOINT_VERSION, "files": files},
                                                          sort_keys=True))

    def close(self) -> None:
        """Close every descriptor (without committing)."""
        for f in self._open.values():
            self._close_fh(f)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoint

    def _load_checkpoint(self) -> dict[str, _File]:
        cp = self.checkpoint_path
        try:
            text = cp.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{cp}: cannot read checkpoint: {e}") from None
        try:
            doc = json.loads(text)
            if doc.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            return {str(k): _File.from_json(str(k), v) for k, v in doc["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(
                f"{cp}: corrupt checkpoint ({e}); remove it to start over from the beginning"
            ) from None

    # -- polling

    def _note(self, reason: str, message: str) -> None:
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + 1
        self.stats.warn(message)

    def _discover(self) -> dict[str, tuple[str, os.stat_result]]:
        found: dict[str, tuple[str, os.stat_result]] = {}
        cp = self.checkpoint_path
        for pattern in self.patterns:
            for path in sorted(glob.glob(pattern)):
                name = os.path.basename(path)
                ours = name == cp.name or name.startswith(f".{cp.name}.")
                if ours and os.path.dirname(os.path.abspath(path)) == os.path.abspath(cp.parent):
                    continue  # never follow our own checkpoint
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # vanished between glob and stat
                if os.path.isfile(path):
                    found.setdefault(f"{st.st_dev}:{st.st_ino}", (path, st))
        return found

    def _poll(self) -> list[tuple[FollowedLine, int, _File]]:
        now = self._clock()
        found = self._discover()
        out: list[tuple[FollowedLine, int, _File]] = []
        budget = [self.max_batch_bytes]
        truncated: list[_File] = []
        for f in sorted(self._open.values(), key=lambda x: x.seq):
            seen = found.get(f.key)
            if seen is not None:
                f.path, f.detached_since = seen[0], None
            elif f.detached_since is None:
                f.detached_since = now
                self._note("detached", f"{f.path}: renamed away or deleted; reading to its end")
            if not f.gzip and self._check_plain(f):
                truncated.append(f)  # its copy, if any, holds older lines: read that first
                continue
            at_eof = self._read(f, out, budget, now)
            self._maybe_close(f, out, now, at_eof)
        fresh = [(k, p, st) for k, (p, st) in found.items() if k not in self._open]
        fresh.sort(key=lambda x: (x[0] not in self._known, x[2].st_mtime_ns, x[1]))
        adopted: list[_File] = []
        for key, path, st in fresh:
            new = self._adopt(key, path, st, now)
            if new is not None:
                (truncated if new.key in self._replaced else adopted).append(new)
        self._replaced.clear()
        for f in adopted + truncated:
            at_eof = self._read(f, out, budget, now)
            self._maybe_close(f, out, now, at_eof)
        return out

    def _rewind(self, pending: list[tuple[FollowedLine, int, _File]]) -> None:
        for line, _, f in pending:
            while f.successor is not None:  # the content is now read through another file
                f = f.successor
            if line.position < f.offset:
                f.offset, f.skipping, f.done = line.position, False, False

    def _settle(self, batch: list[tuple[FollowedLine, int, _File]]) -> None:
        """After a whole batch was received, skipped lines count as received too."""
        for f in list(self._open.values()) + list(self._known.values()):
            if not f.skipping:
                f.acked = max(f.acked, f.offset)

    # -- identity

    def _adopt(self, key: str, path: str, st: os.stat_result, now: float) -> _File | None:
        known = self._known.get(key)
        if known is not None and known.size == st.st_size and known.complete():
            return None  # fully received and unchanged since: nothing to open
        gz = path.endswith(".gz") or self._has_gzip_magic(path)
        head = _read_head(path, gz)
        f = _File(key, path, gz=gz)
        if head is None or not self._open_fh(f):
            if not gz and key not in self._unreadable:  # a .gz may be still being written
                self._unreadable.add(key)
                self._note("unreadable", f"{path}: cannot read; will retry")
            return None
        self._unreadable.discard(key)
        if known is not None:
            del self._known[key]
            if not known.head_len or _sha(head[: known.head_len]) == known.head:
                f.offset, f.acked = known.offset, known.acked
                known.successor = f
            else:
                self._note(
                    "inode_reused",
                    f"{path}: inode {key} holds other content now "
                    "(a reused inode, or the file was truncated); reading from 0",
                )
                self._remember_generation(known)  # a copy made by copy-truncate resumes it
                self._replaced.add(key)
        else:
            donor = self._content_match(head, f)
            if donor is not None:
                f.offset, f.acked = donor.offset, min(donor.acked, donor.offset)
                self._note("content_match", f"{path}: same content as {donor.path}; "
                           f"continuing at offset {donor.offset}")  # fmt: skip
        f.head, f.head_len = _sha(head), len(head)
        self._seq += 1
        f.seq, f.size, f.last_growth = self._seq, st.st_size, now
        self._open[key] = f
        return f

    def _content_match(self, head: bytes, heir: _File) -> _File | None:
        """A remembered (preferred) or open identity whose first KiB is ``head``'s start.

        A remembered one, or an open one no longer reachable (rotated, gzipped, then deleted),
        hands its content over to ``heir``; an open reachable one (a copy of a live file) stays.
        """
        for key, cand in list(self._known.items()):
            if _starts_with(head, cand):
                del self._known[key]
                cand.successor = heir
                return cand
        for cand in list(self._open.values()):
            if _starts_with(head, cand):
                if cand.detached_since is not None:
                    self._close_fh(cand)
                    del self._open[cand.key]
                    cand.successor = heir
                return cand
        return None

    @staticmethod
    def _has_gzip_magic(path: str) -> bool:
        try:
            with open(path, "rb") as fh:
                return fh.read(2) == GZIP_MAGIC
        except OSError:
            return False

    def _open_fh(self, f: _File) -> bool:
        try:
            f.raw = open(f.path, "rb")  # noqa: SIM115 - held across polls, closed in _close_fh
        except OSError as e:
            self._note("unreadable", f"{f.path}: cannot open: {e.strerror or e}")
            return False
        f.fh = gzip.GzipFile(fileobj=f.raw, mode="rb") if f.gzip else f.raw  # type: ignore[assignment]
        return True

    def _close_fh(self, f: _File) -> None:
        for h in (f.fh, f.raw):
            if h is not None:
                with contextlib.suppress(OSError):
                    h.close()
        f.fh = f.raw = None

    def _check_plain(self, f: _File) -> bool:
        """Detect copy-truncate / rewriting (True: reading restarts at 0); extend the identity
        hash as the file grows."""
        assert f.raw is not None
        try:
            size = os.fstat(f.raw.fileno()).st_size
            head = os.pread(f.raw.fileno(), HEAD_BYTES, 0)
        except OSError:
            return False
        same = not f.head_len or (len(head) >= f.head_len and _sha(head[: f.head_len]) == f.head)
        restart = size < max(f.offset, f.scan if f.skipping else 0) or not same
        if restart:
            self._note("truncated", f"{f.path}: truncated or rewritten; reading again from 0")
            self._remember_generation(f)
            f.offset = f.acked = f.scan = 0
            f.skipping = False
        if len(head) > f.head_len or not same:
            f.head, f.head_len = _sha(head), len(head)
        f.size = size
        return restart

    def _remember_generation(self, f: _File) -> None:
        """Keep the pre-truncation state so that a copy made by copy-truncate can resume it."""
        if not f.head_len:
            return
        g = _File(f"{f.key}#{self._seq}", f.path, offset=f.offset)
        g.acked, g.head, g.head_len, g.size = f.acked, f.head, f.head_len, f.size
        self._seq += 1
        self._remember(g)

    def _remember(self, f: _File) -> None:
        self._known[f.key] = f
        while len(self._known) > MAX_KNOWN:
            del self._known[next(iter(self._known))]

    # -- reading

    def _read(
        self, f: _File, out: list[tuple[FollowedLine, int, _File]], budget: list[int], now: float
    ) -> bool:
        """Append complete lines of ``f`` to ``out``; True when the end of data was reached."""
        if f.fh is None:
            return True
        if f.gzip:
            try:
                size = os.fstat(f.fh.fileno()).st_size
            except OSError:
                return True
            if f.done and size == f.size:
                return True
            if f.retry_size >= 0 or f.done:  # truncated before, or a member was appended
                if size == f.retry_size:
                    return True  # still truncated: wait for the compressor
                self._close_fh(f)
                if not self._open_fh(f):
                    return True
                f.retry_size, f.done = -1, False
            f.size = size
        elif f.done:
            return True
        start = f.offset
        try:
            at_eof = self._read_lines(f, out, budget)
        except EOFError:  # .gz still being written: retry when it grows
            f.retry_size = f.size
            at_eof = True
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            self._note("read_error", f"{f.path}: {e}; file abandoned at offset {f.offset}")
            f.done = True
            at_eof = True
        if f.offset != start or f.skipping:
            f.last_growth = now
        return at_eof

    def _read_lines(
        self, f: _File, out: list[tuple[FollowedLine, int, _File]], budget: list[int]
    ) -> bool:
        fh = f.fh
        assert fh is not None
        pos = f.scan if f.skipping else f.offset
        if fh.tell() != pos:
            fh.seek(pos)
        if f.skipping and not self._drain(f, fh):
            return True
        while budget[0] > 0:
            line = fh.readline(self.max_line + 1)
            if not line:
                f.done = f.gzip  # a .gz stream that ends cleanly is complete
                return True
            if line.endswith(b"\n"):
                end = f.offset + len(line)
                out.append((FollowedLine(f.key, line[:-1], f.offset), end, f))
                f.offset = end
                budget[0] -= len(line)
            elif len(line) <= self.max_line:
                if f.gzip:  # unterminated last line of a finished .gz: final
                    out.append((FollowedLine(f.key, line, f.offset), f.offset + len(line), f))
                    f.offset += len(line)
                    continue
                return True  # partial line: wait for its newline
            else:
                f.skipping, f.scan = True, f.offset + len(line)
                if not self._drain(f, fh):
                    return True
        return False

    def _drain(self, f: _File, fh: IO[bytes]) -> bool:
        """Skip the rest of an over-long line; True once its newline was passed."""
        while True:
            chunk = fh.readline(_DRAIN_CHUNK)
            if not chunk:
                return False
            f.scan += len(chunk)
            if chunk.endswith(b"\n"):
                skipped = f.scan - f.offset
                self._note("too_long", f"{f.path}: {skipped}-byte line at offset {f.offset} "
                           f"skipped (longer than {self.max_line} bytes)")  # fmt: skip
                f.skipping, f.offset = False, f.scan
                return True

    def _maybe_close(
        self, f: _File, out: list[tuple[FollowedLine, int, _File]], now: float, at_eof: bool
    ) -> None:
        if not at_eof or self._open.get(f.key) is not f:
            return
        if f.detached_since is not None:
            if now - max(f.detached_since, f.last_growth) < self.detach_grace:
                return
            self._flush_final(f, out)
        elif f.gzip:
            if not f.done:
                return
        elif f.skipping or f.offset < f.size or now - f.last_growth < self.idle_close:
            return
        self._close_fh(f)
        del self._open[f.key]
        self._remember(f)

    def _flush_final(self, f: _File, out: list[tuple[FollowedLine, int, _File]]) -> None:
        """A detached file can no longer grow: its unterminated last line is final."""
        if f.fh is None or f.gzip or f.skipping:
            if f.skipping:
                self._note("too_long", f"{f.path}: unterminated over-long last line dropped")
            return
        try:
            f.fh.seek(f.offset)
            line = f.fh.readline(self.max_line + 1)
        except OSError:
            return
        if line and not line.endswith(b"\n") and len(line) <= self.max_line:
            out.append((FollowedLine(f.key, line, f.offset), f.offset + len(line), f))
            f.offset += len(line)


def install_stop_handlers(
    follower: Follower, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
) -> Callable[[], None]:
    """Make ``signals`` stop ``follower`` cleanly; returns a function restoring the old handlers.

    Must be called from the main thread (a Python rule for signal handlers).
    """
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: object) -> None:
        follower.stop()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    return restore
