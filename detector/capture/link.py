"""Link layers: strip the frame header and hand the IP packet to ``detector.capture.ip``.

A decoder is ``decode(buf, off, end, ts) -> Packet | None``: the frame is ``buf[off:end]``
(``end`` = end of the captured bytes). ``LinkTable(ip).get(linktype)`` returns the decoder for a
link type, or ``None`` for the ones not supported; the record readers then call
``LinkTable.skipped(linktype, offset)`` per packet and ``LinkTable.summary()`` yields one
warning per unsupported link type at the end.

Supported (numbers from https://www.tcpdump.org/linktypes.html):
  1 Ethernet (802.1Q 0x8100, 802.1ad 0x88a8, old QinQ 0x9100 tags, stacked; PPPoE session 0x8864;
    MPLS 0x8847/0x8848), 113 Linux cooked SLL (16-byte header, protocol at offset 14),
  276 SLL2 (20-byte header, protocol at offset 0), 101 / 12 / 14 raw IP (version nibble decides),
  228 raw IPv4, 229 raw IPv6, 0 BSD loopback NULL (4-byte address family in the writer's byte
  order: AF_INET 2, AF_INET6 24 / 28 / 30), 108 OpenBSD LOOP (same, network byte order).
"""

from __future__ import annotations

from collections.abc import Callable

from detector.capture.ip import IPDecoder
from detector.capture.model import Packet

Decode = Callable[[bytes, int, int, float], "Packet | None"]

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset({0x8847, 0x8848})
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
MAX_TAGS = 8  #: VLAN tags / MPLS labels followed before giving up
AF_INET = 2
AF_INET6 = frozenset({24, 28, 30})

LINKTYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked (SLL2)",
}


def _build(ip: IPDecoder) -> dict[int, Decode]:
    """The decoders of every supported link type, bound to one ``IPDecoder``."""
    v4, v6 = ip.v4, ip.v6

    def short() -> Packet | None:
        ip.truncated += 1
        return None

    def ip_by_version(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        if off >= end:
            return short()
        version = buf[off] >> 4
        if version == 4:
            return v4(buf, off, end, ts)
        if version == 6:
            return v6(buf, off, end, ts)
        return None

    def ethertype(buf: bytes, off: int, end: int, ts: float, etype: int) -> Packet | None:
        """Follow VLAN tags, PPPoE and MPLS from ``etype`` (the slow path)."""
        for _ in range(MAX_TAGS):
            if etype == ETH_IPV4:
                return v4(buf, off, end, ts)
            if etype == ETH_IPV6:
                return v6(buf, off, end, ts)
            if etype in VLAN_TAGS:
                if off + 4 > end:
                    return short()
                etype = (buf[off + 2] << 8) | buf[off + 3]
                off += 4
            elif etype == ETH_PPPOE_SESSION:
                if off + 8 > end:
                    return short()
                proto = (buf[off + 6] << 8) | buf[off + 7]
                off += 8
                if proto == PPP_IPV4:
                    return v4(buf, off, end, ts)
                if proto == PPP_IPV6:
                    return v6(buf, off, end, ts)
                return None
            elif etype in ETH_MPLS:
                for _ in range(MAX_TAGS):
                    if off + 4 > end:
                        return short()
                    bottom = buf[off + 2] & 1
                    off += 4
                    if bottom:
                        return ip_by_version(buf, off, end, ts)
                return None
            else:
                return None
        return None

    def ethernet(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        if off + 14 > end:
            return short()
        etype = (buf[off + 12] << 8) | buf[off + 13]
        if etype == ETH_IPV4:
            return v4(buf, off + 14, end, ts)
        if etype == ETH_IPV6:
            return v6(buf, off + 14, end, ts)
        return ethertype(buf, off + 14, end, ts, etype)

    def sll(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        if off + 16 > end:
            return short()
        return ethertype(buf, off + 16, end, ts, (buf[off + 14] << 8) | buf[off + 15])

    def sll2(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        if off + 20 > end:
            return short()
        return ethertype(buf, off + 20, end, ts, (buf[off] << 8) | buf[off + 1])

    def raw4(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        return v4(buf, off, end, ts)

    def raw6(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        return v6(buf, off, end, ts)

    def loopback(buf: bytes, off: int, end: int, ts: float) -> Packet | None:
        if off + 4 > end:
            return short()
        family = int.from_bytes(buf[off:off + 4], "little")
        if family > 0xFFFF:  # written in the other byte order
            family = int.from_bytes(buf[off:off + 4], "big")
        if family == AF_INET:
            return v4(buf, off + 4, end, ts)
        if family in AF_INET6:
            return v6(buf, off + 4, end, ts)
        return None

    return {
        0: loopback,
        1: ethernet,
        12: ip_by_version,
        14: ip_by_version,
        101: ip_by_version,
        108: loopback,
        113: sll,
        228: raw4,
        229: raw6,
        276: sll2,
    }


class LinkTable:
    """Link-type -> decoder lookup for one capture, plus the tally of unsupported link types."""

    __slots__ = ("_decoders", "_unsupported")

    def __init__(self, ip: IPDecoder) -> None:
        self._decoders = _build(ip)
        self._unsupported: dict[int, list[int]] = {}  # linktype -> [first offset, packets]

    def get(self, linktype: int) -> Decode | None:
        """The decoder for ``linktype``, or None when that link type is not supported."""
        return self._decoders.get(linktype)

    def skipped(self, linktype: int, offset: int) -> None:
        """Count one packet of an unsupported link type (``offset`` = its record's offset)."""
        entry = self._unsupported.get(linktype)
        if entry is None:
            self._unsupported[linktype] = [offset, 1]
        else:
            entry[1] += 1

    def summary(self) -> list[tuple[int, str]]:
        """One (offset, message) per unsupported link type that had packets."""
        return [
            (offset, f"link type {lt} not supported: {count} packets counted, not decoded")
            for lt, (offset, count) in self._unsupported.items()
        ]
