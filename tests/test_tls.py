"""Tests for detector.dialects.tls: ClientHello/ServerHello/Certificate parsing, JA3, JA4.

Oracles:
- Zeek's btest baselines for tls-conn-with-extensions.pcap (ssl.log, x509.log) in the corpus.
- tshark 4.0 (Debian 12), JA3 strings copied from
  ``tshark -r FILE -Y tls.handshake.type==1 -T fields -e tcp.stream -e tls.handshake.ja3_full``
  and certificate fields from ``-e x509af.serialNumber -e x509af.utcTime -e x509ce.dNSName``.
- The JA3 README examples (github.com/salesforce/ja3) and the ja3-rustls crate docs' ClientHello.
- The JA4 spec example (FoxIO-LLC/ja4 technical_details/JA4.md), which FoxIO's Rust unit test
  reproduces for ja4 / ja4_r / ja4_o / ja4_ro.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import random
import struct
import time
from collections import defaultdict
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import PcapReader

from detector.dialects import tls
from detector.errors import NeedMoreData

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
GSTATIC = CORPUS / "zeek/Traces/tls/tls-conn-with-extensions.pcap"
COINHIVE = CORPUS / "zeek-cryptomining/Traces/coinhive.pcap"
BITMINTER = CORPUS / "zeek-cryptomining/Traces/bitcoin-mining.pcap"
COINHIVE_STRATUM = CORPUS / "zeek-cryptomining/Traces/coinhive-stratum.pcap"
ZEEK_SSL = CORPUS / "zeek/Baseline/scripts.base.protocols.ssl.basic"

Key = tuple[str, int, str, int]


# --- helpers -------------------------------------------------------------------------------------


def tcp_streams(path: Path) -> dict[Key, bytes]:
    """Per-direction TCP payload streams in sequence order (first copy of each seq kept)."""
    segments: dict[Key, dict[int, bytes]] = defaultdict(dict)
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if IP not in pkt or TCP not in pkt:
                continue
            size = pkt[IP].len - 4 * pkt[IP].ihl - 4 * pkt[TCP].dataofs  # drops Ethernet padding
            if size > 0:
                key = (pkt[IP].src, pkt[TCP].sport, pkt[IP].dst, pkt[TCP].dport)
                segments[key].setdefault(pkt[TCP].seq, bytes(pkt[TCP].payload)[:size])
    streams = {}
    for key, segs in segments.items():
        base, buf = min(segs), bytearray()
        for seq in sorted(segs):
            offset = (seq - base) & 0xFFFFFFFF
            if offset > len(buf):
                break  # a hole: keep the contiguous prefix only
            buf[offset : offset + len(segs[seq])] = segs[seq]
        streams[key] = bytes(buf)
    return streams


@pytest.fixture(scope="module")
def gstatic() -> dict[Key, bytes]:
    return tcp_streams(GSTATIC)


@pytest.fixture(scope="module")
def coinhive() -> dict[Key, bytes]:
    return tcp_streams(COINHIVE)


@pytest.fixture(scope="module")
def bitminter() -> dict[Key, bytes]:
    return tcp_streams(BITMINTER)


def zeek_rows(path: Path) -> list[dict[str, str]]:
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


def u16s(values: list[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def vec(prefix_len: int, body: bytes) -> bytes:
    return len(body).to_bytes(prefix_len, "big") + body


def ext(etype: int, body: bytes) -> bytes:
    return struct.pack("!H", etype) + vec(2, body)


def sni_ext(name: str) -> bytes:
    return ext(0x0000, vec(2, b"\x00" + vec(2, name.encode())))


def alpn_ext(*names: bytes) -> bytes:
    return ext(0x0010, vec(2, b"".join(vec(1, n) for n in names)))


def client_hello(
    ciphers: list[int],
    extensions: list[bytes] | None,
    version: int = 0x0303,
    record_version: int = 0x0301,
) -> bytes:
    """A ClientHello record; ``extensions=None`` omits the extensions block entirely."""
    body = struct.pack("!H", version) + bytes(32) + vec(1, b"") + vec(2, u16s(ciphers)) + vec(1, b"\x00")
    if extensions is not None:
        body += vec(2, b"".join(extensions))
    handshake = b"\x01" + vec(3, body)
    return struct.pack("!BHH", 22, record_version, len(handshake)) + handshake


def server_hello(cipher: int, extensions: list[bytes], random_: bytes = bytes(32)) -> bytes:
    body = struct.pack("!H", 0x0303) + random_ + vec(1, b"") + struct.pack("!HB", cipher, 0)
    body += vec(2, b"".join(extensions))
    handshake = b"\x02" + vec(3, body)
    return struct.pack("!BHH", 22, 0x0303, len(handshake)) + handshake


def rerecord(stream: bytes, size: int) -> bytes:
    """Re-split the leading handshake records' payload into records of ``size`` bytes."""
    payload, pos = b"", 0
    while pos + 5 <= len(stream) and stream[pos] == 22:
        length = struct.unpack_from("!H", stream, pos + 3)[0]
        payload += stream[pos + 5 : pos + 5 + length]
        pos += 5 + length
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(struct.pack("!BHH", 22, 0x0301, len(c)) + c for c in chunks) + stream[pos:]


