"""Capture stage: formats, link types, IP/TCP/UDP decoding and fragment reassembly.

Frames are built with scapy; the containers are written here with ``struct`` (so byte order,
timestamp resolution, SPB/OPB and damaged blocks are under the test's control) and, as an
independent writer, with scapy's ``wrpcap`` / ``PcapNgWriter``. Hostile input lives in
``test_capture_hostile.py``, the tshark cross-check over the shared corpus in
``test_capture_corpus.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
    fragment6,
)
from scapy.layers.ipsec import AH, ESP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap

from detector.capture import Capture, is_capture_file, open_capture
from detector.capture.ip import IPDecoder, Reassembler
from detector.capture.model import ACK, PSH, SYN, CaptureInfo, Packet

T0 = 1_700_000_000
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
STRATUM = b'{"id":1,"method":"mining.subscribe","params":[]}\n'


# -- writers ------------------------------------------------------------------------------------
def pcap_bytes(
    frames: list[bytes],
    *,
    order: str = "<",
    ns: bool = False,
    linktype: int = 1,
    snaplen: int = 65535,
    times: list[tuple[int, int]] | None = None,
    origlens: list[int] | None = None,
) -> bytes:
    """A classic pcap file; frame i gets time (T0 + i, i * 1000) unless ``times`` says."""
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, frame in enumerate(frames):
        sec, frac = times[i] if times else (T0 + i, i * 1000)
        orig = origlens[i] if origlens else len(frame)
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), orig) + frame)
    return b"".join(out)


def ng_block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def ng_option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_shb(order: str = "<", major: int = 1) -> bytes:
    return ng_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, major, 0, -1))


def ng_idb(order: str = "<", linktype: int = 1, snaplen: int = 0, tsresol: int | None = None,
           tsoffset: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += ng_option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += ng_option(order, 14, struct.pack(order + "q", tsoffset))
    if opts:
        opts += ng_option(order, 2, b"eth0") + struct.pack(order + "HH", 0, 0)
    return ng_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def ng_epb(order: str, ifid: int, t: int, frame: bytes, origlen: int | None = None) -> bytes:
    head = struct.pack(order + "IIIII", ifid, t >> 32, t & 0xFFFFFFFF, len(frame),
                       len(frame) if origlen is None else origlen)
    return ng_block(order, 6, head + frame + b"\0" * (-len(frame) % 4) + ng_option(order, 1, b"hi"))


def ng_opb(order: str, ifid: int, t: int, frame: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", ifid, 0, t >> 32, t & 0xFFFFFFFF, len(frame), len(frame))
    return ng_block(order, 2, head + frame)


def ng_spb(order: str, frame: bytes, origlen: int | None = None) -> bytes:
    return ng_block(order, 3, struct.pack(order + "I", len(frame) if origlen is None else origlen) + frame)


def read(path: Path) -> tuple[list[Packet], CaptureInfo]:
    with open_capture(path) as cap:
        packets = list(cap)
    return packets, cap.info


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- frames ---------------------------------------------------------------------------------------
def tcp4(payload: bytes = STRATUM, **kw: object) -> IP:
    return IP(src="10.0.0.1", dst="192.0.2.7", id=7) / TCP(
        sport=40000, dport=3333, seq=1000, ack=2000, flags="PA", **kw) / Raw(payload)


def udp6(payload: bytes = b"dns?") -> IPv6:
    return IPv6(src="2001:db8::1", dst="2001:db8:0:0:1::2") / UDP(sport=5353, dport=53) / Raw(payload)


def eth(ip: object, etype: int | None = None) -> bytes:
    return bytes(Ether(**MAC) / ip) if etype is None else bytes(Ether(**MAC, type=etype) / ip)


TCP4 = Packet(T0 + 0.0, "10.0.0.1", "192.0.2.7", 6, 40000, 3333, STRATUM, 20 + 20 + len(STRATUM),
              PSH | ACK, 1000, 2000, False)
UDP6 = Packet(T0 + 0.0, "2001:db8::1", "2001:db8::1:0:0:2", 17, 5353, 53, b"dns?", 40 + 8 + 4)


def at(p: Packet, ts: float) -> Packet:
    return Packet(ts, p.src, p.dst, p.proto, p.sport, p.dport, p.payload, p.wirelen, p.flags,
                  p.seq, p.ack, p.snapped)


# -- pcap --------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("ns", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, ns: bool) -> None:
    frames = [eth(tcp4()), eth(udp6())]
    times = [(T0, 250_000_000 if ns else 250_000), (T0 + 5, 0)]
    data = pcap_bytes(frames, order=order, ns=ns, times=times)
    packets, info = read(write(tmp_path, "a.pcap", data))
    assert packets == [at(TCP4, T0 + 0.25), at(UDP6, T0 + 5.0)]
    assert info.format == ("pcap-ns" if ns else "pcap")
    assert (info.packets, info.bytes) == (2, len(frames[0]) + len(frames[1]))
    assert (info.first_ts, info.last_ts) == (T0 + 0.25, T0 + 5.0)
    assert info.linktypes == [1]
    assert info.warnings == []
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)


def test_pcap_nanosecond_timestamp_keeps_sub_microsecond_digits(tmp_path: Path) -> None:
    data = pcap_bytes([eth(tcp4())], ns=True, times=[(1, 123_456_789)])
    (p,), _ = read(write(tmp_path, "ns.pcap", data))
    assert p.ts == pytest.approx(1.123456789, abs=1e-12)


def test_pcap_written_by_scapy(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcap"
    frame = Ether(**MAC) / tcp4()
    frame.time = T0 + 0.5
    wrpcap(str(path), [frame])
    packets, info = read(path)
    assert packets == [at(TCP4, T0 + 0.5)]
    assert info.format == "pcap"


def test_first_and_last_ts_are_earliest_and_latest(tmp_path: Path) -> None:
    data = pcap_bytes([eth(tcp4())] * 3, times=[(T0 + 5, 0), (T0 + 1, 0), (T0 + 3, 0)])
    packets, info = read(write(tmp_path, "a.pcap", data))
    assert [p.ts for p in packets] == [T0 + 5, T0 + 1, T0 + 3]
    assert (info.first_ts, info.last_ts) == (T0 + 1, T0 + 5)


def test_non_ip_records_are_counted_not_yielded(tmp_path: Path) -> None:
    arp = bytes(Ether(**MAC, type=0x0806) / Raw(b"\0" * 28))
    icmp = eth(IP(src="10.0.0.1", dst="10.0.0.2", proto=1) / Raw(b"\x08\0\0\0\0\0\0\0"))
    packets, info = read(write(tmp_path, "a.pcap", pcap_bytes([arp, icmp, eth(tcp4())],
                                                                origlens=[60, 42, 1500])))
    assert len(packets) == 1
    assert (info.packets, info.bytes) == (3, 60 + 42 + 1500)


# -- gzip -----------------------------------------------------------------------------------------
def test_gzip_pcap(tmp_path: Path) -> None:
    raw = pcap_bytes([eth(tcp4()), eth(udp6())])
    data = gzip.compress(raw)
    packets, info = read(write(tmp_path, "a.pcap.gz", data))
    assert packets == [TCP4, at(UDP6, T0 + 1.001)]
    assert info.format == "pcap+gzip"
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.warnings == []


def test_gzip_multi_member_pcapng(tmp_path: Path) -> None:
    raw = ng_shb() + ng_idb() + ng_epb("<", 0, T0 * 10**6, eth(tcp4()))
    data = gzip.compress(raw[:37]) + gzip.compress(raw[37:]) + b"\0" * 16
    packets, info = read(write(tmp_path, "a.pcapng.gz", data))
    assert packets == [TCP4]
    assert info.format == "pcapng+gzip"
    assert info.warnings == []


def test_gzip_large_capture_streams_across_blocks(tmp_path: Path) -> None:
    template = eth(tcp4(payload=b"\0" * 1400))
    frames = [template[:-1400] + bytes([i % 256]) * 1400 for i in range(3000)]  # ~4.3 MB
    packets, info = read(write(tmp_path, "big.pcap.gz", gzip.compress(pcap_bytes(frames), 1)))
    assert len(packets) == 3000 == info.packets
    assert [p.payload[0] for p in packets[:300:100]] == [0, 100, 200]
    assert all(len(p.payload) == 1400 for p in packets)


# -- pcapng -------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_epb_both_byte_orders(tmp_path: Path, order: str) -> None:
    data = (ng_shb(order) + ng_idb(order) + ng_block(order, 4, b"\0" * 8)
            + ng_epb(order, 0, (T0 + 2) * 10**6 + 500_000, eth(tcp4()))
            + ng_block(order, 0x40000BAD, b"custom") + ng_block(order, 5, b"\0" * 12))
    packets, info = read(write(tmp_path, "a.pcapng", data))
    assert packets == [at(TCP4, T0 + 2.5)]
    assert (info.format, info.packets, info.linktypes, info.warnings) == ("pcapng", 1, [1], [])
    assert info.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("tsresol", "ticks", "expected"),
    [
        (None, (T0 * 10**6) + 1, T0 + 0.000001),  # default 10^-6
        (9, T0 * 10**9 + 750_000_000, T0 + 0.75),  # nanoseconds
        (3, T0 * 1000 + 1, T0 + 0.001),  # milliseconds
        (0x80 | 10, T0 * 1024 + 256, T0 + 0.25),  # 2^-10
        (0x80 | 0, T0, float(T0)),  # 2^0 = seconds
    ],
)
def test_pcapng_if_tsresol(tmp_path: Path, tsresol: int | None, ticks: int, expected: float) -> None:
    data = ng_shb() + ng_idb(tsresol=tsresol) + ng_epb("<", 0, ticks, eth(tcp4()))
    (p,), info = read(write(tmp_path, "a.pcapng", data))
    assert p.ts == pytest.approx(expected, abs=1e-6)
    assert info.first_ts == p.ts


def test_pcapng_if_tsoffset(tmp_path: Path) -> None:
    data = ng_shb() + ng_idb(tsoffset=T0) + ng_epb("<", 0, 3_000_000, eth(tcp4()))
    (p,), _ = read(write(tmp_path, "a.pcapng", data))
    assert p.ts == T0 + 3.0


def test_pcapng_multi_interface_link_types_and_sections(tmp_path: Path) -> None:
    raw_v6 = bytes(udp6())
    wifi = b"\x08\x00" + b"\0" * 30
    data = (
        ng_shb("<")
        + ng_idb("<", 1) + ng_idb("<", 229, tsresol=9) + ng_idb("<", 105)
        + ng_epb("<", 0, T0 * 10**6, eth(tcp4()))
        + ng_epb("<", 1, (T0 + 1) * 10**9, raw_v6)
        + ng_epb("<", 2, T0 * 10**6, wifi) + ng_epb("<", 2, T0 * 10**6, wifi)
        + ng_shb(">")  # new section, other byte order: interfaces start again
        + ng_idb(">", 101)
        + ng_epb(">", 0, (T0 + 2) * 10**6, bytes(tcp4()))
        + ng_epb(">", 1, (T0 + 3) * 10**6, bytes(tcp4()))  # no interface 1 in this section
    )
    packets, info = read(write(tmp_path, "multi.pcapng", data))
    assert packets == [TCP4, at(UDP6, T0 + 1.0), at(TCP4, T0 + 2.0)]
    assert info.linktypes == [1, 229, 105, 101]
    assert info.packets == 5
    assert info.warnings == [
        f"offset {data.index(ng_epb('>', 1, (T0 + 3) * 10**6, bytes(tcp4())))}: "
        "packet for undeclared interface 1 skipped",
        f"offset {data.index(wifi) - 28}: link type 105 not supported: 2 packets counted, not decoded",
    ]


def test_pcapng_spb_uses_idb0_snaplen_and_previous_time(tmp_path: Path) -> None:
    frame = eth(tcp4())
    data = (ng_shb() + ng_idb(snaplen=60) + ng_idb(linktype=101)
            + ng_epb("<", 1, (T0 + 4) * 10**6, bytes(tcp4()))
            + ng_spb("<", frame[:60], origlen=len(frame)))
    packets, info = read(write(tmp_path, "spb.pcapng", data))
    cut = STRATUM[: 60 - 14 - 40]
    assert packets == [
        at(TCP4, T0 + 4.0),
        Packet(T0 + 4.0, "10.0.0.1", "192.0.2.7", 6, 40000, 3333, cut, TCP4.wirelen,
               PSH | ACK, 1000, 2000, True),
    ]
    assert (info.packets, info.bytes) == (2, len(bytes(tcp4())) + len(frame))


def test_pcapng_obsolete_packet_block(tmp_path: Path) -> None:
    data = ng_shb() + ng_idb() + ng_opb("<", 0, (T0 + 7) * 10**6, eth(tcp4()))
    packets, _ = read(write(tmp_path, "opb.pcapng", data))
    assert packets == [at(TCP4, T0 + 7.0)]


def test_pcapng_written_by_scapy(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcapng"
    l2 = Ether(**MAC)
    frames = [l2 / tcp4(), l2 / udp6()]
    for i, f in enumerate(frames):
        f.time = T0 + i
    with PcapNgWriter(str(path)) as writer:
        for f in frames:
            writer.write(f)
    packets, info = read(path)
    assert packets == [TCP4, at(UDP6, T0 + 1.0)]
    assert info.format == "pcapng"


# -- link types -----------------------------------------------------------------------------------
V4 = bytes(tcp4())
V6 = bytes(udp6())
SLL_HDR = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800)
SLL2_HDR = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 8)


@pytest.mark.parametrize(
    ("linktype", "frame", "expected"),
    [
        (1, eth(tcp4()), TCP4),
        (1, bytes(Ether(**MAC) / Dot1Q(vlan=7) / tcp4()), TCP4),
        (1, bytes(Ether(**MAC) / Dot1AD(vlan=100) / Dot1Q(vlan=7) / tcp4()), TCP4),
        (1, bytes(Ether(**MAC, type=0x9100) / Dot1Q(vlan=100) / Dot1Q(vlan=7) / tcp4()), TCP4),
        (1, bytes(Ether(**MAC) / Dot1Q() / Dot1Q() / Dot1Q() / udp6()), UDP6),
        (1, bytes(Ether(**MAC) / PPPoE(sessionid=1) / PPP(proto=0x0021) / tcp4()), TCP4),
        (1, bytes(Ether(**MAC, type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / udp6()), UDP6),
        (113, SLL_HDR + V4, TCP4),
        (113, SLL_HDR[:14] + b"\x86\xdd" + V6, UDP6),
        (276, SLL2_HDR + V4, TCP4),
        (276, b"\x86\xdd" + SLL2_HDR[2:] + V6, UDP6),
        (101, V4, TCP4),
        (101, V6, UDP6),
        (12, V6, UDP6),
        (14, V4, TCP4),
        (228, V4, TCP4),
        (229, V6, UDP6),
        (0, struct.pack("<I", 2) + V4, TCP4),
        (0, struct.pack(">I", 2) + V4, TCP4),
        (0, struct.pack("<I", 24) + V6, UDP6),
        (0, struct.pack("<I", 28) + V6, UDP6),
        (0, struct.pack(">I", 30) + V6, UDP6),
        (108, struct.pack(">I", 2) + V4, TCP4),
        (108, struct.pack(">I", 24) + V6, UDP6),
    ],
)
def test_link_types(tmp_path: Path, linktype: int, frame: bytes, expected: Packet) -> None:
    packets, info = read(write(tmp_path, "l.pcap", pcap_bytes([frame], linktype=linktype)))
    assert packets == [expected]
    assert info.linktypes == [linktype]
    assert info.warnings == []


@pytest.mark.parametrize(
    "frame",
    [
        bytes(Ether(**MAC, type=0x0806) / Raw(b"\0" * 28)),  # ARP
        bytes(Ether(**MAC, type=0x05DC) / Raw(b"\0" * 28)),  # 802.3 length field
        bytes(Ether(**MAC) / PPPoE() / PPP(proto=0xC021) / Raw(b"\0" * 8)),  # LCP
    ],
)
def test_other_ethertypes_are_ignored_silently(tmp_path: Path, frame: bytes) -> None:
    packets, info = read(write(tmp_path, "x.pcap", pcap_bytes([frame])))
    assert (packets, info.packets, info.warnings) == ([], 1, [])


def test_unsupported_link_type_one_warning(tmp_path: Path) -> None:
    data = pcap_bytes([b"\0" * 40] * 3, linktype=127)
    packets, info = read(write(tmp_path, "radiotap.pcap", data))
    assert packets == []
    assert info.packets == 3
    assert info.linktypes == [127]
    assert info.warnings == ["offset 24: link type 127 not supported: 3 packets counted, not decoded"]


# -- IP / TCP / UDP details --------------------------------------------------------------------------
def test_ethernet_padding_is_trimmed(tmp_path: Path) -> None:
    syn = IP(src="10.0.0.1", dst="192.0.2.7") / TCP(sport=1, dport=2, flags="S", seq=5)
    frame = eth(syn) + b"\xee" * 6  # 54 bytes + padding to the 60-byte minimum
    short_udp = eth(IP(src="10.0.0.1", dst="192.0.2.7") / UDP(sport=3, dport=4) / Raw(b"ab")) + b"\xee" * 4
    packets, _ = read(write(tmp_path, "pad.pcap", pcap_bytes([frame, short_udp])))
    assert packets == [
        Packet(T0, "10.0.0.1", "192.0.2.7", 6, 1, 2, b"", 40, SYN, 5, 0, False),
        Packet(T0 + 1.001, "10.0.0.1", "192.0.2.7", 17, 3, 4, b"ab", 30),
    ]


def test_snapped_payload(tmp_path: Path) -> None:
    frame = eth(tcp4(payload=b"x" * 1000))
    data = pcap_bytes([frame[:80]], snaplen=80, origlens=[len(frame)])
    (p,), info = read(write(tmp_path, "snap.pcap", data))
    assert (p.payload, p.wirelen, p.snapped) == (b"x" * 26, 1040, True)
    assert info.bytes == len(frame)


def test_snapped_inside_tcp_options_keeps_header_fields(tmp_path: Path) -> None:
    frame = eth(tcp4(options=[("NOP", None)] * 8))
    data = pcap_bytes([frame[:14 + 20 + 24]], snaplen=58)
    (p,), _ = read(write(tmp_path, "snap.pcap", data))
    assert (p.sport, p.dport, p.seq, p.payload, p.snapped) == (40000, 3333, 1000, b"", True)


def test_tcp_options_and_ipv4_options(tmp_path: Path) -> None:
    ip = IP(src="10.0.0.1", dst="192.0.2.7", options=[b"\x01\x01\x01\x00"]) / TCP(
        sport=40000, dport=3333, seq=2**32 - 1, ack=7, flags="SA",
        options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) / Raw(b"hello")
    (p,), _ = read(write(tmp_path, "opt.pcap", pcap_bytes([eth(ip)])))
    assert p == Packet(T0, "10.0.0.1", "192.0.2.7", 6, 40000, 3333, b"hello", 24 + 28 + 5,
                       SYN | ACK, 2**32 - 1, 7, False)


def test_udp_length_shorter_than_ip_payload(tmp_path: Path) -> None:
    ip = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2, len=10) / Raw(b"abcdef")
    (p,), _ = read(write(tmp_path, "u.pcap", pcap_bytes([eth(ip)])))
    assert (p.payload, p.wirelen) == (b"ab", 34)


def test_ipv4_total_length_zero_uses_captured_length(tmp_path: Path) -> None:
    raw = bytearray(bytes(tcp4()))
    raw[2:4] = b"\0\0"  # TSO capture
    (p,), _ = read(write(tmp_path, "tso.pcap", pcap_bytes([bytes(raw)], linktype=101)))
    assert (p.payload, p.wirelen) == (STRATUM, TCP4.wirelen)


IPV6_EXT_CASES = [
    IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt(),
    IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 12)]),
    IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=0, m=0, id=9),  # atomic fragment
    AH(nh=6, payloadlen=4, spi=1, icv=b"\0" * 12),  # (4 + 2) * 4 = 24 bytes
]


@pytest.mark.parametrize("ext", IPV6_EXT_CASES, ids=["hbh-rt-dst", "hbh-long", "atomic", "ah"])
def test_ipv6_extension_headers(tmp_path: Path, ext: object) -> None:
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / ext / TCP(sport=5, dport=6, flags="A") / Raw(b"x")
    frame = eth(v6)
    (p,), _ = read(write(tmp_path, "x.pcap", pcap_bytes([frame])))
    assert p == Packet(T0, "2001:db8::1", "2001:db8::2", 6, 5, 6, b"x", len(frame) - 14, ACK, 0, 0)


@pytest.mark.parametrize(
    "v6",
    [
        IPv6() / IPv6ExtHdrHopByHop() / ESP(spi=1, data=b"\0" * 40),
        IPv6(nh=59) / Raw(b"\0" * 20),
        IPv6() / IPv6ExtHdrDestOpt(nh=59) / Raw(b"\0" * 20),
    ],
    ids=["esp", "no-next", "dst-no-next"],
)
def test_ipv6_walk_ends_at_esp_and_no_next_header(tmp_path: Path, v6: object) -> None:
    packets, info = read(write(tmp_path, "x.pcap", pcap_bytes([eth(v6)])))
    assert (packets, info.packets, info.warnings) == ([], 1, [])


def test_address_text_forms(tmp_path: Path) -> None:
    frames = [
        eth(IPv6(src="::ffff:192.0.2.1", dst="fe80::1") / UDP(sport=1, dport=2)),
        eth(IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)),
    ]
    packets, _ = read(write(tmp_path, "a.pcap", pcap_bytes(frames)))
    assert [(p.src, p.dst) for p in packets] == [
        ("::ffff:c000:201", "fe80::1"), ("0.0.0.0", "255.255.255.255")
    ]


# -- fragments ------------------------------------------------------------------------------------
BIG = bytes(range(256)) * 12  # 3072 bytes


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ipv4_fragments_out_of_order(tmp_path: Path, transport: str) -> None:
    l4 = UDP(sport=1, dport=2) if transport == "udp" else TCP(sport=1, dport=2, flags="PA", seq=9)
    whole = IP(src="10.1.1.1", dst="10.2.2.2", id=4242) / l4 / Raw(BIG)
    frags = [eth(f) for f in fragment(whole, fragsize=1000)]
    assert len(frags) == 4
    other = eth(tcp4())
    order = [frags[2], other, frags[0], frags[3], frags[1]]
    packets, info = read(write(tmp_path, "f.pcap", pcap_bytes(order)))
    assert packets[0] == at(TCP4, T0 + 1.001)
    (p,) = packets[1:]
    assert p.payload == BIG
    assert p.wirelen == 20 + len(bytes(l4)) + len(BIG) == len(bytes(whole))
    assert (p.src, p.dst, p.proto, p.sport, p.dport, p.ts) == (
        "10.1.1.1", "10.2.2.2", 6 if transport == "tcp" else 17, 1, 2, T0 + 4.004)
    assert info.packets == 5
    assert info.warnings == []


def test_ipv6_fragments_out_of_order(tmp_path: Path) -> None:
    whole = IPv6(src="2001:db8::a", dst="2001:db8::b") / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(id=77) \
        / UDP(sport=7, dport=8) / Raw(BIG)
    frags = [eth(f) for f in fragment6(whole, 1280)]
    assert len(frags) == 3
    packets, info = read(write(tmp_path, "f6.pcap", pcap_bytes(frags[::-1])))
    (p,) = packets
    assert (p.src, p.dst, p.proto, p.sport, p.dport, p.payload) == (
        "2001:db8::a", "2001:db8::b", 17, 7, 8, BIG)
    assert p.wirelen == 40 + 8 + 8 + len(BIG)  # unfragmentable part (IPv6 + HBH) + UDP + data
    assert info.warnings == []


def _frag(ident: int, offset: int, more: bool, data: bytes) -> bytes:
    return eth(IP(src="10.0.0.1", dst="10.0.0.2", id=ident, proto=17, frag=offset // 8,
                  flags="MF" if more else 0) / Raw(data))


def test_overlapping_fragments_first_arrival_wins(tmp_path: Path) -> None:
    udp = struct.pack("!HHHH", 1, 2, 8 + 24, 0)
    a = _frag(1, 0, True, udp + b"A" * 16)  # bytes 0..24
    b = _frag(1, 16, True, b"B" * 16)  # bytes 16..32 overlap bytes 16..24 of a
    c = _frag(1, 32, False, b"C" * 0 + b"")  # zero-length last fragment ends at 32
    (p1,), _ = read(write(tmp_path, "o1.pcap", pcap_bytes([a, b, c])))
    (p2,), _ = read(write(tmp_path, "o2.pcap", pcap_bytes([b, a, c])))
    assert p1.payload == b"A" * 16 + b"B" * 8
    assert p2.payload == b"A" * 8 + b"B" * 16


def test_incomplete_fragments_are_reported_once(tmp_path: Path) -> None:
    frames = [_frag(i, 0, True, struct.pack("!HHHH", 1, 2, 100, 0) + b"x" * 8) for i in range(5)]
    packets, info = read(write(tmp_path, "inc.pcap", pcap_bytes(frames)))
    assert packets == []
    assert info.warnings == [
        "5 fragmented IPv4 datagrams not reassembled "
        "(5 incomplete at end, 0 timed out, 0 evicted at the memory bound, 0 malformed)"
    ]


def test_fragment_timeout_by_capture_time(tmp_path: Path) -> None:
    udp = struct.pack("!HHHH", 1, 2, 16, 0)
    first, last = _frag(3, 0, True, udp), _frag(3, 8, False, b"z" * 8)
    data = pcap_bytes([first, last], times=[(T0, 0), (T0 + 31, 0)])
    packets, info = read(write(tmp_path, "late.pcap", data))
    assert packets == []
    assert info.warnings == [
        "2 fragmented IPv4 datagrams not reassembled "
        "(1 incomplete at end, 1 timed out, 0 evicted at the memory bound, 0 malformed)"
    ]
    data = pcap_bytes([first, last], times=[(T0, 0), (T0 + 29, 0)])
    (p,), _ = read(write(tmp_path, "ok.pcap", data))
    assert p.payload == b"z" * 8


def test_reassembler_bounds() -> None:
    r = Reassembler(timeout=30.0, max_datagrams=3, max_bytes=100)
    for i in range(5):
        assert r.add(i, 0.0, 0, b"x" * 8, True, 20) is None
    assert (r.pending, r.evicted) == (3, 2)
    assert r.add("big", 0.0, 0, b"y" * 96, True, 20) is None  # pushes held bytes over 100
    assert r.held <= 100
    assert r.add("bad", 0.0, 65528, b"z" * 16, False, None) is None  # past 65535
    assert r.malformed == 1


def test_reassembler_conflicting_last_fragments() -> None:
    r = Reassembler(timeout=30.0)
    assert r.add("k", 0.0, 16, b"a" * 8, False, None) is None
    assert r.add("k", 0.0, 32, b"a" * 8, False, None) is None
    assert (r.malformed, r.pending) == (1, 0)


def test_address_cache_is_reused() -> None:
    dec = IPDecoder()
    raw = bytes(tcp4())
    a = dec.v4(raw, 0, len(raw), 0.0)
    b = dec.v4(raw, 0, len(raw), 0.0)
    assert a is not None and b is not None
    assert a.src is b.src and a.dst is b.dst


# -- API -----------------------------------------------------------------------------------------
def test_is_capture_file(tmp_path: Path) -> None:
    pcap = pcap_bytes([eth(tcp4())])
    ng = ng_shb() + ng_idb()
    cases = {
        "a.pcap": pcap, "b.pcapng": ng, "c.pcap.gz": gzip.compress(pcap),
        "d.txt": b"hello world", "e.gz": gzip.compress(b"hello world"), "f": b"",
        "g.gz": b"\x1f\x8b\x08garbage",
    }
    for name, data in cases.items():
        write(tmp_path, name, data)
    assert {n: is_capture_file(tmp_path / n) for n in cases} == {
        "a.pcap": True, "b.pcapng": True, "c.pcap.gz": True,
        "d.txt": False, "e.gz": False, "f": False, "g.gz": False,
    }
    assert not is_capture_file(tmp_path / "missing.pcap")
    assert not is_capture_file(tmp_path)


def test_capture_iterates_once_and_close_early(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pcap", pcap_bytes([eth(tcp4())] * 3))
    cap = open_capture(path)
    assert isinstance(cap, Capture)
    it = iter(cap)
    assert next(it) == TCP4
    cap.close()
    assert cap.info.packets == 1
    assert cap.info.sha256 == ""
    with pytest.raises(ValueError, match="only once"):
        iter(cap)
    with open_capture(path) as cap2:
        assert len(list(cap2)) == 3
        with pytest.raises(ValueError):
            iter(cap2)
