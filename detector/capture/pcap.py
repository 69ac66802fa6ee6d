"""The byte stream under both capture formats, and the classic libpcap record reader.

Three things live here because both container formats need them:

``Stream``
    Reads the stored file in large blocks (``READ_SIZE``), hashes every stored byte with SHA-256
    as it goes, and inflates gzip members on the fly with ``zlib`` (output bounded per call, so a
    gzip bomb never holds more than one block in memory). The record readers work directly on
    ``Stream.buf`` (a ``bytes`` object) at ``Stream.pos`` with precompiled ``struct`` layouts and
    ask for ``more(n)`` bytes when a record straddles the end of the block.
``Warnings``
    The bounded warning list of one capture: ``"offset N: what happened"`` strings, at most
    ``MAX_WARNINGS`` of them and then one ``"... N more warnings"`` line.
``read_pcap``
    The classic pcap record loop (both byte orders, micro- and nanosecond magic, and the
    "modified" Kuznetzov variant with 24-byte record headers), yielding ``Packet`` records.

Formats: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html (file header and record
header layout, magic numbers 0xA1B2C3D4 / 0xA1B23C4D, LinkType in the low 16 bits of the last
header field). Gzip: RFC 1952 (members may be concatenated).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from detector.capture.link import LinkTable
from detector.capture.model import CaptureInfo, Packet

READ_SIZE = 1 << 20  #: bytes read from the stored file per call
INFLATE_CHUNK = 1 << 20  #: most uncompressed bytes produced per zlib call
MAX_CAPLEN = 256 * 1024  #: captured length above this is treated as a corrupt record
MAX_WARNINGS = 100

GZIP_MAGIC = b"\x1f\x8b"

#: first four stored bytes -> (byte order, divisor of the fraction, record header size, format)
PCAP_MAGICS: dict[bytes, tuple[str, int, int, str]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000, 16, "pcap"),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000, 16, "pcap"),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000, 16, "pcap-ns"),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000, 16, "pcap-ns"),
    # "modified" pcap (Alexey Kuznetzov's patches): 8 more bytes per record header
    b"\x34\xcd\xb2\xa1": ("<", 1_000_000, 24, "pcap"),
    b"\xa1\xb2\xcd\x34": (">", 1_000_000, 24, "pcap"),
}

_FILE_HDR = {bo: struct.Struct(bo + "IHHiIII") for bo in "<>"}  # magic, ver, zone, sigfigs, snap, net
_REC_HDR = {bo: struct.Struct(bo + "IIII") for bo in "<>"}  # ts_sec, ts_frac, caplen, origlen
FILE_HDR_LEN = 24


class Warnings:
    """Bounded list of warning strings, written into ``CaptureInfo.warnings``."""

    __slots__ = ("_out", "_limit", "dropped")

    def __init__(self, out: list[str], limit: int = MAX_WARNINGS) -> None:
        self._out = out
        self._limit = limit
        self.dropped = 0

    def add(self, offset: int | None, message: str) -> None:
        """Record one warning; ``offset`` is the uncompressed byte offset it concerns, if any."""
        if len(self._out) >= self._limit:
            self.dropped += 1
            return
        self._out.append(message if offset is None else f"offset {offset}: {message}")

    def close(self) -> None:
        """Append the "N more warnings" line if any were dropped (once)."""
        if self.dropped:
            self._out.append(f"... {self.dropped} more warnings not shown")
            self.dropped = 0


class Stream:
    """Buffered, hashed, optionally gzip-inflated reader over one stored file.

    ``buf[pos:]`` holds unread uncompressed bytes; ``base`` is the offset of ``buf[0]`` in the
    uncompressed stream, so ``base + pos`` is the offset reported in warnings. Damage in the
    gzip layer or a read error ends the stream early with a warning; it never raises.
    """

    __slots__ = (
        "buf", "pos", "base", "gzip", "head", "failed", "stored",
        "_file", "_sha", "_warn", "_inflate", "_tail", "_raw_eof", "_ended", "_produced",
    )

    def __init__(self, fileobj: BinaryIO, warn: Warnings) -> None:
        self._file = fileobj
        self._sha = hashlib.sha256()
        self._warn = warn
        self.stored = 0  #: stored bytes read (and hashed) so far
        self._raw_eof = False
        self._ended = False
        self.failed = False  #: True when the stream ended on damage rather than a clean EOF
        self._produced = 0  #: uncompressed bytes handed out so far
        self._inflate: zlib._Decompress | None = None
        self._tail = b""
        self.buf = b""
        self.pos = 0
        self.base = 0
        first = self._read_raw()
        self.head = first[:8]  #: first stored bytes, for error messages
        self.gzip = first[:2] == GZIP_MAGIC
        if self.gzip:
            self._tail = first
        else:
            self.buf = first
            self._produced = len(first)

    # -- raw layer ---------------------------------------------------------------------------
    def _read_raw(self) -> bytes:
        if self._raw_eof:
            return b""
        try:
            data = self._file.read(READ_SIZE)
        except OSError as exc:
            self._raw_eof = True
            self._fail(f"read error: {exc.strerror or exc}")
            return b""
        if data:
            self._sha.update(data)
            self.stored += len(data)
        else:
            self._raw_eof = True
        return data

    def _fail(self, message: str) -> None:
        self._warn.add(self._produced, message)
        self._ended = True
        self.failed = True

    def _next_chunk(self) -> bytes:
        """Return the next block of uncompressed bytes, or b"" at the end (clean or not)."""
        if self._ended:
            return b""
        if not self.gzip:
            data = self._read_raw()
            if not data:
                self._ended = True
            self._produced += len(data)
            return data
        while True:
            if self._inflate is None:  # between gzip members
                if len(self._tail) < 2 and not self._raw_eof:
                    self._tail += self._read_raw()
                    continue
                if not self._tail:
                    self._ended = True
                    return b""
                if self._tail[:2] != GZIP_MAGIC:
                    if not self._tail.strip(b"\0"):  # zero padding after the last member
                        self._tail = b""
                        continue
                    self._fail("trailing data after the gzip stream ignored")
                    return b""
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = self._tail
            if not data:
                data = self._read_raw()
                if not data:
                    if not self.failed:
                        self._fail("gzip stream truncated (compressed data ends early)")
                    return b""
            saved = self._inflate.copy()
            try:
                out = self._inflate.decompress(data, INFLATE_CHUNK)
            except zlib.error as exc:
                # zlib drops the whole call's output on error: replay it in small steps
                out = _salvage(saved, data)
                self._produced += len(out)
                self._fail(f"corrupt gzip data ({exc})")
                return out
            if self._inflate.eof:
                self._tail = self._inflate.unused_data
                self._inflate = None
            else:
                self._tail = self._inflate.unconsumed_tail
            if out:
                self._produced += len(out)
                return out

    # -- what the record readers use -----------------------------------------------------------
    def more(self, n: int) -> bool:
        """Make at least ``n`` unread bytes available in ``buf`` (``pos`` may move to 0)."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        parts = [self.buf[self.pos:]] if avail else []
        self.base += self.pos
        while avail < n:
            chunk = self._next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            avail += len(chunk)
        self.buf = b"".join(parts)
        self.pos = 0
        return avail >= n

    @property
    def available(self) -> int:
        """Unread bytes currently buffered."""
        return len(self.buf) - self.pos

    def finish(self) -> None:
        """Read (and hash) the rest of the stored file without decoding it."""
        while not self._raw_eof:
            self._read_raw()

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def close(self) -> None:
        self._file.close()