GREASE = [0x0A0A, 0x1A1A, 0xFAFA]


# --- JA3: published examples ---------------------------------------------------------------------

JA3_README_1 = "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
JA3_CIPHERS_1 = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]


def readme_hello_1(grease: bool = False) -> bytes:
    ciphers = ([GREASE[0]] if grease else []) + JA3_CIPHERS_1
    groups = ([GREASE[1]] if grease else []) + [23, 24, 25]
    exts = [sni_ext("example.com"), ext(10, vec(2, u16s(groups))), ext(11, vec(1, b"\x00"))]
    if grease:
        exts.insert(1, ext(GREASE[2], b""))
    return client_hello(ciphers, exts, version=0x0301)


def test_ja3_readme_example_with_extensions() -> None:
    ch = tls.parse_client_hello(readme_hello_1())
    assert ch is not None
    assert tls.ja3(ch) == (JA3_README_1, "ada70206e40642a3e4461f35503241d5")


def test_ja3_readme_example_without_extensions() -> None:
    ch = tls.parse_client_hello(client_hello([4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], None, version=0x0301))
    assert ch is not None and ch.extensions == ()
    assert tls.ja3(ch) == ("769,4-5-10-9-100-98-3-6-19-18-99,,,", "de350869b8c85de67a350c8d186f11e6")


def test_ja3_ignores_grease_everywhere() -> None:
    ch = tls.parse_client_hello(readme_hello_1(grease=True))
    assert ch is not None
    assert GREASE[0] in ch.cipher_suites and GREASE[2] in ch.extensions  # kept in the record
    assert tls.ja3(ch)[0] == JA3_README_1


#: ClientHello from the ja3-rustls crate documentation (docs.rs/ja3-rustls, lib.rs example)
RUSTLS_HELLO = bytes.fromhex(
    "16030100f5010000f10303ad8e0c8dfe3adbc045e51aee4cb9480c02d5da4a240f95e8282a1f51be34901a20681af8"
    "0b44c4b359adb3f9543a966e07e6ba6bed551472a62cd4b107cbd40e830014130213011303c02cc02bcca9c030c02f"
    "cca800ff01000094002b00050403040303000b00020100000a00080006001d00170018000d0014001205030403080708"
    "0608050804060105010401001700000005000501000000000000001800160000137777772e706574616c7365617263"
    "682e636f6d00120000003300260024001d0020086fffef5fa7f04fb7d788615bc425820eba366ddb5f75c7d8336a0a"
    "05722d38002d0002010100230000"
)


