"""TCP byte streams per direction, and framing of those bytes into messages.

``Reassembler`` orders one direction's segments by sequence number: retransmissions and overlaps
are trimmed so that every byte is delivered once (a share is counted once), out-of-order segments
wait in a bounded buffer, and a hole that cannot be filled is delivered as a gap marker (``None``).

``Framer`` cuts the delivered bytes into frames: JSON lines (``\\n`` or ``\\r\\n``) or HTTP/1.x
messages (head + body, Content-Length or chunked, gzip/deflate bodies). Every buffer is bounded:
an over-long line or body is dropped with a warning and the framer resynchronises on the next
line or message.
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
        if seq == self.next_seq and not self.ooo and data:  # in order, nothing waiting: the common case
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
            if len(self.ooo.get(seq, b"")) < len(data):
                self.ooo_bytes += len(data) - len(self.ooo.get(seq, b""))
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


_HTTP_STARTS = (b"POST ", b"GET ", b"PUT ", b"HTTP/1.", b"HEAD ", b"OPTIONS ")


class Framer:
    """Cuts one direction's byte stream into frames: ("line", bytes); ("http-head", HttpHead,
    first body bytes) as soon as an HTTP head is complete; ("http", HttpHead, body) when its body is."""

    __slots__ = ("buf", "mode", "skipping", "head", "need", "chunked", "body", "warnings", "offset", "peek")

    def __init__(self) -> None:
        self.buf = b""
        self.mode: str | None = None  # None (undecided), "line", "http-head", "http-body"
        self.skipping = False  # dropping an over-long line up to its newline
        self.head: HttpHead | None = None
        self.need = 0
        self.chunked = False
        self.body = b""
        self.warnings: list[str] = []
        self.offset = 0  # stream bytes consumed so far
        self.peek = False  # an "http-head" frame is owed once the body's first bytes arrive

    def gap(self) -> list[tuple]:
        """A hole in the stream: the partial frame cannot be completed."""
        frames = self._finish_body() if self.mode == "http-body" and not self.need and not self.chunked else []
        self.buf, self.body, self.head, self.skipping = b"", b"", None, False
        self.mode = None
        return frames

    def feed(self, data: bytes) -> list[tuple]:
        self.offset += len(data)
        self.buf = self.buf + data if self.buf else data
        frames: list[tuple] = []
        while self.buf:
            if self.mode is None or self.mode == "http-head":
                if self.buf.startswith(_HTTP_STARTS) or self.mode == "http-head" and not self.buf.lstrip().startswith(b"{"):
                    if not self._http_head(frames):
                        break
                    continue
                if self.mode is None and len(self.buf) < 8 and any(s.startswith(self.buf) for s in _HTTP_STARTS):
                    break  # could still become an HTTP start line
                self.mode = "line"
            if self.mode == "line":
                self._lines(frames)
                break
            if self.mode == "http-body" and not self._http_body(frames):
                break
        return frames

    def close(self) -> list[tuple]:
        """End of stream: a body delimited by connection close, or a last unterminated line."""
        if self.mode == "http-body" and not self.need and not self.chunked:
            self.body += self.buf
            self.buf = b""
            return self._finish_body()
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
        parts = buf.split(b"\n")
        self.buf = parts.pop()
        frames += [("line", p) for p in parts if p.strip()]
        if len(self.buf) > MAX_LINE:
            self.warnings.append(f"stream offset {self.offset - len(self.buf)}: line longer than {MAX_LINE} bytes dropped")
            self.buf, self.skipping = b"", True

    # -- HTTP mode ----------------------------------------------------------------------------
    def _http_head(self, frames: list[tuple]) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end, sep = self.buf.find(b"\n\n"), 2
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.warnings.append(f"stream offset {self.offset - len(self.buf)}: HTTP head longer than {MAX_HEAD} bytes dropped")
                self.buf, self.mode = b"", "line"
                self.skipping = True
            else:
                self.mode = "http-head"
            return False
        raw, self.buf = self.buf[:end], self.buf[end + sep :]
        lines = raw.decode("latin-1").splitlines()
        fields = [line.partition(":") for line in lines[1:200]]
        head = HttpHead(lines[0][:1024] if lines else "",
                        {name.strip().lower()[:64]: value.strip()[:1024] for name, sep, value in fields if sep})
        self.head = head
        # announce the head at once, with the body's first bytes when they came along, so that a
        # consumer can settle the message (JSON-RPC or not, a download or not) without its body
        if self.buf or head.is_request:
            frames.append(("http-head", head, self.buf[:PEEK_BYTES]))
        else:
            self.peek = True
        te = head.headers.get("transfer-encoding", "").lower()
        self.chunked = "chunked" in te
        length = head.headers.get("content-length", "")
        if self.chunked:
            self.need = 0
        elif length.isdigit():
            self.need = int(length)
        elif head.is_request or head.start.split(" ")[1:2] in (["204"], ["304"]):
            self.need = 0
            self.body = b""
            frames.extend(self._finish_body())
            return True
        else:
            self.need = 0  # body until connection close
        if not self.chunked and self.need == 0 and length.isdigit():
            frames.extend(self._finish_body())
            return True
        self.mode = "http-body"
        self.body = b""
        return True

    def _http_body(self, frames: list[tuple]) -> bool:
        if self.peek and self.head is not None:
            self.peek = False
            prefix = self.buf
            if self.chunked:  # skip the chunk-size line to reach the data
                nl = prefix.find(b"\r\n")
                prefix = prefix[nl + 2 :] if nl >= 0 else b""
            frames.append(("http-head", self.head, prefix[:PEEK_BYTES]))
        if self.chunked:
            return self._chunk(frames)
        if self.need == 0:  # until close: keep what fits
            room = MAX_BODY - len(self.body)
            self.body += self.buf[: max(room, 0)]
            self.buf = b""
            return False
        take = self.buf[: self.need]
        self.buf = self.buf[self.need :]
        self.need -= len(take)
        if len(self.body) < MAX_BODY:
            self.body += take[: MAX_BODY - len(self.body)]
        if self.need:
            return False
        frames.extend(self._finish_body())
        return True

    def _chunk(self, frames: list[tuple]) -> bool:
        nl = self.buf.find(b"\r\n")
        if nl < 0:
            if len(self.buf) > 1024:
                return self._bad_chunk(frames)
            return False
        size_text = self.buf[:nl].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return self._bad_chunk(frames)
        if len(self.buf) < nl + 2 + size + 2:
            return False
        self.body += self.buf[nl + 2 : nl + 2 + size][: max(MAX_BODY - len(self.body), 0)]
        self.buf = self.buf[nl + 2 + size + 2 :]
        if size == 0:
            frames.extend(self._finish_body())
        return True

    def _bad_chunk(self, frames: list[tuple]) -> bool:
        self.warnings.append(f"stream offset {self.offset - len(self.buf)}: malformed HTTP chunk")
        self.chunked = False
        frames.extend(self._finish_body())
        return True

    def _finish_body(self) -> list[tuple]:
        head, body = self.head, self.body
        if self.peek and head is not None:
            frames_peek: list[tuple] = [("http-head", head, body[:PEEK_BYTES])]
        else:
            frames_peek = []
        self.peek = False
        self.head, self.body, self.need, self.chunked = None, b"", 0, False
        self.mode = None
        if head is None:
            return []
        encoding = head.headers.get("content-encoding", "").lower()
        if body and encoding in ("gzip", "deflate", "x-gzip"):
            try:
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
                body = inflater.decompress(body, MAX_BODY)
            except zlib.error:
                self.warnings.append(f"stream offset {self.offset}: undecodable {encoding} HTTP body")
                body = b""
        return [*frames_peek, ("http", head, body)]
