"""IPv4 / IPv6 down to TCP and UDP, with bounded fragment reassembly.

``IPDecoder`` holds the per-capture state (address-text cache, fragment tables, counters of
skipped packets). Its ``v4`` / ``v6`` methods take ``(buf, off, end, ts)`` where ``buf[off:end]``
is the captured IP packet (possibly longer, e.g. Ethernet padding, or shorter when snapped) and
return a ``Packet`` for TCP and UDP, ``None`` for anything else. Damaged headers never raise: the
packet is skipped and counted in ``malformed`` (inconsistent header) or ``truncated`` (header cut
by the capture); ``summary()`` turns the counters into warnings at the end.

``Reassembler`` keeps fragments per datagram key, bounded in datagrams, fragments per datagram
and bytes held, and expires datagrams by capture time (``IPV4_TIMEOUT`` / ``IPV6_TIMEOUT``).
Overlapping fragments: the byte that arrived first wins (deterministic, whatever the order).

References: RFC 791 (IPv4 header, fragmentation), RFC 8200 sections 4.1-4.5 (IPv6 extension
header order and lengths, fragment header, 60 s reassembly timeout), RFC 4302 (AH length is in
4-octet units minus 2), RFC 9293 section 3.1 (TCP header: data offset, flags byte at offset 13).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Hashable

from detector.capture.model import Packet

IPV4_TIMEOUT = 30.0  #: seconds of capture time; Linux net.ipv4.ipfrag_time default
IPV6_TIMEOUT = 60.0  #: RFC 8200 section 4.5
MAX_DATAGRAMS = 1024  #: incomplete datagrams held per IP version
MAX_HELD_BYTES = 16 << 20  #: fragment bytes held per IP version
MAX_FRAGMENTS = 512  #: fragments kept per datagram
MAX_DATAGRAM = 65535  #: largest reassembled payload accepted
MAX_EXT_HEADERS = 16  #: IPv6 extension headers walked before giving up
ADDR_CACHE_SIZE = 1 << 16  #: cached address texts per family before the cache is cleared

TCP, UDP = 6, 17
#: IPv6 extension headers whose length byte counts 8-octet units beyond the first 8 octets:
#: hop-by-hop 0, routing 43, destination options 60, mobility 135, HIP 139, shim6 140
EXT_8OCTET = frozenset({0, 43, 60, 135, 139, 140})
EXT_AH, EXT_FRAGMENT = 51, 44

_IP4 = struct.Struct("!BxHHHxBxxII")  # ver/ihl, total length, id, flags/frag, proto, src, dst
_IP6 = struct.Struct("!IHBx16s16s")  # ver/tc/flow, payload length, next header, src, dst
_FRAG6 = struct.Struct("!BxHI")  # next header, offset/M, identification
_TCP = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset byte, flags byte
_UDP = struct.Struct("!HHH")  # ports, length


class _Datagram:
    """Fragments of one datagram being reassembled."""

    __slots__ = ("first_ts", "frags", "total", "head", "size")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.frags: list[tuple[int, bytes]] = []  # (offset, data) in arrival order
        self.total: int | None = None  # payload length, known once the last fragment is seen
        self.head: object = None  # what the offset-0 fragment told (header length, ...)
        self.size = 0


class Reassembler:
    """Bounded fragment reassembly for one IP version (keys are opaque to it)."""

    __slots__ = (
        "timeout", "max_datagrams", "max_bytes", "held", "_table",
        "expired", "evicted", "malformed", "completed",
    )

    def __init__(
        self,
        timeout: float,
        max_datagrams: int = MAX_DATAGRAMS,
        max_bytes: int = MAX_HELD_BYTES,
    ) -> None:
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.held = 0
        self._table: dict[Hashable, _Datagram] = {}  # insertion order = first-seen order
        self.expired = self.evicted = self.malformed = self.completed = 0

    @property
    def pending(self) -> int:
        """Datagrams still incomplete."""
        return len(self._table)

    def _drop(self, key: Hashable) -> None:
        self.held -= self._table.pop(key).size

    def _drop_oldest(self) -> None:
        self._drop(next(iter(self._table)))
        self.evicted += 1

    def add(
        self, key: Hashable, ts: float, start: int, data: bytes, more: bool, head: object
    ) -> tuple[bytes, object] | None:
        """Add one fragment; return (payload, head of the first fragment) when complete."""
        table = self._table
        limit = ts - self.timeout
        while table:
            oldest = next(iter(table))
            if table[oldest].first_ts >= limit:
                break
            self._drop(oldest)
            self.expired += 1
        end = start + len(data)
        dg = table.get(key)
        if end > MAX_DATAGRAM or (more and not data):
            if dg is not None:
                self._drop(key)
            self.malformed += 1
            return None
        if dg is None:
            while table and len(table) >= self.max_datagrams:
                self._drop_oldest()
            dg = table[key] = _Datagram(ts)
        if not more:
            if dg.total is not None and dg.total != end:
                self._drop(key)  # two different "last" fragments
                self.malformed += 1
                return None
            dg.total = end
        if dg.total is not None and (end > dg.total or len(dg.frags) >= MAX_FRAGMENTS):
            self._drop(key)
            self.malformed += 1
            return None
        if start == 0 and dg.head is None:
            dg.head = head
        dg.frags.append((start, data))
        dg.size += len(data)
        self.held += len(data)
        while self.held > self.max_bytes:
            self._drop_oldest()
            if key not in table:
                return None
        total = dg.total
        if total is None or dg.head is None:
            return None
        covered = 0
        for s, d in sorted(dg.frags, key=_first):
            if s > covered:
                return None
            if s + len(d) > covered:
                covered = s + len(d)
        if covered < total:
            return None
        out = bytearray(total)
        for s, d in reversed(dg.frags):  # earlier arrivals written last: first one wins
            out[s:s + len(d)] = d
        self._drop(key)
        self.completed += 1
        return bytes(out), dg.head


def _first(item: tuple[int, bytes]) -> int:
    return item[0]


class IPDecoder:
    """Per-capture IP/TCP/UDP decoding state; see the module docstring."""

    __slots__ = ("malformed", "truncated", "frag4", "frag6", "_names4", "_names6")

    def __init__(self) -> None:
        self.malformed = 0  #: packets skipped for an inconsistent IP/TCP/UDP header
        self.truncated = 0  #: packets skipped because the capture cut a header short
        self.frag4 = Reassembler(IPV4_TIMEOUT)
        self.frag6 = Reassembler(IPV6_TIMEOUT)
        self._names4: dict[int, str] = {}
        self._names6: dict[bytes, str] = {}

    # -- address text -------------------------------------------------------------------------
    def _name4(self, addr: int) -> str:
        if len(self._names4) >= ADDR_CACHE_SIZE:
            self._names4.clear()
        text = self._names4[addr] = str(ipaddress.IPv4Address(addr))
        return text

    def _name6(self, addr: bytes) -> str:
        if len(self._names6) >= ADDR_CACHE_SIZE:
            self._names6.clear()
        text = self._names6[addr] = ipaddress.IPv6Address(addr).compressed
        return text

    def _bad(self, snapped: bool) -> Packet | None:
        """Count a skipped packet (cut by the capture when ``snapped``); returns None."""
        if snapped:
            self.truncated += 1
        else:
            self.malformed += 1
        return None

    # -- transport ----------------------------------------------------------------------------
    def _transport(
        self, buf: bytes, off: int, end: int, ts: float, src: str, dst: str,
        proto: int, wirelen: int, snapped: bool,
    ) -> Packet | None:
        """TCP or UDP at ``buf[off:end]`` (``end`` already trimmed to the IP length)."""
        avail = end - off
        if proto == TCP:
            if avail < 20:
                return self._bad(snapped)
            sport, dport, seq, ack, hlen, flags = _TCP.unpack_from(buf, off)
            hlen = (hlen >> 2) & 0x3C
            if hlen < 20:
                return self._bad(False)
            if hlen > avail:
                if not snapped:
                    return self._bad(False)
                payload = b""
            else:
                payload = buf[off + hlen:end]
            return Packet(ts, src, dst, TCP, sport, dport, payload, wirelen, flags, seq, ack, snapped)
        if avail < 8:
            return self._bad(snapped)
        sport, dport, ulen = _UDP.unpack_from(buf, off)
        if 8 <= ulen <= avail:  # UDP length inside what we have: trust it
            end = off + ulen
            snapped = False
        return Packet(ts, src, dst, UDP, sport, dport, buf[off + 8:end], wirelen, 0, 0, 0, snapped)

    # -- IPv4 ---------------------------------------------------------------------------------
    def v4(self, buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        """Decode the IPv4 packet at ``buf[off:end]``."""
        if end - off < 20:
            return self._bad(True)
        vihl, tlen, ident, frag, proto, src, dst = _IP4.unpack_from(buf, off)
        ihl = (vihl & 15) << 2
        if vihl >> 4 != 4 or ihl < 20:
            return self._bad(False)
        if tlen == 0:  # TSO / large-receive capture: length left to the capture
            tlen = end - off
        elif tlen < ihl:
            return self._bad(False)
        if off + tlen <= end:
            end = off + tlen
            snapped = False
        else:
            snapped = True
        if proto != TCP and proto != UDP:
            return None
        if off + ihl > end:
            return self._bad(True)
        s = self._names4.get(src)
        if s is None:
            s = self._name4(src)
        d = self._names4.get(dst)
        if d is None:
            d = self._name4(dst)
        if frag & 0x3FFF:  # MF set or offset non-zero
            return self._fragment4(buf, off + ihl, end, ts, s, d, proto, ihl, ident, frag, snapped)
        return self._transport(buf, off + ihl, end, ts, s, d, proto, tlen, snapped)

    def _fragment4(
        self, buf: bytes, off: int, end: int, ts: float, s: str, d: str,
        proto: int, ihl: int, ident: int, frag: int, snapped: bool,
    ) -> Packet | None:
        if snapped:  # a cut fragment can never be reassembled
            return self._bad(True)
        start = (frag & 0x1FFF) << 3
        done = self.frag4.add((s, d, ident, proto), ts, start, buf[off:end], bool(frag & 0x2000), ihl)
        if done is None:
            return None
        payload, head = done
        assert isinstance(head, int)
        return self._transport(payload, 0, len(payload), ts, s, d, proto, head + len(payload), False)

    # -- IPv6 ---------------------------------------------------------------------------------
    def v6(self, buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        """Decode the IPv6 packet at ``buf[off:end]``, walking extension headers."""
        if end - off < 40:
            return self._bad(True)
        vtcfl, plen, nh, src, dst = _IP6.unpack_from(buf, off)
        if vtcfl >> 28 != 6:
            return self._bad(False)
        if plen:
            wirelen = 40 + plen
            if off + wirelen <= end:
                end = off + wirelen
                snapped = False
            else:
                snapped = True
        else:  # jumbogram or TSO capture: length left to the capture
            wirelen = end - off
            snapped = False
        if nh == TCP or nh == UDP:
            s = self._names6.get(src)
            if s is None:
                s = self._name6(src)
            d = self._names6.get(dst)
            if d is None:
                d = self._name6(dst)
            return self._transport(buf, off + 40, end, ts, s, d, nh, wirelen, snapped)
        return self._v6_ext(buf, off, end, ts, nh, src, dst, wirelen, snapped)

    def _v6_ext(
        self, buf: bytes, off: int, end: int, ts: float, nh: int,
        src: bytes, dst: bytes, wirelen: int, snapped: bool,
    ) -> Packet | None:
        """The extension-header walk (slow path), including fragment reassembly."""
        p = off + 40
        reassembled = False
        for _ in range(MAX_EXT_HEADERS):
            if nh == TCP or nh == UDP:
                s = self._names6.get(src) or self._name6(src)
                d = self._names6.get(dst) or self._name6(dst)
                return self._transport(buf, p, end, ts, s, d, nh, wirelen, snapped)
            if nh in EXT_8OCTET or nh == EXT_AH:
                if p + 2 > end:
                    return self._bad(snapped)
                step = (buf[p + 1] + 1) << 3 if nh != EXT_AH else (buf[p + 1] + 2) << 2
                nh = buf[p]
                p += step
            elif nh == EXT_FRAGMENT:
                if p + 8 > end:
                    return self._bad(snapped)
                nxt, offm, ident = _FRAG6.unpack_from(buf, p)
                start, more = offm & 0xFFF8, bool(offm & 1)
                if start == 0 and not more:  # atomic fragment (RFC 6946)
                    nh = nxt
                    p += 8
                    continue
                if reassembled:
                    return self._bad(False)
                if snapped:
                    return self._bad(True)
                done = self.frag6.add(
                    (src, dst, ident), ts, start, buf[p + 8:end], more, (p - off, nxt)
                )
                if done is None:
                    return None
                buf, head = done
                assert isinstance(head, tuple)
                unfragmentable, nh = head
                wirelen = unfragmentable + len(buf)
                p, end, off = 0, len(buf), 0
                reassembled = True
                continue
            else:  # ESP (50), no next header (59), ICMPv6 (58), anything else
                return None
            if p > end:
                return self._bad(snapped)
        return self._bad(False)

    # -- end of capture -----------------------------------------------------------------------
    def summary(self) -> list[str]:
        """Warnings about what was skipped; call once at the end of the capture."""
        out = []
        if self.malformed:
            out.append(f"{self.malformed} packets skipped: malformed IP, TCP or UDP header")
        if self.truncated:
            out.append(f"{self.truncated} packets skipped: headers cut short by the capture")
        for version, r in ((4, self.frag4), (6, self.frag6)):
            lost = r.expired + r.evicted + r.malformed + r.pending
            if lost:
                out.append(
                    f"{lost} fragmented IPv{version} datagrams not reassembled "
                    f"({r.pending} incomplete at end, {r.expired} timed out, "
                    f"{r.evicted} evicted at the memory bound, {r.malformed} malformed)"
                )
        return out
