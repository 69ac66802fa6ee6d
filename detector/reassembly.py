"""TCP byte streams per direction, and framing of those bytes into messages.

``Reassembler`` orders one direction's segments by sequence number: retransmissions and overlaps
are trimmed so that every byte is delivered once (a share is counted once), out-of-order segments
wait in a bounded buffer, and a hole that cannot be filled is delivered as a gap marker (``None``).

``Framer`` cuts the delivered bytes into frames: JSON lines (``\\n`` or ``\\r\\n``) or HTTP/1.x
messages (head + body, Content-Length or chunked, gzip/deflate bodies). Every buffer is bounded:
an over-long line or body is dropped with a warning and the framer resynchronises on the next
line or message.

Public: ``Reassembler`` (``syn``, ``push``, ``flush``), ``Framer`` (``feed``, ``gap``, ``close``),
``HttpHead``, ``seq_after``, ``parse_head``.

Cost per segment is what the scan's critical path pays for every inspected packet, so the common
cases take short paths that give the same frames as the general ones: a segment in order with
nothing waiting; a JSON line ending in the segment; an HTTP head whose Content-Length body is
complete in the same segment (no state is entered); a body continuing over later segments, kept
in a growing ``bytearray`` instead of being copied whole on each segment; a chunk's data taken as
it arrives instead of waiting for the whole chunk in the buffer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

MASK = 0xFFFFFFFF
MAX_OOO_BYTES = 1 << 20  #: out-of-order bytes held per direction before a gap is declared
MAX_OOO_SEGMENTS = 256
MAX_LINE = 1 << 20  #: longest JSON line kept (bytes)
MAX_HEAD = 64 << 10  #: longest HTTP head kept (bytes)
MAX_BODY = 8 << 20  #: longest HTTP body kept, after decompression (bytes)
PEEK_BYTES = 64  #: first body bytes given with an "http-head" frame (magic numbers)
MAX_HEADER_LINES = 200  #: lines of an HTTP head read (start line included)
MAX_NAME = 64  #: longest header name kept (characters)
MAX_VALUE = 1024  #: longest start line or header value kept (characters)
MAX_CHUNK_LINE = 1024  #: longest chunk-size line waited for before the chunking is called malformed
MEMO_LINES = 4096  #: header lines whose parse is remembered (the memo starts over when full)
MEMO_LINE_LEN = 256  #: longest header line remembered (characters)


def _rel(seq: int, base: int) -> int:
    d = (seq - base) & MASK
    return d - (1 << 32) if d & 0x80000000 else d


def seq_after(a: int, b: int) -> bool:
    """True when sequence number ``a`` comes after ``b`` (modulo 2^32, RFC 1982 style)."""
    return _rel(a, b) > 0


class Reassembler:
    """In-order delivery of one TCP direction."""

    __slots__ = ("next_seq", "ooo", "ooo_bytes", "gaps", "gap_bytes")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.ooo: dict[int, bytes] = {}
        self.ooo_bytes = 0
        self.gaps = 0
        self.gap_bytes = 0

    def syn(self, seq: int) -> None:
        if self.next_seq is None:
            self.next_seq = (seq + 1) & MASK

    def push(self, seq: int, data: bytes) -> list[bytes | None]:
        """Deliver what this segment makes contiguous; ``None`` marks a gap."""
        if seq == self.next_seq and data and not self.ooo:  # in order, nothing waiting: the common case
            self.next_seq = (seq + len(data)) & MASK
            return [data]
        out: list[bytes | None] = []
        if self.next_seq is None:
            self.next_seq = seq
        rel = _rel(seq, self.next_seq)
        if rel <= 0:
            if -rel < len(data):
                self._deliver(out, data[-rel:])
                if self.ooo:
                    self._drain(out)
        else:
            held = len(self.ooo.get(seq, b""))
            if held < len(data):
                self.ooo_bytes += len(data) - held
                self.ooo[seq] = data
            if self.ooo_bytes > MAX_OOO_BYTES or len(self.ooo) > MAX_OOO_SEGMENTS:
                self._skip_gap(out)
        return out

    def flush(self) -> list[bytes | None]:
        """At the end of the connection: deliver what is buffered, marking the holes."""
        out: list[bytes | None] = []
        while self.ooo:
            self._skip_gap(out)
        return out

    def _deliver(self, out: list[bytes | None], data: bytes) -> None:
        out.append(data)
        self.next_seq = (self.next_seq + len(data)) & MASK  # type: ignore[operator]

    def _drain(self, out: list[bytes | None]) -> None:
        progressed = True
        while progressed and self.ooo:
            progressed = False
            for seq in sorted(self.ooo, key=lambda s: _rel(s, self.next_seq)):  # type: ignore[arg-type]
                rel = _rel(seq, self.next_seq)  # type: ignore[arg-type]
                if rel > 0:
                    break
                data = self.ooo.pop(seq)
                self.ooo_bytes -= len(data)
                if -rel < len(data):
                    self._deliver(out, data[-rel:])
                progressed = True

    def _skip_gap(self, out: list[bytes | None]) -> None:
        first = min(self.ooo, key=lambda s: _rel(s, self.next_seq))  # type: ignore[arg-type]
        self.gaps += 1
        self.gap_bytes += max(0, _rel(first, self.next_seq))  # type: ignore[arg-type]
        out.append(None)
        self.next_seq = first
        self._drain(out)


@dataclass(slots=True)
class HttpHead:
    """The start line and headers of one HTTP/1.x message (names lower-cased)."""

    start: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("HTTP/")


def parse_head(raw: bytes) -> HttpHead:
    """The head ``raw`` (start line and header lines, without the blank line that ends it).

    Read as Latin-1 and cut at any line boundary ``str.splitlines`` knows (CRLF, bare LF or CR,
    and the rarer VT, FF, FS, GS, RS, NEL), so an obs-fold continuation is a line of its own.
    The first 199 header lines are read; a line without ``:`` is skipped; a name is stripped,
    lower-cased and cut to 64 characters, a value stripped and cut to 1024; a repeated name keeps
    its last value (at the place of its first).

    Most header lines recur from message to message (``Accept: */*``, ``Content-Type:
    application/json``, a poller's Host and User-Agent), so the (name, value) of short lines is
    remembered in a bounded memo: a recurring line costs one dict lookup.
    """
    lines = raw.decode("latin-1").splitlines()
    if not lines:
        return HttpHead("", {})
    headers: dict[str, str] = {}
    memo = _FIELDS
    for line in lines[1:MAX_HEADER_LINES]:
        pair = memo.get(line)
        if pair is None:
            pair = _field(line)
        if pair:
            headers[pair[0]] = pair[1]
    return HttpHead(lines[0][:MAX_VALUE], headers)


_FIELDS: dict[str, tuple[str, str] | tuple[()]] = {}  #: header line -> (name, value), () without a colon


def _field(line: str) -> tuple[str, str] | tuple[()]:
    """One header line's (name, value), or () for a line without a colon; remembered when short."""
    name, sep, value = line.partition(":")
    pair = (name.strip().lower()[:MAX_NAME], value.strip()[:MAX_VALUE]) if sep else ()
    if len(line) <= MEMO_LINE_LEN:
        if len(_FIELDS) >= MEMO_LINES:
            _FIELDS.clear()
        _FIELDS[line] = pair
    return pair


_HTTP_STARTS = (b"POST ", b"GET ", b"PUT ", b"HTTP/1.", b"HEAD ", b"OPTIONS ")
_NO_BODY_STATUS = (["204"], ["304"])
_COMPRESSED = ("gzip", "deflate", "x-gzip")


class Framer:
    """Cuts one direction's byte stream into frames: ("line", bytes); ("http-head", HttpHead,
    first body bytes) as soon as an HTTP head is complete; ("http", HttpHead, body) when its body is."""

    __slots__ = ("buf", "mode", "skipping", "head", "need", "chunked", "body", "warnings", "offset", "peek",
                 "chunk_left")

    def __init__(self) -> None:
        self.buf = b""
        self.mode: str | None = None  # None (undecided), "line", "http-head", "http-body"
        self.skipping = False  # dropping an over-long line up to its newline
        self.head: HttpHead | None = None
        self.need = 0
        self.chunked = False
        self.body: bytes | bytearray = b""  # a bytearray once a body grows over several pieces
        self.warnings: list[str] = []
        self.offset = 0  # stream bytes consumed so far
        self.peek = False  # an "http-head" frame is owed once the body's first bytes arrive
        self.chunk_left = 0  # bytes of the current chunk (data and its CRLF) still to come

    def gap(self) -> list[tuple]:
        """A hole in the stream: the partial frame cannot be completed."""
        frames: list[tuple] = []
        if self.mode == "http-body" and not self.need and not self.chunked:
            self._finish_body(frames)
        self.buf, self.body, self.head, self.skipping = b"", b"", None, False
        self.mode = None
        self.chunk_left = 0
        return frames

    def feed(self, data: bytes) -> list[tuple]:
        self.offset += len(data)
        buf = self.buf = self.buf + data if self.buf else data
        frames: list[tuple] = []
        if self.mode == "line":
            if buf:
                self._lines(frames)
            return frames
        while buf:
            mode = self.mode
            if mode == "http-body":
                if not self._http_body(frames):
                    break
            elif mode == "line":
                self._lines(frames)
                break
            elif buf.startswith(_HTTP_STARTS) or mode == "http-head" and not buf.lstrip().startswith(b"{"):
                if not self._http_head(frames):
                    break
            elif mode is None and len(buf) < 8 and any(s.startswith(buf) for s in _HTTP_STARTS):
                break  # could still become an HTTP start line
            else:
                self.mode = "line"
                self._lines(frames)
                break
            buf = self.buf
        return frames

    def close(self) -> list[tuple]:
        """End of stream: a body delimited by connection close, or a last unterminated line."""
        if self.mode == "http-body" and not self.need and not self.chunked:
            self._grow(self.buf)
            self.buf = b""
            frames: list[tuple] = []
            self._finish_body(frames)
            return frames
        if self.mode == "line" and self.buf and not self.skipping:
            line, self.buf = self.buf, b""
            return [("line", line)]
        return []

    # -- line mode ----------------------------------------------------------------------------
    def _lines(self, frames: list[tuple]) -> None:
        buf = self.buf
        if self.skipping:
            nl = buf.find(b"\n")
            if nl < 0:
                self.buf = b""
                return
            buf = buf[nl + 1 :]
            self.skipping = False
        nl = buf.find(b"\n")
        if nl == len(buf) - 1:  # one whole line (or none left): the common case
            self.buf = b""
            if buf.strip():
                frames.append(("line", buf[:nl]))
            return
        if nl < 0:  # a line still growing
            self.buf = buf
            if len(buf) > MAX_LINE:
                self._overlong_line()
            return
        parts = buf.split(b"\n")
        self.buf = parts.pop()
        frames += [("line", p) for p in parts if p.strip()]
        if len(self.buf) > MAX_LINE:
            self._overlong_line()

    def _overlong_line(self) -> None:
        self.warnings.append(f"stream offset {self.offset - len(self.buf)}: line longer than {MAX_LINE} bytes dropped")
        self.buf, self.skipping = b"", True

    # -- HTTP mode ----------------------------------------------------------------------------
    def _http_head(self, frames: list[tuple]) -> bool:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end, sep = buf.find(b"\n\n"), 2
        if end < 0:
            if len(buf) > MAX_HEAD:
                self.warnings.append(f"stream offset {self.offset - len(buf)}: HTTP head longer than {MAX_HEAD} bytes dropped")
                self.buf, self.mode = b"", "line"
                self.skipping = True
            else:
                self.mode = "http-head"
            return False
        head = parse_head(buf[:end])
        rest = buf[end + sep :]
        headers = head.headers
        is_request = not buf.startswith(b"HTTP/")  # the start line's first bytes: not head.is_request's cost
        # announce the head at once, with the body's first bytes when they came along, so that a
        # consumer can settle the message (JSON-RPC or not, a download or not) without its body
        if rest or is_request:
            frames.append(("http-head", head, rest[:PEEK_BYTES]))
        else:
            self.peek = True
        # (self.head is None and self.body empty here: a head is read only between messages)
        coding = headers.get("transfer-encoding")
        if coding is not None and "chunked" in coding.lower():
            self.head, self.buf, self.need, self.chunked, self.chunk_left = head, rest, 0, True, 0
            self.mode = "http-body"
            return True
        self.chunked = False
        length = headers.get("content-length", "")
        if length.isdecimal():  # ASCII digits: str.isdigit would also pass "²", which int() refuses
            need = int(length)
            if need <= len(rest) and not self.peek:  # the whole body is here: no state to enter
                body = rest[:need] if need <= MAX_BODY else rest[: max(MAX_BODY, 0)]
                self.buf, self.need, self.mode = rest[need:], 0, None
                if body and "content-encoding" in headers:
                    body = self._decoded(head, body)
                frames.append(("http", head, body))
                return True
            self.head, self.buf, self.need = head, rest, need
            if need == 0:  # Content-Length: 0, its announcement still owed
                self._finish_body(frames)
                return True
        elif is_request or head.start.split(" ")[1:2] in _NO_BODY_STATUS:  # no body
            self.buf, self.need = rest, 0
            if self.peek:
                self.head = head
                self._finish_body(frames)
            else:
                self.mode = None
                frames.append(("http", head, b""))
            return True
        else:  # body until connection close
            self.head, self.buf, self.need = head, rest, 0
        self.mode = "http-body"
        return True

    def _http_body(self, frames: list[tuple]) -> bool:
        buf = self.buf
        if self.peek and self.head is not None:
            self.peek = False
            prefix = buf
            if self.chunked:  # skip the chunk-size line to reach the data
                nl = prefix.find(b"\r\n")
                prefix = prefix[nl + 2 :] if nl >= 0 else b""
            frames.append(("http-head", self.head, prefix[:PEEK_BYTES]))
        if self.chunked:
            return self._chunk(frames)
        need = self.need
        if need == 0:  # until close: keep what fits
            room = MAX_BODY - len(self.body)
            if room > 0:
                self._grow(buf[:room])
            self.buf = b""
            return False
        take = buf[:need]
        self.buf = buf[need:]
        need = self.need = need - len(take)
        room = MAX_BODY - len(self.body)
        if room > 0:
            self._grow(take[:room])
        if need:
            return False
        self._finish_body(frames)
        return True

    def _chunk(self, frames: list[tuple]) -> bool:
        buf = self.buf
        left = self.chunk_left
        if left:  # inside a chunk: its data (kept as far as it fits), then its CRLF (skipped unread)
            take = buf[:left]
            self.buf = buf[left:]
            self.chunk_left = left - len(take)
            room = min(left - 2, MAX_BODY - len(self.body))
            if room > 0:
                self._grow(take[:room])
            return True
        nl = buf.find(b"\r\n")
        if nl < 0:
            if len(buf) > MAX_CHUNK_LINE:
                return self._bad_chunk(frames)
            return False
        size_text = buf[:nl].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return self._bad_chunk(frames)
        if size < 0:  # int() reads "-1a": no chunk has a negative size
            return self._bad_chunk(frames)
        if size == 0:  # the last chunk: skip two more bytes (the CRLF after an empty trailer)
            if len(buf) < nl + 4:
                return False
            self.buf = buf[nl + 4 :]
            self._finish_body(frames)
            return True
        self.buf = buf[nl + 2 :]
        self.chunk_left = size + 2
        return True

    def _bad_chunk(self, frames: list[tuple]) -> bool:
        self.warnings.append(f"stream offset {self.offset - len(self.buf)}: malformed HTTP chunk")
        self.chunked = False
        self._finish_body(frames)
        return True

    def _grow(self, piece: bytes) -> None:
        """Append to the body without copying what it holds already (a bytearray past one piece)."""
        body = self.body
        if not body:
            self.body = piece
        elif type(body) is bytearray:
            body += piece
        elif piece:
            grown = bytearray(body)
            grown += piece
            self.body = grown

    def _finish_body(self, frames: list[tuple]) -> None:
        head, body = self.head, self.body
        owed = self.peek
        self.peek = False
        self.head, self.body, self.need, self.chunked = None, b"", 0, False
        self.mode = None
        self.chunk_left = 0
        if head is None:
            return
        if type(body) is bytearray:
            body = bytes(body)
        if owed:
            frames.append(("http-head", head, body[:PEEK_BYTES]))
        if body and "content-encoding" in head.headers:
            body = self._decoded(head, body)
        frames.append(("http", head, body))

    def _decoded(self, head: HttpHead, body: bytes) -> bytes:
        """``body`` inflated when its Content-Encoding says gzip or deflate (at most MAX_BODY bytes)."""
        encoding = head.headers.get("content-encoding", "").lower()
        if encoding not in _COMPRESSED:
            return body
        try:
            return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(body, MAX_BODY)
        except zlib.error:
            self.warnings.append(f"stream offset {self.offset}: undecodable {encoding} HTTP body")
            return b""
