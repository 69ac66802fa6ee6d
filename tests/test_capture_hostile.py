"""Capture stage on hostile input: wrong files, truncation, corrupt records and gzip, garbage
headers, bounded warnings, and a seeded fuzz over random bytes, truncations and bit flips."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Raw
from test_capture import (
    STRATUM,
    TCP4,
    at,
    eth,
    ng_block,
    ng_epb,
    ng_idb,
    ng_shb,
    pcap_bytes,
    read,
    tcp4,
    udp6,
    write,
)

from detector.capture import open_capture
from detector.capture.pcap import Stream, Warnings
from detector.errors import CaptureFormatError, InputError, UnreadableInputError

FRAME = eth(tcp4())
REC = 16 + len(FRAME)  # one pcap record


def three(tmp_path: Path) -> bytes:
    return pcap_bytes([FRAME] * 3)


# -- not a capture / unreadable ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world, not a capture", "not a pcap or pcapng capture (starts with 68656c6c6f20776f)"),
        (b"\x1f\x8b", "gzip data unreadable before any capture data: "
                     "gzip stream truncated (compressed data ends early)"),
        (b"\xd4\xc3", "not a pcap or pcapng capture (starts with d4c3)"),
        (b"", "empty file, not a pcap or pcapng capture"),
        (gzip.compress(b"GIF89a......"),
         "gzip-compressed, but not a pcap or pcapng capture (data starts with 4749463839612e2e)"),
        (b"\x1f\x8b\x08\x00garbage-garbage",
         "gzip data unreadable before any capture data: corrupt gzip data "
         "(Error -3 while decompressing data: "),  # zlib's reason follows
    ],
    ids=["text", "gzip-magic-only", "short-pcap-magic", "empty", "gzip-of-gif", "corrupt-gzip"],
)
def test_not_a_capture(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path, "x.bin", data)
    with pytest.raises(CaptureFormatError) as err:
        open_capture(path)
    assert str(err.value) == f"{path}: {message}" or (
        message.endswith(": ") and str(err.value).startswith(f"{path}: {message}"))
    assert "\n" not in str(err.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match=r"nope\.pcap: no such file$"):
        open_capture(tmp_path / "nope.pcap")
    with pytest.raises(UnreadableInputError, match="is a directory"):
        open_capture(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.capture as capture

    def denied(*_args: object, **_kw: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(capture, "open", denied, raising=False)
    with pytest.raises(UnreadableInputError) as err:
        open_capture(write(tmp_path, "a.pcap", three(tmp_path)))
    assert str(err.value).endswith("a.pcap: permission denied")
    assert isinstance(err.value, InputError)


def test_read_error_mid_file_is_a_warning() -> None:
    class Flaky(io.BytesIO):
        calls = 0

        def read(self, n: int | None = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError(5, "Input/output error")
            return super().read(n)

    warn_list: list[str] = []
    stream = Stream(Flaky(b"abcdef"), Warnings(warn_list))
    assert stream.more(6)
    assert not stream.more(7)
    assert warn_list == ["offset 6: read error: Input/output error"]
    assert stream.failed


# -- truncation and corrupt records ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("cut", "kept", "warning"),
    [
        (24 + 2 * REC, 2, None),
        (24 + 2 * REC + 5, 2, f"offset {24 + 2 * REC}: truncated record header"),
        (24 + 2 * REC + 16, 2, f"offset {24 + 2 * REC}: truncated record (0 of {len(FRAME)} bytes)"),
        (24 + 3 * REC - 1, 2,
         f"offset {24 + 2 * REC}: truncated record ({len(FRAME) - 1} of {len(FRAME)} bytes)"),
        (24, 0, None),
        (10, 0, "offset 0: truncated pcap file header"),
    ],
)
def test_truncated_pcap(tmp_path: Path, cut: int, kept: int, warning: str | None) -> None:
    data = three(tmp_path)[:cut]
    packets, info = read(write(tmp_path, "t.pcap", data))
    assert packets == [at(TCP4, 1_700_000_000 + i * 1.001) for i in range(kept)]
    assert info.packets == kept
    assert info.warnings == ([warning] if warning else [])
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_absurd_caplen_stops_but_hashes_whole_file(tmp_path: Path) -> None:
    data = bytearray(three(tmp_path))
    struct.pack_into("<I", data, 24 + REC + 8, 300_000)  # second record's caplen
    packets, info = read(write(tmp_path, "c.pcap", bytes(data)))
    assert packets == [TCP4]
    assert info.warnings == [
        f"offset {24 + REC}: corrupt record header (captured length 300000 > 65535)"
    ]
    assert info.sha256 == hashlib.sha256(bytes(data)).hexdigest()
    assert info.size == len(data)


def test_caplen_above_sane_snaplen_is_corrupt(tmp_path: Path) -> None:
    data = pcap_bytes([FRAME[:60], FRAME], snaplen=60)
    packets, info = read(write(tmp_path, "s.pcap", data))
    assert len(packets) == 1
    assert info.warnings == [
        f"offset {24 + 16 + 60}: corrupt record header (captured length {len(FRAME)} > 60)"
    ]


def test_insane_snaplen_falls_back_to_256k_limit(tmp_path: Path) -> None:
    packets, info = read(write(tmp_path, "s.pcap", pcap_bytes([FRAME], snaplen=0xFFFFFFFF)))
    assert (len(packets), info.warnings) == (1, [])


def _ng(*blocks: bytes) -> bytes:
    return ng_shb() + ng_idb() + b"".join(blocks)


EPB = ng_epb("<", 0, 1_700_000_000 * 10**6, FRAME)
HEAD = len(ng_shb() + ng_idb())


@pytest.mark.parametrize(
    ("data", "kept", "warning"),
    [
        (_ng(EPB, EPB[:-10]), 1, f"offset {HEAD + len(EPB)}: truncated block (type 0x6: "
                                   f"{len(EPB) - 10} of {len(EPB)} bytes)"),
        (_ng(EPB, EPB[:6]), 1, f"offset {HEAD + len(EPB)}: truncated block header"),
        (_ng(EPB, EPB[:-4] + b"\0\0\0\0", EPB), 1,
         f"offset {HEAD + len(EPB)}: corrupt block (type 0x6): trailing length differs"),
        (_ng(EPB, struct.pack("<II", 6, 13) + b"\0" * 8, EPB), 1,
         f"offset {HEAD + len(EPB)}: corrupt block (type 0x6, length 13)"),
        (_ng(EPB, struct.pack("<II", 6, 8) + b"\0" * 8), 1,
         f"offset {HEAD + len(EPB)}: corrupt block (type 0x6, length 8)"),
        (_ng(EPB, struct.pack("<II", 0x0A0D0D0A, 28) + b"XXXX" + b"\0" * 16), 1,
         f"offset {HEAD + len(EPB)}: section header block with a bad byte-order magic"),
        (_ng(EPB, ng_block("<", 6, struct.pack("<IIIII", 0, 0, 0, 400_000, 60) + b"\0" * 60)), 1,
         f"offset {HEAD + len(EPB)}: corrupt packet block (captured length 400000, block length 92)"),
        (_ng(EPB, ng_block("<", 6, b"\0" * 8)), 1,
         f"offset {HEAD + len(EPB)}: corrupt enhanced packet block (length 20)"),
        (ng_shb(major=2) + ng_idb() + EPB + ng_shb() + ng_idb() + EPB, 1,
         "offset 0: pcapng version 2.0 section skipped"),
    ],
    ids=["cut-block", "cut-header", "bad-trailer", "len-not-4n", "len-lt-12", "bad-bom",
         "caplen-huge", "epb-short", "version-2"],
)
def test_corrupt_pcapng(tmp_path: Path, data: bytes, kept: int, warning: str) -> None:
    packets, info = read(write(tmp_path, "c.pcapng", data))
    assert len(packets) == kept
    assert info.warnings == [warning]


def test_warnings_are_bounded(tmp_path: Path) -> None:
    data = ng_shb() + ng_epb("<", 3, 0, FRAME) * 150
    packets, info = read(write(tmp_path, "w.pcapng", data))
    assert packets == []
    assert len(info.warnings) == 101
    assert info.warnings[0].endswith("packet for undeclared interface 3 skipped")
    assert info.warnings[-1] == "... 50 more warnings not shown"


# -- gzip damage --------------------------------------------------------------------------------
BIG_FRAMES = [eth(tcp4(payload=bytes([i % 251]) * 900)) for i in range(8)] * 400  # ~3 MB


def test_gzip_bad_crc_keeps_every_packet(tmp_path: Path) -> None:
    raw = pcap_bytes([FRAME] * 50)
    data = bytearray(gzip.compress(raw))
    data[-8] ^= 0xFF  # CRC32 of the member
    packets, info = read(write(tmp_path, "crc.pcap.gz", bytes(data)))
    assert len(packets) == 50
    assert info.warnings == [
        f"offset {len(raw)}: corrupt gzip data "
        "(Error -3 while decompressing data: incorrect data check)"
    ]


def test_gzip_truncated(tmp_path: Path) -> None:
    raw = pcap_bytes(BIG_FRAMES)
    comp = gzip.compress(raw, 6)
    cut = comp[: len(comp) // 2]
    produced = len(zlib.decompressobj(31).decompress(cut))
    packets, info = read(write(tmp_path, "t.pcap.gz", cut))
    rec = 16 + len(BIG_FRAMES[0])
    whole = (produced - 24) // rec
    assert len(packets) == info.packets == whole
    assert info.warnings[0] == f"offset {produced}: gzip stream truncated (compressed data ends early)"
    assert info.warnings[1].startswith(f"offset {24 + whole * rec}: truncated record")
    assert info.sha256 == hashlib.sha256(cut).hexdigest()


def test_gzip_corrupt_deflate_data(tmp_path: Path) -> None:
    raw = pcap_bytes(BIG_FRAMES)
    comp = bytearray(gzip.compress(raw, 6))
    for i in range(len(comp) // 2, len(comp) // 2 + 64):
        comp[i] = 0xFF
    packets, info = read(write(tmp_path, "c.pcap.gz", bytes(comp)))
    assert 0 < len(packets) < len(BIG_FRAMES)
    assert any("corrupt gzip data" in w or "corrupt record" in w for w in info.warnings)
    assert all(p.proto == 6 and p.dport == 3333 for p in packets)


def test_gzip_trailing_garbage(tmp_path: Path) -> None:
    raw = three(tmp_path)
    packets, info = read(write(tmp_path, "g.pcap.gz", gzip.compress(raw) + b"JUNKJUNK"))
    assert len(packets) == 3
    assert info.warnings == [f"offset {len(raw)}: trailing data after the gzip stream ignored"]


def test_gzip_bomb_is_streamed_in_bounded_blocks(tmp_path: Path) -> None:
    raw = pcap_bytes([FRAME]) + b"\0" * (64 << 20)  # zeros read as records of caplen 0
    comp = gzip.compress(raw, 9)
    assert len(comp) < 100_000
    path = write(tmp_path, "bomb.pcap.gz", comp)
    tracemalloc.start()
    try:
        with open_capture(path) as cap:
            assert next(iter(cap)) == TCP4
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # a few 1 MiB blocks, never the 64 MiB


# -- garbage in IP / TCP / UDP headers ------------------------------------------------------------
def _v4(**kw: object) -> IP:
    return IP(src="10.0.0.1", dst="10.0.0.2", **kw)


def _patched(raw: bytes, at_: int, value: bytes) -> bytes:
    return raw[:at_] + value + raw[at_ + len(value):]


V4TCP = bytes(tcp4())
MALFORMED = {  # raw IPv4 (228) or raw IPv6 (229) link type, packet
    "ihl-3": (228, _patched(V4TCP, 0, b"\x43")),
    "version-7": (228, _patched(V4TCP, 0, b"\x75")),
    "tlen-lt-ihl": (228, _patched(V4TCP, 2, b"\x00\x10")),
    "tcp-doff-2": (228, _patched(V4TCP, 20 + 12, b"\x20")),
    "tcp-doff-past-ip": (228, _patched(bytes(_v4() / TCP()), 20 + 12, b"\xf0")),
    "tcp-short": (228, bytes(_v4(proto=6) / Raw(b"\0" * 10))),
    "udp-short": (228, bytes(_v4(proto=17) / Raw(b"\0" * 4))),
    "v6-version": (229, _patched(bytes(udp6()), 0, b"\x40")),
    "v6-ext-past-end": (229, bytes(IPv6(nh=60, plen=4) / Raw(b"\x06\xff\0\0"))),
    "v6-ext-loop": (229, bytes(IPv6(nh=60) / Raw(b"\x3c\x00\x01\x04\0\0\0\0" * 20))),  # 20 dest opts
}


@pytest.mark.parametrize(("linktype", "raw"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_are_skipped_and_counted(tmp_path: Path, linktype: int, raw: bytes) -> None:
    good = V4TCP if linktype == 228 else bytes(udp6())
    data = pcap_bytes([raw, good], linktype=linktype)
    packets, info = read(write(tmp_path, "m.pcap", data))
    assert len(packets) == 1 and packets[0].ts == 1_700_000_001.001
    assert info.packets == 2
    assert info.warnings == ["1 packets skipped: malformed IP, TCP or UDP header"]


@pytest.mark.parametrize("cut", [5, 19, 20 + 10, 14])
def test_headers_cut_by_the_capture_are_counted(tmp_path: Path, cut: int) -> None:
    data = pcap_bytes([V4TCP[:cut]], linktype=101)
    packets, info = read(write(tmp_path, "cut.pcap", data))
    assert packets == []
    assert info.warnings == ["1 packets skipped: headers cut short by the capture"]


def test_runt_ethernet_frame(tmp_path: Path) -> None:
    packets, info = read(write(tmp_path, "runt.pcap", pcap_bytes([b"\x01" * 10])))
    assert packets == []
    assert info.warnings == ["1 packets skipped: headers cut short by the capture"]


# -- fuzz ---------------------------------------------------------------------------------------
def _sample_captures() -> dict[str, bytes]:
    frames = [
        eth(tcp4()), eth(udp6()), eth(_v4(id=5, flags="MF") / UDP(sport=1, dport=2) / Raw(b"a" * 16)),
        eth(_v4(id=5, frag=3) / Raw(b"b" * 8)), eth(IPv6() / IPv6ExtHdrDestOpt() / TCP() / Raw(STRATUM)),
    ]
    pcap = pcap_bytes(frames * 4)
    ng = ng_shb() + ng_idb() + ng_idb(linktype=101, tsresol=9) + b"".join(
        ng_epb("<", i % 2, i, f if i % 2 == 0 else f[14:]) for i, f in enumerate(frames * 4))
    return {"pcap": pcap, "pcapng": ng, "gzip": gzip.compress(pcap)}


def _check(path: Path) -> None:
    try:
        cap = open_capture(path)
    except CaptureFormatError as err:
        assert "\n" not in str(err)
        return
    with cap:
        for p in cap:
            assert p.proto in (6, 17)
            assert 0 <= p.sport < 65536 and 0 <= p.dport < 65536
            assert isinstance(p.payload, bytes) and len(p.payload) <= 65535
    assert len(cap.info.warnings) <= 101
    assert cap.info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_fuzz_random_bytes_after_valid_headers(tmp_path: Path) -> None:
    rnd = random.Random(20240601)
    heads = [pcap_bytes([]), ng_shb() + ng_idb(), ng_shb(">") + ng_idb(">", 101), b""]
    for i in range(600):
        body = rnd.randbytes(rnd.randrange(0, 3000))
        _check(write(tmp_path, f"r{i}", heads[i % len(heads)] + body))


def test_fuzz_truncations_of_valid_captures(tmp_path: Path) -> None:
    rnd = random.Random(7)
    for name, data in _sample_captures().items():
        for i in range(200):
            _check(write(tmp_path, f"{name}{i}", data[: rnd.randrange(len(data) + 1)]))


def test_fuzz_bit_flips_in_valid_captures(tmp_path: Path) -> None:
    rnd = random.Random(99)
    for name, data in _sample_captures().items():
        for i in range(300):
            buf = bytearray(data)
            for _ in range(rnd.randrange(1, 12)):
                buf[rnd.randrange(len(buf))] ^= 1 << rnd.randrange(8)
            _check(write(tmp_path, f"{name}{i}", bytes(buf)))


def test_fuzz_ip_layer_directly() -> None:
    from detector.capture.ip import IPDecoder

    rnd = random.Random(1234)
    dec = IPDecoder()
    seeds = [V4TCP, bytes(udp6()), bytes(IPv6() / IPv6ExtHdrDestOpt() / UDP() / Raw(b"x"))]
    for _ in range(20000):
        raw = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randrange(1, 6)):
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        raw = raw[: rnd.randrange(len(raw) + 1)]
        for fn in (dec.v4, dec.v6):
            p = fn(bytes(raw), 0, len(raw), 0.0)
            assert p is None or p.proto in (6, 17)