def test_ja3_matches_ja3_rustls_documented_hello() -> None:
    ch = tls.parse_client_hello(RUSTLS_HELLO)
    assert ch is not None
    assert tls.ja3(ch)[0] == (
        "771,4866-4865-4867-49196-49195-52393-49200-49199-52392-255,43-11-10-13-23-5-0-18-51-45-35,29-23-24,0"
    )
    assert ch.server_name == "www.petalsearch.com"
    assert ch.supported_versions == (0x0304, 0x0303)
    assert ch.supported_groups == (0x001D, 0x0017, 0x0018)
    assert ch.ec_point_formats == (0,)
    assert ch.signature_algorithms[:3] == (0x0503, 0x0403, 0x0807)


# --- JA4: the spec example -----------------------------------------------------------------------

SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014,
                0x009C, 0x009D, 0x002F, 0x0035]
SPEC_EXT_ORDER = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012,
                  0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_hello(*, grease: bool = False, sigalgs: list[int] = SPEC_SIGALGS, alpn: bytes = b"h2") -> bytes:
    bodies = {
        0x0000: sni_ext("example.com")[4:],
        0x0010: alpn_ext(alpn, b"http/1.1")[4:],
        0x000D: vec(2, u16s(sigalgs)),
        0x002B: vec(1, u16s(([GREASE[0]] if grease else []) + [0x0304, 0x0303])),
        0x000A: vec(2, u16s([0x001D, 0x0017])),
        0x000B: vec(1, b"\x00"),
    }
    exts = [ext(t, bodies.get(t, b"")) for t in SPEC_EXT_ORDER]
    ciphers = list(SPEC_CIPHERS)
    if grease:
        exts = [ext(GREASE[1], b""), *exts, ext(GREASE[2], b"\x00")]
        ciphers = [GREASE[2], *ciphers]
    return client_hello(ciphers, exts)


def test_ja4_spec_example() -> None:
    ch = tls.parse_client_hello(spec_hello())
    assert ch is not None
    assert tls.ja4(ch) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert tls.ja4(ch, original=True) == "t13d1516h2_acb858a92679_18f69afefd3d"
    assert tls.ja4_raw(ch) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601"
    )
    assert tls.ja4_raw(ch, original=True) == (
        "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_"
        "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_"
        "0403,0804,0401,0503,0805,0501,0806,0601"
    )


def test_ja4_ignores_grease() -> None:
    ch = tls.parse_client_hello(spec_hello(grease=True))
    assert ch is not None and len(ch.extensions) == 18
    assert tls.ja4(ch) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_ja4_without_signature_algorithms_ends_without_underscore() -> None:
    ch = tls.parse_client_hello(spec_hello(sigalgs=[]))
    assert ch is not None
    assert tls.ja4(ch) == "t13d1516h2_8daaf6152771_6d807ffa2a79"  # JA4.md: "= 6d807ffa2a79"


@pytest.mark.parametrize(
    ("alpn", "expected"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"\xab", "ab"),  # JA4.md ALPN examples for non-alphanumeric bytes
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
        (b"x", "xx"),  # single character: "treated as both the first and last character"
        (b"", "00"),
    ],
)
def test_ja4_alpn_characters(alpn: bytes, expected: str) -> None:
    ch = tls.parse_client_hello(spec_hello(alpn=alpn))
    assert ch is not None
    assert tls.ja4(ch)[8:10] == expected


def test_ja4_version_sni_counts_and_empty_lists() -> None:
    no_ext = tls.parse_client_hello(client_hello([0x002F], None, version=0x0300))
    assert no_ext is not None
    assert tls.ja4(no_ext) == "ts3i010000_" + hashlib.sha256(b"002f").hexdigest()[:12] + "_000000000000"
    many = tls.parse_client_hello(client_hello(list(range(1, 121)), [ext(0x0017, b"")]))
    assert many is not None
    assert tls.ja4(many).startswith("t12i9901")
    empty = tls.parse_client_hello(client_hello([], [ext(0x0017, b"")]))
    assert empty is not None
    assert tls.ja4(empty).split("_")[1] == "000000000000"
    draft = tls.parse_client_hello(client_hello([0x1301], [ext(0x002B, vec(1, u16s([0x7F17, 0x0303])))]))
    assert draft is not None
    assert tls.ja4(draft, "q").startswith("q00i0101")  # TLS 1.3 draft-23: unknown version "00"


