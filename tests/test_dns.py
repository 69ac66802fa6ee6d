"""Tests for detector.dialects.dns against tshark's DNS dissector, Zeek's baseline and crafted input.

Golden rows below come from tshark 4.0 (Debian 12):
``tshark -r FILE -Y dns -T fields -E separator='|' -e frame.number -e dns.id -e dns.flags
-e dns.qry.name -e dns.qry.type -e dns.resp.name -e dns.resp.type -e dns.resp.ttl -e dns.a
-e dns.aaaa -e dns.cname -e dns.soa.mname``. When tshark is installed the same command also runs
live over whole captures (``test_whole_captures_match_tshark``).
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.utils import PcapReader

from detector.dialects import dns

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DNSKEY = CORPUS / "zeek/Traces/dnssec/dnskey2.pcap"
COINHIVE_STRATUM = CORPUS / "zeek-cryptomining/Traces/coinhive-stratum.pcap"
COINHIVE = CORPUS / "zeek-cryptomining/Traces/coinhive.pcap"
ZEEK_DNS_LOG = CORPUS / "zeek/Baseline/scripts.base.protocols.dns.dns-key/dns.log"

TSHARK_FIELDS = ["frame.number", "dns.id", "dns.flags", "dns.qry.name", "dns.qry.type", "dns.resp.name",
                 "dns.resp.type", "dns.resp.ttl", "dns.a", "dns.aaaa", "dns.cname", "dns.soa.mname"]


def udp_dns(path: Path) -> dict[int, bytes]:
    """Frame number -> UDP payload of every port-53 packet."""
    out = {}
    with PcapReader(str(path)) as reader:
        for number, pkt in enumerate(reader, 1):
            if IP in pkt and UDP in pkt and 53 in (pkt[UDP].sport, pkt[UDP].dport):
                out[number] = bytes(pkt[UDP].payload)[: pkt[UDP].len - 8]
    return out


def tshark_view(number: int, msg: dns.DnsMessage) -> str:
    """Render a parsed message the way the tshark command above prints it."""
    records = msg.answers + msg.authority + msg.additional
    show = lambda name: "<Root>" if name == "." else name  # noqa: E731
    by_type = lambda t: ",".join(r.data or "" for r in records if r.rtype == t)  # noqa: E731
    fields = [
        str(number),
        f"0x{msg.id:04x}",
        f"0x{msg.flags:04x}",
        ",".join(show(q.name) for q in msg.questions),
        ",".join(str(q.qtype) for q in msg.questions),
        ",".join(show(r.name) for r in records),
        ",".join(str(r.rtype) for r in records),
        ",".join(str(r.ttl) for r in records if r.rtype != 41),  # tshark shows no TTL for OPT
        by_type(1),
        by_type(28),
        by_type(5),
        by_type(6),
    ]
    return "|".join(fields)


GOLDEN = {
    DNSKEY: [
        "1|0xa205|0x0110|paypal.com|48|<Root>|41|||||",
        "2|0xa205|0x8190|paypal.com|48|paypal.com,paypal.com,paypal.com,paypal.com,<Root>|48,48,46,46,41|"
        "455,455,455,455||||",
    ],
    COINHIVE_STRATUM: [
        "3|0xa665|0x0100|coinhive.com|1|||||||",
        "4|0xa665|0x8180|coinhive.com|1|coinhive.com,coinhive.com|1,1|177,177|104.20.208.59,104.20.209.59|||",
        "88|0x8d52|0x0100|la01.supportxmr.com|1|||||||",
        "89|0xcf13|0x0100|la01.supportxmr.com|28|||||||",
        "90|0x8d52|0x8180|la01.supportxmr.com|1|la01.supportxmr.com|1|90|192.110.160.114|||",
        "91|0xcf13|0x8180|la01.supportxmr.com|28|supportxmr.com|6|173||||ns11.constellix.com",
        "93|0x060d|0x0100|la01.supportxmr.com|1|||||||",
        "94|0x5663|0x0100|la01.supportxmr.com|28|||||||",
        "95|0x060d|0x8180|la01.supportxmr.com|1|la01.supportxmr.com|1|90|192.110.160.114|||",
        "96|0x5663|0x8180|la01.supportxmr.com|28|supportxmr.com|6|180||||ns11.constellix.com",
        "98|0x1c72|0x0100|la01.supportxmr.com|1|||||||",
        "99|0x7fab|0x0100|la01.supportxmr.com|28|||||||",
        "100|0x1c72|0x8180|la01.supportxmr.com|1|la01.supportxmr.com|1|90|192.110.160.114|||",
        "101|0x7fab|0x8180|la01.supportxmr.com|28|supportxmr.com|6|180||||ns11.constellix.com",
        "143|0x5450|0x0100|www.supportxmr.com|1|||||||",
        "144|0xa763|0x0100|www.supportxmr.com|28|||||||",
        "151|0x5450|0x8180|www.supportxmr.com|1|www.supportxmr.com,www.supportxmr.com.cdn.cloudflare.net,"
        "www.supportxmr.com.cdn.cloudflare.net|5,1,1|115,115,115|104.20.123.34,104.20.122.34||"
        "www.supportxmr.com.cdn.cloudflare.net|",
        "152|0xa763|0x8180|www.supportxmr.com|28|www.supportxmr.com,www.supportxmr.com.cdn.cloudflare.net,"
        "www.supportxmr.com.cdn.cloudflare.net|5,28,28|115,115,115||2400:cb00:2048:1::6814:7b22,"
        "2400:cb00:2048:1::6814:7a22|www.supportxmr.com.cdn.cloudflare.net|",
    ],
}


@pytest.mark.parametrize("path", list(GOLDEN), ids=lambda p: p.name)
def test_corpus_matches_tshark_golden(path: Path) -> None:
    seen = []
    for number, payload in udp_dns(path).items():
        msg = dns.parse_dns(payload)
        assert msg is not None and msg.malformed is None
        seen.append(tshark_view(number, msg))
    assert seen == GOLDEN[path]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("path", [DNSKEY, COINHIVE_STRATUM, COINHIVE], ids=lambda p: p.name)
def test_whole_captures_match_tshark(path: Path) -> None:
    command = ["tshark", "-r", str(path), "-Y", "dns", "-T", "fields", "-E", "separator=|"]
    for field in TSHARK_FIELDS:
        command += ["-e", field]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    expected = [line for line in result.stdout.splitlines() if line]
    ours = [tshark_view(n, m) for n, p in udp_dns(path).items() if (m := dns.parse_dns(p)) is not None]
    assert len(expected) > 1 and ours == expected


def test_dnskey_matches_zeek_dns_log() -> None:
    fields: list[str] = []
    for line in ZEEK_DNS_LOG.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            row = dict(zip(fields, line.split("\t"), strict=True))
    response = dns.parse_dns(udp_dns(DNSKEY)[2])
    assert response is not None
    assert str(response.id) == row["trans_id"] == "41477"
    assert response.questions[0].name == row["query"]
    assert (response.questions[0].qtype, response.questions[0].qclass) == (int(row["qtype"]), int(row["qclass"]))
    assert response.rcode == int(row["rcode"]) and response.opcode == int(row["opcode"])
    flags = (response.aa, response.tc, response.rd, response.ra)
    assert flags == tuple(row[k] == "T" for k in ("AA", "TC", "RD", "RA"))
    assert (response.flags >> 4) & 7 == int(row["Z"])
    assert [dns.TYPE_NAMES[r.rtype] for r in response.answers] == [a.split()[0] for a in row["answers"].split(",")]
    assert [float(r.ttl) for r in response.answers] == [float(t) for t in row["TTLs"].split(",")]
    assert response.answers[0].rdata[3] == 5  # DNSKEY algorithm 5 ("DNSKEY 5" in Zeek)


def test_pool_names_resolved_in_mining_captures() -> None:
    answers = {}
    for payload in udp_dns(COINHIVE).values():
        msg = dns.parse_dns(payload)
        assert msg is not None and msg.malformed is None
        for record in msg.answers:
            if record.rtype == dns.A:
                answers.setdefault(record.name, set()).add(record.data)
    assert answers["ws027.authedmine.com"] == {"37.187.167.83"}
    assert answers["authedmine.com"] == {"217.182.164.9", "217.182.164.10", "217.182.164.12", "217.182.164.13"}


# --- crafted messages ----------------------------------------------------------------------------


def header(ident: int = 0x1234, flags: int = 0x8180, qd: int = 0, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".") if p) + b"\x00"


def question(qname: bytes, qtype: int = 1) -> bytes:
    return qname + struct.pack("!HH", qtype, 1)


def rr(rname: bytes, rtype: int, rdata: bytes, ttl: int = 60) -> bytes:
    return rname + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


POINTER_TO_QNAME = b"\xc0\x0c"


@pytest.mark.parametrize(
    ("rtype", "rdata", "data", "txt"),
    [
        (dns.A, bytes([192, 110, 160, 114]), "192.110.160.114", ()),
        (dns.AAAA, bytes.fromhex("2400cb0020480001000000006814" "7b22"), "2400:cb00:2048:1::6814:7b22", ()),
        (dns.CNAME, name("pool.cdn.example.net"), "pool.cdn.example.net", ()),
        (dns.CNAME, b"\x03cdn" + POINTER_TO_QNAME, "cdn.xmr.pool.example", ()),
        (dns.NS, POINTER_TO_QNAME, "xmr.pool.example", ()),
        (dns.PTR, name("host.example"), "host.example", ()),
        (dns.MX, b"\x00\x0a" + name("mx.example"), "10 mx.example", ()),
        (dns.SRV, struct.pack("!HHH", 1, 5, 3333) + name("s.example"), "1 5 3333 s.example", ()),
        (dns.TXT, b"\x05hello\x00\x05world", "helloworld", ("hello", "", "world")),
        (dns.TXT, b"\x0atoo-short", None, ()),  # 10 claimed, 9 present: raw bytes only
        (dns.A, b"\x01\x02\x03", None, ()),  # wrong RDATA size
        (48, b"\x01\x01\x03\x05", None, ()),  # DNSKEY: not decoded
    ],
)
def test_answer_types(rtype: int, rdata: bytes, data: str | None, txt: tuple[str, ...]) -> None:
    msg = dns.parse_dns(header(qd=1, an=1) + question(name("xmr.pool.example")) + rr(POINTER_TO_QNAME, rtype, rdata))
    assert msg is not None and msg.malformed is None
    (record,) = msg.answers
    assert (record.name, record.rtype, record.ttl) == ("xmr.pool.example", rtype, 60)
    assert (record.data, record.txt) == (data, txt)
    assert record.rdata == rdata


def test_header_flags() -> None:
    msg = dns.parse_dns(header(ident=7, flags=0x8583))  # response, AA, RD, RA, NXDOMAIN
    assert msg is not None
    assert (msg.id, msg.qr, msg.opcode, msg.rcode) == (7, True, 0, 3)
    assert (msg.aa, msg.tc, msg.rd, msg.ra) == (True, False, True, True)
    query = dns.parse_dns(header(flags=0x2900, qd=1) + question(name("a.example")))  # UPDATE opcode 5
    assert query is not None and (query.qr, query.opcode) == (False, 5)


def test_label_escaping() -> None:
    raw = b"\x04a.b\x00\x03xyz\x00"
    msg = dns.parse_dns(header(qd=1) + question(raw))
    assert msg is not None and msg.questions[0].name == "a\\.b\\000.xyz"
    root = dns.parse_dns(header(qd=1) + question(b"\x00", 2))
    assert root is not None and root.questions[0].name == "."


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (header(qd=1) + b"\xc0\x0c\x00\x01\x00\x01", "loops or points forward"),  # points at itself
        (header(qd=1) + b"\x01a\xc0\x10\x00\xc0\x0c\x00\x01\x00\x01", "loops or points forward"),  # forward
        (header(qd=1) + b"\xc0", "compression pointer truncated"),
        (header(qd=1) + b"\x41abc\x00\x00\x01\x00\x01", "label type 0x40"),
        (header(qd=1) + b"\x03ab", "label runs past the end"),
        (header(qd=1), "name runs past the end"),
        (header(qd=1) + name("a.example") + b"\x00", "question truncated"),
        (header(an=1) + name("a.example") + b"\x00\x01\x00\x01", "resource record header truncated"),
        (header(an=1) + rr(name("a.example"), 1, b"\x01\x02\x03\x04")[:-2], "overruns the message"),
        (header(qd=1) + question(b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f"
                                 + b"d" * 63 + b"\x00"), "longer than 255 octets"),
    ],
)
def test_hostile_messages_are_flagged(payload: bytes, why: str) -> None:
    msg = dns.parse_dns(payload)
    assert msg is not None and msg.malformed is not None
    assert why in msg.malformed


def test_pointer_chain_is_depth_limited() -> None:
    # question 0 is "a"; question i is a pointer to question i-1: every jump points backwards
    body, starts = question(b"\x01a\x00"), [12]
    for _ in range(200):
        starts.append(12 + len(body))
        body += question(struct.pack("!H", 0xC000 | starts[-2]))
    msg = dns.parse_dns(header(qd=201) + body)
    assert msg is not None and msg.malformed is not None and "loops" in msg.malformed
    assert len(msg.questions) == dns.MAX_POINTERS + 1
    assert {q.name for q in msg.questions} == {"a"}


def test_overlong_name_built_from_backward_pointers() -> None:
    # each question adds a 9-byte label before a pointer to the previous name: names grow past 255
    body, starts = question(b"\x00"), [12]
    for _ in range(40):
        starts.append(12 + len(body))
        body += question(b"\x08abcdefgh" + struct.pack("!H", 0xC000 | starts[-2]))
    msg = dns.parse_dns(header(qd=41) + body)
    assert msg is not None and msg.malformed is not None and "255" in msg.malformed
    assert max(len(q.name) for q in msg.questions) <= 255


def test_counts_larger_than_the_message() -> None:
    msg = dns.parse_dns(header(qd=65535, an=65535) + question(name("x.example")))
    assert msg is not None and len(msg.questions) == 1 and msg.counts == (65535, 65535, 0, 0)
    assert msg.malformed is not None


@pytest.mark.parametrize("payload", [b"", b"\x12\x34", bytes(11), bytes(65536)])
def test_not_a_message(payload: bytes) -> None:
    assert dns.parse_dns(payload) is None


# --- DNS over TCP --------------------------------------------------------------------------------


def test_split_tcp_dns() -> None:
    m1 = header(qd=1, flags=0x0100) + question(name("la01.supportxmr.com"))
    answer_rr = rr(POINTER_TO_QNAME, 1, bytes([192, 110, 160, 114]))
    m2 = header(qd=1, an=1) + question(name("la01.supportxmr.com")) + answer_rr
    framed = struct.pack("!H", len(m1)) + m1 + b"\x00\x00" + struct.pack("!H", len(m2)) + m2
    assert dns.split_tcp_dns(framed) == ([m1, m2], b"")  # the empty frame is skipped
    assert dns.split_tcp_dns(framed[:1]) == ([], framed[:1])
    messages, tail = dns.split_tcp_dns(framed[:-1])
    assert messages == [m1] and tail == framed[len(m1) + 4 : -1]
    assert dns.split_tcp_dns(tail + framed[-1:]) == ([m2], b"")
    answer = dns.parse_dns(m2)
    assert answer is not None and answer.answers[0].data == "192.110.160.114"


def test_split_tcp_dns_on_garbage_is_bounded() -> None:
    messages, tail = dns.split_tcp_dns(b"\xff\xff" + bytes(100))
    assert messages == [] and len(tail) == 102
    messages, tail = dns.split_tcp_dns(bytes(1000))  # 500 empty frames
    assert messages == [] and tail == b""


# --- fuzz ----------------------------------------------------------------------------------------


def test_fuzzed_messages_never_raise() -> None:
    rng = random.Random(7)
    samples = list(udp_dns(COINHIVE_STRATUM).values()) + list(udp_dns(DNSKEY).values())
    started = time.perf_counter()
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        msg = dns.parse_dns(bytes(data[: rng.randint(0, len(data))]))
        assert msg is None or isinstance(msg.malformed, (str, type(None)))
    assert time.perf_counter() - started < 10


def test_a_record_text_is_ipaddress_text() -> None:
    """A records print as ipaddress.IPv4Address does (the scan keys DNS names by that text)."""
    rnd = random.Random(7)
    head = bytes.fromhex("000181800001000100000000") + b"\x01a\x00\x00\x01\x00\x01"
    for raw in [bytes(4), b"\xff" * 4, b"\x0a\x00\x00\x01"] + [rnd.getrandbits(32).to_bytes(4, "big") for _ in range(500)]:
        msg = dns.parse_dns(head + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + raw)
        assert msg is not None and msg.answers[0].data == str(ipaddress.IPv4Address(raw))