SALVAGE_STEP = 256  #: compressed bytes fed per call when replaying a failed inflate


def _salvage(inflate: zlib._Decompress, data: bytes) -> bytes:
    """Inflate ``data`` in small steps up to the first error; at most INFLATE_CHUNK bytes."""
    out: list[bytes] = []
    budget = INFLATE_CHUNK
    for i in range(0, len(data), SALVAGE_STEP):
        before = inflate.copy()
        try:
            piece = inflate.decompress(data[i:i + SALVAGE_STEP], budget)
        except zlib.error:  # replay the failing step byte by byte
            inflate = before
            for j in range(i, min(i + SALVAGE_STEP, len(data))):
                try:
                    piece = inflate.decompress(data[j:j + 1], budget)
                except zlib.error:
                    break
                out.append(piece)
                budget -= len(piece)
                if budget <= 0:
                    break
            break
        out.append(piece)
        budget -= len(piece)
        if budget <= 0 or inflate.unconsumed_tail or inflate.eof:
            break
    return b"".join(out)


def read_pcap(
    stream: Stream, info: CaptureInfo, links: LinkTable, warn: Warnings
) -> Iterator[Packet]:
    """Yield the TCP/UDP packets of a classic pcap file; ``stream`` is at the file header.

    Fills ``info`` (packets, bytes, first/last timestamps, link type) as it goes. A truncated or
    corrupt record ends the loop with one warning naming its offset.
    """
    if not stream.more(FILE_HDR_LEN):
        warn.add(stream.base + stream.pos, "truncated pcap file header")
        return
    order, div, rec_len, _fmt = PCAP_MAGICS[stream.buf[stream.pos:stream.pos + 4]]
    _, _major, _minor, _zone, _sig, snaplen, network = _FILE_HDR[order].unpack_from(
        stream.buf, stream.pos
    )
    stream.pos += FILE_HDR_LEN
    linktype = network & 0xFFFF  # upper bits carry the FCS length flags
    info.linktypes.append(linktype)
    maxcap = snaplen if 0 < snaplen <= MAX_CAPLEN else MAX_CAPLEN
    decode = links.get(linktype)
    unpack = _REC_HDR[order].unpack_from
    fdiv = float(div)
    packets = nbytes = 0
    lo, hi = float("inf"), float("-inf")
    buf, pos, size = stream.buf, stream.pos, len(stream.buf)
    try:
        while True:
            if pos + rec_len > size:
                stream.pos = pos
                info.packets, info.bytes = packets, nbytes
                if lo <= hi:
                    info.first_ts, info.last_ts = lo, hi
                if not stream.more(rec_len):
                    if stream.available:
                        warn.add(stream.base + stream.pos, "truncated record header")
                    break
                buf, pos, size = stream.buf, stream.pos, len(stream.buf)
            sec, frac, caplen, origlen = unpack(buf, pos)
            if caplen > maxcap:
                warn.add(
                    stream.base + pos,
                    f"corrupt record header (captured length {caplen} > {maxcap})",
                )
                break
            end = pos + rec_len + caplen
            if end > size:
                stream.pos = pos
                if not stream.more(rec_len + caplen):
                    warn.add(
                        stream.base + stream.pos,
                        f"truncated record ({stream.available - rec_len} of {caplen} bytes)",
                    )
                    break
                buf, pos, size = stream.buf, stream.pos, len(stream.buf)
                end = pos + rec_len + caplen
            start = pos + rec_len
            pos = end
            ts = sec + frac / fdiv
            packets += 1
            nbytes += origlen
            if ts < lo:
                lo = ts
            if ts > hi:
                hi = ts
            if decode is not None:
                pkt = decode(buf, start, end, ts)
                if pkt is not None:
                    yield pkt
            else:
                links.skipped(linktype, stream.base + start - rec_len)
    finally:
        stream.pos = pos
        info.packets, info.bytes = packets, nbytes
        if lo <= hi:
            info.first_ts, info.last_ts = lo, hi