# --- corpus: Zeek baseline -----------------------------------------------------------------------

GSTATIC_CLIENT = ("192.168.1.105", 62045, "74.125.224.79", 443)
GSTATIC_SERVER = ("74.125.224.79", 443, "192.168.1.105", 62045)
#: IANA names of the cipher suites seen here (Zeek logs the name)
CIPHER_NAMES = {0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA"}
ZEEK_VERSIONS = {0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}


def test_gstatic_matches_zeek_ssl_log(gstatic: dict[Key, bytes]) -> None:
    (row,) = zeek_rows(ZEEK_SSL / "ssl.log")
    ch = tls.parse_client_hello(gstatic[GSTATIC_CLIENT])
    sh = tls.parse_server_hello(gstatic[GSTATIC_SERVER])
    certs = tls.parse_certificates(gstatic[GSTATIC_SERVER])
    assert ch is not None and sh is not None
    assert ch.server_name == row["server_name"] == "ssl.gstatic.com"
    assert ZEEK_VERSIONS[sh.version] == row["version"]
    assert CIPHER_NAMES[sh.cipher_suite] == row["cipher"]
    assert ",".join(c.sha256 for c in certs) == row["cert_chain_fps"]


def test_gstatic_certificates_match_zeek_x509_log(gstatic: dict[Key, bytes]) -> None:
    rows = zeek_rows(ZEEK_SSL / "x509.log")
    certs = tls.parse_certificates(gstatic[GSTATIC_SERVER])
    assert len(certs) == len(rows) == 2
    for cert, row in zip(certs, rows, strict=True):
        assert cert.sha256 == row["fingerprint"]
        assert str(cert.version) == row["certificate.version"]
        assert cert.serial == row["certificate.serial"]
        assert cert.subject == row["certificate.subject"]
        assert cert.issuer == row["certificate.issuer"]
        assert cert.not_before == float(row["certificate.not_valid_before"])
        assert cert.not_after == float(row["certificate.not_valid_after"])
        assert (",".join(cert.san_dns) or "-") == row["san.dns"]
        assert cert.malformed is None
    assert certs[0].subject_cn == "*.gstatic.com"
    assert certs[0].issuer_cn == certs[1].subject_cn == "Google Internet Authority"
    assert certs[1].issuer_cn is None  # Equifax root: OU, O, C only


def test_gstatic_client_hello_fields_and_fingerprints(gstatic: dict[Key, bytes]) -> None:
    ch = tls.parse_client_hello(gstatic[GSTATIC_CLIENT])
    assert ch is not None
    assert (ch.record_version, ch.version) == (0x0301, 0x0301)
    assert ch.extensions == (0x0000, 0xFF01, 0x000A, 0x000B, 0x0023, 0x3374)
    assert ch.supported_groups == (23, 24, 25) and ch.ec_point_formats == (0,)
    assert ch.alpn == () and ch.supported_versions == () and ch.signature_algorithms == ()
    assert tls.ja3(ch) == (
        "769,49162-49172-136-135-57-56-49167-49157-132-53-49159-49161-49169-49171-69-68-102-51-50-"
        "49164-49166-49154-49156-150-65-4-5-47-49160-49170-22-19-49165-49155-65279-10,"
        "0-65281-10-11-35-13172,23-24-25,0",
        "62351d5ea3cd4f21f697965b10a9bbbe",
    )
    assert tls.ja4(ch) == "t10d360600_b06c425f59b5_eb0e26099a3f"


# --- corpus: mining captures ---------------------------------------------------------------------

#: tshark ja3 hashes per SNI in coinhive.pcap (Firefox 2018, two extension layouts)
COINHIVE_JA3 = {"authedmine.com": {"e539cf186447573e3ac2e0b10e262bd1", "7375c86ede5d928ba34a0622e4ac0dcd"},
                "ws027.authedmine.com": {"7375c86ede5d928ba34a0622e4ac0dcd"}}


def test_coinhive_snis_and_ja3(coinhive: dict[Key, bytes]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for key, stream in coinhive.items():
        if key[3] == 443 and stream[:1] == b"\x16":
            ch = tls.parse_client_hello(stream)
            assert ch is not None, key
            seen[ch.server_name or ""].add(tls.ja3(ch)[1])
    assert {name: seen[name] for name in COINHIVE_JA3} == COINHIVE_JA3
    assert sum(1 for k, v in coinhive.items() if k[3] == 443 and v[:1] == b"\x16") == 21
    assert len(seen) == 12  # tshark: 12 distinct server names in the 21 ClientHellos


def test_coinhive_ws027_server_side(coinhive: dict[Key, bytes]) -> None:
    server = coinhive[("37.187.167.83", 443, "10.0.2.15", 46634)]
    sh = tls.parse_server_hello(server)
    assert sh is not None
    assert (sh.version, sh.cipher_suite, sh.alpn) == (0x0303, 0xC02F, "http/1.1")
    certs = tls.parse_certificates(server)
    assert [c.serial for c in certs] == [
        "CA05ECCB398E095BF136DDF6D935FFAC", "2B2E6EEAD975366C148A6EDBA37C8C07", "2766EE56EB49F38EABD770A2FC84DE22",
    ]
    leaf = certs[0]
    assert leaf.subject_cn == "*.authedmine.com"
    assert leaf.issuer_cn == "COMODO RSA Domain Validation Secure Server CA"
    assert leaf.san_dns == ("*.authedmine.com", "authedmine.com")
    assert leaf.not_before == calendar.timegm((2017, 10, 13, 0, 0, 0))
    assert leaf.not_after == calendar.timegm((2018, 10, 13, 23, 59, 59))


def test_coinhive_resumed_session_has_no_certificate(coinhive: dict[Key, bytes]) -> None:
    server = coinhive[("217.182.164.10", 443, "10.0.2.15", 45732)]
    sh = tls.parse_server_hello(server)
    assert sh is not None and sh.alpn == "http/1.1"
    assert tls.parse_certificates(server) == []  # ServerHello, then ChangeCipherSpec


def test_bitminter_tls_hellos_on_stratum_port(bitminter: dict[Key, bytes]) -> None:
    hellos = {k: tls.parse_client_hello(s) for k, s in bitminter.items() if k[3] == 3333 and s[:1] == b"\x16"}
    assert len(hellos) == 5
    for ch in hellos.values():
        assert ch is not None and ch.server_name == "us1.bitminter.com" and ch.alpn == ("http/1.1",)
        assert tls.ja3(ch)[1] == "ec2e8760003621ca668b5f03e616cd57"
        assert tls.ja4(ch) == "t12d5410h1_a499d9840d02_7448b1316cd7"
    replies = [bitminter[(k[2], k[3], k[0], k[1])] for k in hellos if (k[2], k[3], k[0], k[1]) in bitminter]
    assert replies and all(tls.parse_server_hello(r, final=True) is None for r in replies)  # JSON errors


def test_coinhive_stratum_capture_hello() -> None:
    streams = tcp_streams(COINHIVE_STRATUM)
    ch = tls.parse_client_hello(streams[("10.0.2.15", 48118, "104.20.208.59", 443)])
    assert ch is not None and ch.server_name == "coinhive.com" and ch.alpn == ("h2", "http/1.1")
    assert tls.ja3(ch)[1] == "94c485bca29d5392be53f2b8cf7f4304"


# --- segmentation --------------------------------------------------------------------------------


def test_client_hello_every_prefix_needs_more(gstatic: dict[Key, bytes]) -> None:
    stream = gstatic[GSTATIC_CLIENT]
    full = tls.parse_client_hello(stream)
    end = 5 + struct.unpack_from("!H", stream, 3)[0]
    for cut in range(end):
        with pytest.raises(NeedMoreData):
            tls.parse_client_hello(stream[:cut])
    assert tls.parse_client_hello(stream[:end]) == full


def test_handshake_split_over_many_records(gstatic: dict[Key, bytes]) -> None:
    server = gstatic[GSTATIC_SERVER]
    for size in (1, 7, 100):
        split = rerecord(server, size)
        assert tls.parse_server_hello(split) == tls.parse_server_hello(server)
        assert tls.parse_certificates(split) == tls.parse_certificates(server)
    assert tls.parse_client_hello(rerecord(gstatic[GSTATIC_CLIENT], 3)) is not None


def test_certificates_need_more_until_the_message_is_complete(gstatic: dict[Key, bytes]) -> None:
    server = gstatic[GSTATIC_SERVER]
    full = tls.parse_certificates(server)
    end = 90 + 5 + 0x658  # ServerHello record (5 + 0x55), then the record holding the Certificate
    for cut in [*range(0, end, 37), end - 1]:
        with pytest.raises(NeedMoreData):
            tls.parse_certificates(server[:cut])
    assert tls.parse_certificates(server[:end]) == full
    assert tls.parse_certificates(server[:1200], final=True) == full[:1]  # leaf complete, CA cut


def test_truncated_hello_salvaged_with_final(gstatic: dict[Key, bytes]) -> None:
    stream = gstatic[GSTATIC_CLIENT]
    cut = stream.index(b"ssl.gstatic.com") + len(b"ssl.gstatic.com")
    ch = tls.parse_client_hello(stream[:cut], final=True)
    assert ch is not None and ch.truncated and ch.malformed is None
    assert ch.server_name == "ssl.gstatic.com"
    assert tls.parse_client_hello(stream[:10], final=True) is None  # not even the version
    bare = tls.parse_client_hello(stream[:11], final=True)
    assert bare is not None and bare.version == 0x0301 and bare.cipher_suites == () and bare.truncated


# --- ServerHello details -------------------------------------------------------------------------


def test_tls13_server_hello_and_no_certificates() -> None:
    sh_bytes = server_hello(0x1301, [ext(0x002B, b"\x03\x04"), ext(0x0033, bytes(36))])
    stream = sh_bytes + b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x20" + bytes(32)
    sh = tls.parse_server_hello(stream)
    assert sh is not None
    assert (sh.legacy_version, sh.supported_version, sh.version) == (0x0303, 0x0304, 0x0304)
    assert not sh.hello_retry
    assert tls.parse_certificates(stream) == []
    assert tls.parse_certificates(sh_bytes) == []  # TLS 1.3 is known from the ServerHello alone


def test_hello_retry_request_is_flagged() -> None:
    sh = tls.parse_server_hello(server_hello(0x1301, [ext(0x002B, b"\x03\x04")], random_=tls.HRR_RANDOM))
    assert sh is not None and sh.hello_retry


def test_server_alpn_selected() -> None:
    sh = tls.parse_server_hello(server_hello(0xC02F, [alpn_ext(b"h2")]))
    assert sh is not None and sh.alpn == "h2" and sh.supported_version is None and sh.version == 0x0303


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b'{"id":1,"method":"mining.subscribe","params":[]}\n',
        b"\x17\x03\x03\x00\x10" + bytes(16),  # application data first
        b"\x16\x03\x01\xff\xff" + bytes(10),  # record longer than 2^14 + 2048
        b"\x16\x03\x01\x00\x00",  # empty handshake record
        b"\x16\x02\x00\x00\x05\x01\x00\x00\x01\x00",  # not TLS major version 3
        b"\x16\x03\x01\x00\x08\x01\xff\xff\xff\x03\x03\x00\x00",  # hello claims 16 MiB
        b"\x16\x03\x01\x00\x06\x02\x00\x00\x02\x03\x03",  # a ServerHello where a ClientHello belongs
    ],
)
def test_not_a_client_hello(data: bytes) -> None:
    assert tls.parse_client_hello(data) is None
    assert tls.parse_client_hello(data, final=True) is None


