"""The pcapng block reader: sections, interfaces and packet blocks, yielding ``Packet`` records.

``read_pcapng(stream, info, links, warn)`` walks the blocks from the first Section Header Block:

* SHB (0x0A0D0D0A): byte order from its byte-order magic, per section; a new section forgets
  the interfaces of the previous one. A major version other than 1 skips that section.
* IDB (1): link type, snap length and the options ``if_tsresol`` (9: resolution 10^-n, or 2^-n
  when the top bit is set; default 10^-6) and ``if_tsoffset`` (14: seconds added to every
  timestamp).
* EPB (6) and the obsolete Packet Block (2): interface id, 64-bit timestamp, captured and
  original length.
* SPB (3): original length only; the captured length is min(original length, IDB 0 snap length,
  room in the block). An SPB has no timestamp: its packet gets the previous packet's time (0.0
  before any), and does not move ``first_ts`` / ``last_ts``.
* Everything else (NRB, ISB, DSB, custom, unknown) is skipped by its length.

Every block's length is checked (>= 12, a multiple of 4, at most ``MAX_BLOCK``, equal to the
trailing copy); a bad one or a truncated block ends the file with one warning naming its offset.
Spec: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html sections 3-4.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from detector.capture.link import Decode, LinkTable
from detector.capture.model import CaptureInfo, Packet
from detector.capture.pcap import MAX_CAPLEN, Stream, Warnings

SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK = 16 << 20  #: longest block accepted (libpcap caps an SHB at 1 MiB, packets far lower)
OPT_END, OPT_TSRESOL, OPT_TSOFFSET = 0, 9, 14
DEFAULT_TS_DIV = 1_000_000

_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_HDR = {bo: struct.Struct(bo + "II") for bo in "<>"}  # block type, total length
_U32 = {bo: struct.Struct(bo + "I") for bo in "<>"}
_SHB_VER = {bo: struct.Struct(bo + "HH") for bo in "<>"}  # major, minor (after the BOM)
_IDB = {bo: struct.Struct(bo + "HxxI") for bo in "<>"}  # link type, snap length
_EPB = {bo: struct.Struct(bo + "IIIII") for bo in "<>"}  # if id, ts high, ts low, caplen, len
_OPB = {bo: struct.Struct(bo + "HHIIII") for bo in "<>"}  # if id, drops, ts hi/lo, caplen, len
_OPT = {bo: struct.Struct(bo + "HH") for bo in "<>"}  # option code, length
_I64 = {bo: struct.Struct(bo + "q") for bo in "<>"}

#: per interface: decoder (None if unsupported), timestamp divisor, offset (s), snaplen, linktype
Interface = tuple["Decode | None", int, int, int, int]


def _interface(
    buf: bytes, pos: int, blen: int, order: str, links: LinkTable, warn: Warnings, offset: int
) -> Interface:
    """Parse one IDB (``buf[pos:pos+blen]``)."""
    linktype, snaplen = _IDB[order].unpack_from(buf, pos + 8)
    div, tsoffset = DEFAULT_TS_DIV, 0
    p, stop = pos + 16, pos + blen - 4
    opt = _OPT[order]
    while p + 4 <= stop:
        code, length = opt.unpack_from(buf, p)
        if code == OPT_END:
            break
        value = p + 4
        if value + length > stop:
            warn.add(offset, "interface description block: option runs past the block; ignored")
            break
        if code == OPT_TSRESOL and length >= 1:
            res = buf[value]
            exp = res & 0x7F
            if (res & 0x80 and exp > 64) or (not res & 0x80 and exp > 19):
                warn.add(offset, f"interface description block: unusable if_tsresol {res:#x}")
            else:
                div = 2**exp if res & 0x80 else 10**exp
        elif code == OPT_TSOFFSET and length >= 8:
            tsoffset = _I64[order].unpack_from(buf, value)[0]
        p = value + ((length + 3) & ~3)
    return links.get(linktype), div, tsoffset, snaplen, linktype


def read_pcapng(
    stream: Stream, info: CaptureInfo, links: LinkTable, warn: Warnings
) -> Iterator[Packet]:
    """Yield the TCP/UDP packets of a pcapng file; ``stream`` is at its first SHB."""
    order = "<"
    hdr, u32 = _HDR[order].unpack_from, _U32[order].unpack_from
    epb = _EPB[order].unpack_from
    ifaces: list[Interface] = []
    skip_section = False
    packets = nbytes = 0
    lo, hi = float("inf"), float("-inf")
    last_ts = 0.0
    buf, pos, size = stream.buf, stream.pos, len(stream.buf)
    try:
        while True:
            if pos + 12 > size:
                stream.pos = pos
                info.packets, info.bytes = packets, nbytes
                if lo <= hi:
                    info.first_ts, info.last_ts = lo, hi
                if not stream.more(12):
                    if stream.available:
                        warn.add(stream.base + stream.pos, "truncated block header")
                    break
                buf, pos, size = stream.buf, stream.pos, len(stream.buf)
            btype, blen = hdr(buf, pos)
            if btype == SHB:  # the byte order may change here, before the length is read
                bom = _BOM.get(buf[pos + 8:pos + 12])
                if bom is None:
                    warn.add(stream.base + pos, "section header block with a bad byte-order magic")
                    break
                order = bom
                hdr, u32 = _HDR[order].unpack_from, _U32[order].unpack_from
                epb = _EPB[order].unpack_from
                blen = hdr(buf, pos)[1]
            if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                warn.add(stream.base + pos, f"corrupt block (type {btype:#x}, length {blen})")
                break
            if pos + blen > size:
                stream.pos = pos
                if not stream.more(blen):
                    warn.add(
                        stream.base + stream.pos,
                        f"truncated block (type {btype:#x}: {stream.available} of {blen} bytes)",
                    )
                    break
                buf, pos, size = stream.buf, stream.pos, len(stream.buf)
            if u32(buf, pos + blen - 4)[0] != blen:
                warn.add(stream.base + pos, f"corrupt block (type {btype:#x}): trailing length differs")
                break
            here = pos
            pos += blen
            if btype == EPB or btype == OPB:
                if skip_section:
                    continue
                if btype == EPB:
                    if blen < 32:
                        warn.add(stream.base + here, f"corrupt enhanced packet block (length {blen})")
                        break
                    ifid, tsh, tsl, caplen, origlen = epb(buf, here + 8)
                    start = here + 28
                else:
                    if blen < 32:
                        warn.add(stream.base + here, f"corrupt packet block (length {blen})")
                        break
                    ifid, _drops, tsh, tsl, caplen, origlen = _OPB[order].unpack_from(buf, here + 8)
                    start = here + 28
                if ifid >= len(ifaces):
                    warn.add(stream.base + here, f"packet for undeclared interface {ifid} skipped")
                    continue
                decode, div, tsoffset, snaplen, linktype = ifaces[ifid]
                limit = snaplen if 0 < snaplen <= MAX_CAPLEN else MAX_CAPLEN
                if caplen > limit or start + caplen > pos - 4:
                    warn.add(
                        stream.base + here,
                        f"corrupt packet block (captured length {caplen}, block length {blen})",
                    )
                    break
                t = (tsh << 32) | tsl
                ts = t // div + (t % div) / div + tsoffset
                last_ts = ts
                if ts < lo:
                    lo = ts
                if ts > hi:
                    hi = ts
            elif btype == SPB:
                if skip_section:
                    continue
                if blen < 16:
                    warn.add(stream.base + here, f"corrupt simple packet block (length {blen})")
                    break
                if not ifaces:
                    warn.add(stream.base + here, "simple packet block before any interface skipped")
                    continue
                origlen = u32(buf, here + 8)[0]
                decode, _div, _off, snaplen, linktype = ifaces[0]
                caplen = min(origlen, blen - 16)
                if snaplen:
                    caplen = min(caplen, snaplen)
                start = here + 12
                ts = last_ts
            elif btype == SHB:
                if blen < 28:
                    warn.add(stream.base + here, f"corrupt section header block (length {blen})")
                    break
                major, minor = _SHB_VER[order].unpack_from(buf, here + 12)
                ifaces = []
                skip_section = major != 1
                if skip_section:
                    warn.add(stream.base + here, f"pcapng version {major}.{minor} section skipped")
                continue
            elif btype == IDB:
                if skip_section:
                    continue
                if blen < 20:
                    warn.add(stream.base + here, f"corrupt interface description block (length {blen})")
                    break
                iface = _interface(buf, here, blen, order, links, warn, stream.base + here)
                ifaces.append(iface)
                if iface[4] not in info.linktypes:
                    info.linktypes.append(iface[4])
                continue
            else:
                continue
            packets += 1
            nbytes += origlen
            if decode is not None:
                pkt = decode(buf, start, start + caplen, ts)
                if pkt is not None:
                    yield pkt
            else:
                links.skipped(linktype, stream.base + here)
    finally:
        stream.pos = pos
        info.packets, info.bytes = packets, nbytes
        if lo <= hi:
            info.first_ts, info.last_ts = lo, hi
