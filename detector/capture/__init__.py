"""Capture stage: stream pcap / pcapng files (plain or gzip) into ``Packet`` records.

Public API:

``open_capture(path) -> Capture``
    Opens and sniffs the file. Raises ``UnreadableInputError`` (missing, a directory, no
    permission) or ``CaptureFormatError`` (not a pcap / pcapng capture, plain or gzip) with a
    one-line message naming the file. Everything else is a warning in ``Capture.info``.
``Capture``
    Context manager and (single-pass) iterable of ``Packet``. ``info`` (a ``CaptureInfo``) is
    filled as iteration proceeds and final once it ends: record and byte counts, earliest and
    latest timestamp, link types, bounded warnings, and the SHA-256 / size of the stored file
    (the hash covers the whole file once iteration has run to the end, even if a corrupt record
    stopped decoding early; it stays "" if the iteration was abandoned).
``is_capture_file(path) -> bool``
    Cheap magic-number sniff (looks inside gzip), for walking directories.

Layering: ``pcap`` (byte stream, hashing, gzip, classic pcap records) and ``pcapng`` (blocks)
find the frames; ``link`` strips link headers; ``ip`` decodes IPv4/IPv6, reassembles fragments
and builds the ``Packet`` for TCP and UDP.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from types import TracebackType

from detector.capture.ip import IPDecoder
from detector.capture.link import LinkTable
from detector.capture.model import CaptureInfo, Packet
from detector.capture.pcap import GZIP_MAGIC, PCAP_MAGICS, Stream, Warnings, read_pcap
from detector.capture.pcapng import read_pcapng
from detector.errors import CaptureFormatError, UnreadableInputError

__all__ = ["Capture", "CaptureInfo", "Packet", "is_capture_file", "open_capture"]

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_SNIFF_GZIP_BYTES = 64 * 1024  #: compressed bytes is_capture_file reads to look inside gzip


def _format_of(magic: bytes) -> str | None:
    """"pcap", "pcap-ns" or "pcapng" for the first four uncompressed bytes, else None."""
    if magic == PCAPNG_MAGIC:
        return "pcapng"
    entry = PCAP_MAGICS.get(magic)
    return entry[3] if entry else None


class Capture:
    """One opened capture file; iterate it once for its TCP/UDP ``Packet`` records."""

    def __init__(self, name: str, stream: Stream, kind: str, info: CaptureInfo, warn: Warnings):
        self.info = info
        self._name = name
        self._stream = stream
        self._kind = kind
        self._warn = warn
        self._gen: Iterator[Packet] | None = None
        self._closed = False

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Packet]:
        if self._gen is not None or self._closed:
            raise ValueError(f"{self._name}: a capture can be iterated only once")
        self._gen = self._run()
        return self._gen

    def _run(self) -> Iterator[Packet]:
        ip = IPDecoder()
        links = LinkTable(ip)
        read = read_pcapng if self._kind == "pcapng" else read_pcap
        completed = False
        try:
            yield from read(self._stream, self.info, links, self._warn)
            completed = True
        finally:
            for offset, message in links.summary():
                self._warn.add(offset, message)
            for message in ip.summary():
                self._warn.add(None, message)
            if completed:
                self._stream.finish()
                self.info.sha256 = self._stream.sha256
                self.info.size = self._stream.stored
            self._warn.close()
            self._stream.close()
            self._closed = True

    def close(self) -> None:
        """Stop reading and release the file (idempotent)."""
        if self._gen is not None:
            close = getattr(self._gen, "close", None)
            if close is not None:
                close()
        if not self._closed:
            self._stream.close()
            self._closed = True


def open_capture(path: str | os.PathLike[str]) -> Capture:
    """Open a pcap / pcapng file (plain or gzip) for streaming; see the module docstring."""
    name = os.fspath(path)
    try:
        fileobj = open(name, "rb")  # noqa: SIM115 - owned by the Capture
    except FileNotFoundError:
        raise UnreadableInputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UnreadableInputError(f"{name}: is a directory, not a capture file") from None
    except PermissionError:
        raise UnreadableInputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise UnreadableInputError(f"{name}: cannot open ({exc.strerror or exc})") from None
    info = CaptureInfo(path=name)
    warn = Warnings(info.warnings)
    try:
        info.size = os.fstat(fileobj.fileno()).st_size
        stream = Stream(fileobj, warn)
        stream.more(4)
        magic = stream.buf[stream.pos:stream.pos + 4]
        kind = _format_of(magic)
        if kind is None:
            raise CaptureFormatError(_not_a_capture(name, stream, magic, info))
    except BaseException:
        fileobj.close()
        raise
    info.format = kind + ("+gzip" if stream.gzip else "")
    return Capture(name, stream, kind, info, warn)


def _not_a_capture(name: str, stream: Stream, magic: bytes, info: CaptureInfo) -> str:
    if not stream.head:
        return f"{name}: empty file, not a pcap or pcapng capture"
    if not stream.gzip:
        return f"{name}: not a pcap or pcapng capture (starts with {stream.head.hex()})"
    if stream.failed and len(magic) < 4:
        detail = info.warnings[-1].split(": ", 1)[-1] if info.warnings else "unreadable"
        return f"{name}: gzip data unreadable before any capture data: {detail}"
    inner = stream.buf[stream.pos:stream.pos + 8]
    return f"{name}: gzip-compressed, but not a pcap or pcapng capture (data starts with {inner.hex()})"


def is_capture_file(path: str | os.PathLike[str]) -> bool:
    """True when the file starts like a pcap / pcapng capture (looking inside gzip); never raises."""
    try:
        with open(os.fspath(path), "rb") as fileobj:
            head = fileobj.read(4)
            if head[:2] == GZIP_MAGIC:
                data = head + fileobj.read(_SNIFF_GZIP_BYTES)
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 4)
    except (OSError, zlib.error):
        return False
    return _format_of(head[:4]) is not None