@pytest.mark.parametrize("data", [b"", b"\x16", b"\x16\x03", b"\x16\x03\x01\x02", b"\x16\x03\x01\x02\x00\x01"])
def test_plausible_prefixes_need_more(data: bytes) -> None:
    with pytest.raises(NeedMoreData):
        tls.parse_client_hello(data)
    assert tls.parse_client_hello(data, final=True) is None


def test_overrunning_extension_is_flagged_not_raised() -> None:
    good = client_hello([0x1301], [sni_ext("pool.example.com"), ext(0x0017, b"")])
    handshake_len = struct.unpack_from("!H", good, 3)[0]
    bad = bytearray(good)
    bad[-2] = 0x40  # the last extension now claims 0x4000 bytes
    ch = tls.parse_client_hello(bytes(bad[: 5 + handshake_len]))
    assert ch is not None and ch.server_name == "pool.example.com"
    assert ch.malformed == "a length field overruns the message" and not ch.truncated


def test_broken_certificate_der_is_flagged() -> None:
    der = b"\x30\x82\x10\x00\x30\x03\x02\x01"  # SEQUENCE claims 4096 bytes, has 4
    handshake = b"\x0b" + vec(3, vec(3, vec(3, der)))
    stream = struct.pack("!BHH", 22, 0x0303, len(handshake)) + handshake
    (cert,) = tls.parse_certificates(stream)
    assert cert.malformed == "DER truncated" and cert.subject == "" and len(cert.sha256) == 64


