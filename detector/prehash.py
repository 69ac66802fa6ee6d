"""SHA-256 of the capture files of a ``scan``, started before the command's imports.

Every capture's SHA-256 goes into the findings (evidence of what was read). The fast path
walks a mapped file while it is hashed, and waits for the digest only when the findings are
written. The ~0.1 s the interpreter spends importing the command leaves the second core idle, so
``start(argv)`` is called by the command line before those imports: for each argument of
``scan`` that is a regular file starting with a plain capture's magic number (pcap, pcapng; a
gzip file is hashed by its inflating reader), a hash of its first ``st_size`` bytes begins.
``take(fd)`` then gives that hash to the reader of the file — only when the open file is the one
hashed, unchanged: same device, inode, size and modification time, taken before the hash began
and again by the reader (a capture still being written, replaced or truncated is hashed again by
the reader, as without this module). ``begin(fd)`` hashes an open file the same way, for a
reader that found nothing begun ahead. ``discard()`` cancels the hashes nobody took (a scan in
worker processes, or by the pure engine, hashes its files itself).

The hash runs in the compiled kernel's ``Hasher`` (a POSIX thread using the SHA-256 of the
libcrypto hashlib loaded, at ``SCHED_IDLE`` where the process may take that back, else held back
by the kernel's walker while it walks with little lead over Python: the walk does not wait for
it), or, where there is none, in a Python thread: pieces of PIECE bytes, read and hashed with
hashlib, which releases the GIL for both. This module lives at the package's top and imports
little, so that the console script reaches ``start`` ~10 ms after the interpreter starts.

Public API: ``start(argv) -> None``, ``take(fd) -> Pending | None``, ``begin(fd) -> Pending``,
``discard() -> None``; ``Pending.digest() -> str | None``, ``Pending.cancel()``,
``Pending.native`` (the kernel's ``Hasher``, or None).
"""

from __future__ import annotations

import atexit
import hashlib  # loads the libcrypto the kernel's Hasher hashes with
import mmap
import os
import stat
import sys
import weakref

# imported by the command line before anything else, so that the hash begins early: typing and
# threading (~4 ms) are left to later imports and to the thread that needs them
TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Any

try:
    from detector import _fastpath
except ImportError:  # not built: hashed in a Python thread
    _fastpath = None  # type: ignore[assignment]

PIECE = 8 << 20  #: bytes read and hashed per step by a Python hashing thread (the memory it holds)
MAX_FILES = 4  #: files hashed ahead at most (the rest are hashed as they are read)
#: the interpreter's switch interval during a scan (default 0.005 s). A Python hashing thread
#: needs the GIL for a moment between pieces; with the default it could wait 5 ms each time for a
#: main thread busy in FlowTable, and the hash would fall behind the walk
SWITCH_INTERVAL = 0.0005
#: first bytes of pcap (both byte orders, micro- and nanosecond) and pcapng files
MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")

_Key = tuple[int, int, int, int]


class Pending:
    """The hash of one file (its first ``key[2]`` bytes, read through ``fd``, which it owns once
    ``start()`` is called): ``digest()`` waits for it (None if it failed)."""

    def __init__(self, fd: int, key: _Key) -> None:
        self.key = key
        self.native: Any = None  #: the kernel's Hasher, when it hashes
        self._fd = fd
        self._digest: str | None = None
        self._cancelled = False
        self._thread: threading.Thread | None = None

    def start(self, native: bool = True) -> Pending:
        if native and _fastpath is not None:
            try:
                self.native = _fastpath.Hasher(self._fd, self.key[2])
            except RuntimeError:  # no libcrypto from hashlib to hash with: a Python thread
                pass
            else:
                _running.add(self)
                return self
        import threading

        # the Python thread needs the GIL between pieces: keep a busy main thread from holding it 5 ms
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._run, args=(self._fd, self.key[2]), name="minesweep-hash",
                                        daemon=True)
        try:
            self._thread.start()
        except BaseException:
            os.close(self._fd)
            raise
        return self

    def digest(self) -> str | None:
        if self.native is not None:
            digest: str | None = self.native.digest()
            return digest
        if self._thread is not None:
            self._thread.join()
        return self._digest

    def cancel(self) -> None:
        """Stop hashing after the piece in hand (the scan failed: nobody will ask for the digest)."""
        self._cancelled = True
        if self.native is not None:
            self.native.cancel()

    def _run(self, fd: int, size: int) -> None:
        try:
            sha = hashlib.sha256()
            # an anonymous mapping, not a bytearray: its pages go back to the system when it is closed
            with mmap.mmap(-1, min(PIECE, max(size, 1))) as buf, memoryview(buf) as view:
                done = 0
                while done < size:
                    if self._cancelled:
                        return
                    n = os.preadv(fd, [view[: min(PIECE, size - done)]], done)
                    if n <= 0:
                        return  # shorter than its size said (the file shrank): no digest
                    sha.update(view[:n])
                    done += n
            self._digest = sha.hexdigest()
        except OSError:
            return
        finally:
            os.close(fd)


_jobs: list[Pending] = []
#: the kernel's hashing threads not yet collected: ended before the interpreter exits (a thread
#: still in libcrypto when the C library's exit handlers free its state could crash the process)
_running: weakref.WeakSet[Pending] = weakref.WeakSet()


@atexit.register
def _end_hashes() -> None:
    for job in list(_running):
        job.cancel()
        job.native.digest()  # at most one piece after the cancel


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def start(argv: list[str]) -> None:
    """Begin hashing the capture files named by a ``scan`` command line (others: nothing)."""
    if not argv or argv[0] != "scan" or _jobs:
        return
    for arg in argv[1:]:
        if len(_jobs) >= MAX_FILES:
            break
        if arg.startswith("-"):
            continue
        try:
            fd = os.open(arg, os.O_RDONLY)
        except (OSError, ValueError):
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not os.pread(fd, 4, 0).startswith(MAGIC):
                os.close(fd)
                continue
        except OSError:
            os.close(fd)
            continue
        _jobs.append(Pending(fd, _key(st)).start())


def begin(fd: int) -> Pending:
    """Start hashing the open regular file ``fd`` (its first ``st_size`` bytes, read through a
    duplicate of ``fd``, so the caller may close its own). Raises OSError."""
    st = os.fstat(fd)
    return Pending(os.dup(fd), _key(st)).start()


def discard() -> None:
    """Cancel and forget the hashes begun ahead that no reader took."""
    while _jobs:
        _jobs.pop().cancel()


def take(fd: int) -> Pending | None:
    """The hash begun ahead for the open file ``fd``, if there is one and the file is unchanged
    since (it may still be running: the reader walks the file meanwhile)."""
    if not _jobs:
        return None
    try:
        key = _key(os.fstat(fd))
    except OSError:
        return None
    for job in _jobs:
        if job.key == key:
            _jobs.remove(job)
            return job
    return None