def test_certificate_chain_length_is_capped() -> None:
    handshake = b"\x0b" + vec(3, vec(3, vec(3, b"\x30\x00") * 1000))
    stream = struct.pack("!BHH", 22, 0x0303, len(handshake)) + handshake
    certs = tls.parse_certificates(stream)
    assert len(certs) == tls.MAX_CHAIN == 16
    assert all(c.malformed == "DER truncated" for c in certs)


def test_fuzzed_streams_never_raise(gstatic: dict[Key, bytes]) -> None:
    rng = random.Random(20240601)
    samples = [gstatic[GSTATIC_CLIENT], gstatic[GSTATIC_SERVER][:3000], RUSTLS_HELLO]
    started = time.perf_counter()
    for _ in range(1500):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))]
        for parse in (tls.parse_client_hello, tls.parse_server_hello, tls.parse_certificates):
            parse(bytes(data), final=True)
            with contextlib.suppress(NeedMoreData):
                parse(bytes(data))
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
        tls.parse_client_hello(b"\x16\x03\x01" + junk, final=True)
        tls.parse_certificates(b"\x16\x03\x03" + junk, final=True)
    assert time.perf_counter() - started < 10


def test_peek_server_name_agrees_with_the_full_parse_on_every_corpus_hello(
        gstatic: dict[Key, bytes], coinhive: dict[Key, bytes], bitminter: dict[Key, bytes]) -> None:
    from detector.dialects.tls import parse_client_hello, peek_server_name

    seen = 0
    for streams in (gstatic, coinhive, bitminter):
        for stream in streams.values():
            if stream[:1] != b"\x16" or len(stream) < 6 or stream[5] != 1:
                continue
            full = parse_client_hello(stream, final=True)
            assert full is not None
            quick = peek_server_name(stream)
            if quick is not None:
                assert quick == (full.server_name or "").lower()
                seen += 1
    assert seen >= 20


def test_peek_server_name_is_safe_on_hostile_input() -> None:
    import random

    from detector.dialects.tls import peek_server_name

    rng = random.Random(7)
    name = b"pool.example.org"
    sni = (0).to_bytes(2, "big") + (len(name) + 5).to_bytes(2, "big") + (len(name) + 3).to_bytes(2, "big") \
        + b"\x00" + len(name).to_bytes(2, "big") + name
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + len(sni).to_bytes(2, "big") + sni
    hello = b"\x01" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x01" + len(hello).to_bytes(2, "big") + hello
    assert peek_server_name(record) == "pool.example.org"
    for _ in range(5000):
        data = bytearray(record)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        got = peek_server_name(bytes(data[: rng.randrange(len(data) + 1)]))
        assert got is None or got == "" or (got.isascii() and got.isprintable() and " " not in got)
