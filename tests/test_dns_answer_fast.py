"""``FlowTable.dns_answer``'s fast path against the ``parse_dns`` behaviour it replaced.

``dns_answer`` reads a response through ``detector.dialects.dns.answered_addresses`` (no record
objects, ``inet_ntop`` for AAAA text, a per-intel memo of pool lookups). The oracle here is the
former body of ``dns_answer``, built on ``parse_dns``: both run over every DNS response of the
corpus captures, of the sample captures in pcaps/ and of a small generated capture, over
thousands of seeded mutations of them and of random structured messages, and over hand-made
hostile messages; the tables must end up equal, contents and order. ``ipv6_text`` is checked
against ``ipaddress`` on random and edge-case addresses.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import platform
import random
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from detector import flows, poollists
from detector.capture import is_capture_file, open_capture
from detector.dialects import dns
from detector.flows import DnsName, FlowTable

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "pcaps"
POOL = "la01.supportxmr.com"  # rules/pools.toml: SupportXMR


# --- the oracle ------------------------------------------------------------------------------------


def reference_dns_answer(table: FlowTable, ts: float, dst: str, payload: bytes) -> None:
    """``FlowTable.dns_answer`` as it was, on ``parse_dns`` (reads the same module bounds)."""
    msg = dns.parse_dns(payload)
    if msg is None or not msg.qr:
        return
    asked = msg.questions[0].name if msg.questions else None
    if asked and poollists.active().pool_for_host(asked) is not None and len(table.pool_names_seen) < flows.MAX_DOWNLOADS:
        table.pool_names_seen.append((dst, "dns", asked.rstrip(".").lower()[:253]))
    for answer in msg.answers:
        if answer.rtype in (1, 28) and answer.data and len(table.dns_names) < flows.MAX_DNS_NAMES:
            table.dns_names[answer.data] = DnsName((asked or answer.name).rstrip(".").lower()[:253], ts)


def expected_addresses(payload: bytes) -> tuple[str | None, list[tuple[str, str]]] | None:
    """What ``answered_addresses`` must return, from ``parse_dns``."""
    msg = dns.parse_dns(payload)
    if msg is None or not msg.qr:
        return None
    asked = msg.questions[0].name if msg.questions else None
    return asked, [(r.data, asked if asked is not None else r.name)
                   for r in msg.answers if r.rtype in (1, 28) and r.data is not None]


def tables(payloads: list[bytes]) -> tuple[FlowTable, FlowTable]:
    """(fast table, reference table) after feeding both every payload."""
    fast, ref = FlowTable(), FlowTable()
    for i, payload in enumerate(payloads):
        dst = f"10.0.{i // 250 % 250}.{i % 250}"
        fast.dns_answer(float(i), dst, payload)
        reference_dns_answer(ref, float(i), dst, payload)
    return fast, ref


def assert_same(payloads: list[bytes]) -> FlowTable:
    for payload in payloads:
        assert dns.answered_addresses(payload) == expected_addresses(payload), payload.hex()
    fast, ref = tables(payloads)
    assert list(fast.dns_names.items()) == list(ref.dns_names.items())
    assert fast.pool_names_seen == ref.pool_names_seen
    return fast


# --- messages ----------------------------------------------------------------------------------------


def dns_responses(path: Path) -> list[bytes]:
    """UDP port-53 payloads with QR set, as FlowTable._dns hands them to dns_answer."""
    with open_capture(path) as capture:
        return [p.payload for p in capture
                if p.proto == 17 and 53 in (p.sport, p.dport) and len(p.payload) > 2 and p.payload[2] & 0x80]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_capture_for_dns", ROOT / "benchmarks" / "gen_capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_responses(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out: list[bytes] = []
    for root in (CORPUS, SAMPLES):
        for path in sorted(root.rglob("*")):
            if path.is_file() and is_capture_file(path):
                out += dns_responses(path)
    generated = tmp_path_factory.mktemp("gen") / "small.pcap"
    load_generator().generate(generated, 20_000, seed=7)
    out += dns_responses(generated)
    return out


def name(text: str) -> bytes:
    return b"".join(bytes((len(label),)) + label.encode() for label in text.split(".") if label) + b"\x00"


def header(qd: int, an: int, ns: int = 0, ar: int = 0, flags: int = 0x8180) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, flags, qd, an, ns, ar)


def rr(owner: bytes, rtype: int, rdata: bytes, rdlength: int | None = None) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, 1, 300, size) + rdata


def response(qname: str, *answers: bytes, qd: int = 1, an: int | None = None) -> bytes:
    return header(qd, len(answers) if an is None else an) + name(qname) + b"\x00\x01\x00\x01" + b"".join(answers)


PTR12 = b"\xc0\x0c"
V4 = bytes((192, 0, 2, 7))
V6 = ipaddress.IPv6Address("2001:db8::7").packed


def crafted() -> list[bytes]:
    """Ordinary and pool responses the mutations start from."""
    cname = rr(PTR12, 5, name("edge.cdn.example"))
    return [
        response(POOL, rr(PTR12, 1, V4), rr(PTR12, 1, bytes((192, 0, 2, 8)))),
        response("XMR-EU1.NanoPool.org.", rr(PTR12, 28, V6)),
        response("www.example.com", cname, rr(b"\xc0\x2d", 1, V4)),
        response("mine.c3pool.com", rr(name("mine.c3pool.com"), 1, V4), rr(PTR12, 28, V6), rr(PTR12, 16, b"\x03abc")),
        header(0, 2) + rr(name("Pool.SupportXMR.com"), 1, V4) + rr(name("other.example"), 28, V6),
        header(2, 1) + name("a.example") + b"\x00\x01\x00\x01" + name("b.example") + b"\x00\x1c\x00\x01"
        + rr(b"\xc0\x1b", 1, V4),
    ]


def mutate(rng: random.Random, msg: bytes, others: list[bytes]) -> bytes:
    b = bytearray(msg)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(9)
        if op == 0 and b:
            del b[rng.randrange(len(b)):]  # truncate
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2 and len(b) > 1:  # a compression pointer anywhere, to anywhere
            i = rng.randrange(len(b) - 1)
            b[i], b[i + 1] = 0xC0 | rng.randrange(4) * rng.randrange(2), rng.randrange(256)
        elif op == 3 and len(b) >= 12:  # counts: small, large, huge
            i = rng.choice((4, 6, 8, 10))
            b[i : i + 2] = struct.pack("!H", rng.choice((0, 1, 2, 3, 5, 1024, 1025, 65535, rng.randrange(65536))))
        elif op == 4:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.randrange(1, 8))
        elif op == 5 and b:
            i = rng.randrange(len(b))
            del b[i : i + rng.randrange(1, 8)]
        elif op == 6:
            b += rng.choice(others)[rng.randrange(12) :]
        elif op == 7 and b:  # a label length or type bits
            b[rng.randrange(len(b))] = rng.choice((0, 1, 0x3F, 0x40, 0x80, 0xC0, 0xFF))
        elif op == 8 and len(b) > 2:
            b[2] |= 0x80
    return bytes(b)


def structured(rng: random.Random) -> bytes:
    """A random message of names made of labels and pointers to earlier offsets (chains, loops,
    long names), questions and A/AAAA/other records."""
    b = bytearray(header(rng.randrange(4), rng.randrange(6), rng.randrange(2), 0, 0x8000 | rng.randrange(0x8000)))

    def put_name() -> None:
        for _ in range(rng.randrange(4)):
            size = rng.choice((1, 3, 63, rng.randrange(64)))
            b.append(size)
            b.extend(rng.choice((b"a", b"Z", b".", b"\\", b"\x00", b"\xff")) * size)
        if rng.random() < 0.6 and len(b) > 12:
            target = rng.randrange(len(b) + 2)
            b.extend(bytes((0xC0 | target >> 8, target & 0xFF)))
        else:
            b.append(0)

    for _ in range(rng.randrange(1, 10)):
        put_name()
        if rng.random() < 0.5:
            b.extend(b"\x00\x01\x00\x01")
        else:
            rtype = rng.choice((1, 28, 5, 257, 284))
            rdata = rng.randbytes(rng.choice((4, 16, rng.randrange(20))))
            b.extend(struct.pack("!HHIH", rtype, 1, 60, (len(rdata) + rng.choice((0, 0, 0, 1, -1))) % 65536))
            b.extend(rdata)
    return bytes(b)


def chain(jumps: int) -> bytes:
    """A response whose second answer's name follows ``jumps`` pointers back to the question: the
    first answer (of an unknown type) carries pointer after pointer in its RDATA."""
    start = 12 + len(name("chain.example")) + 4 + 2 + 10  # the first answer's RDATA
    links, prev = bytearray(), 12
    for _ in range(jumps - 1):
        here = start + len(links)
        links += bytes((0xC0 | prev >> 8, prev & 0xFF))
        prev = here
    return (header(1, 2) + name("chain.example") + b"\x00\x01\x00\x01" + rr(PTR12, 99, bytes(links))
            + rr(bytes((0xC0 | prev >> 8, prev & 0xFF)), 1, V4))


# --- tests ----------------------------------------------------------------------------------------------


def test_real_responses(real_responses: list[bytes]) -> None:
    assert len(real_responses) > 200
    fast = assert_same(real_responses)
    assert len(fast.dns_names) > 100
    assert {name for _, _, name in fast.pool_names_seen} >= {POOL, "eu1.ethermine.org", "btc.f2pool.com"}


def test_crafted_responses() -> None:
    fast = assert_same(crafted())
    assert fast.pool_names_seen == [("10.0.0.0", "dns", POOL), ("10.0.0.1", "dns", "xmr-eu1.nanopool.org"),
                                    ("10.0.0.3", "dns", "mine.c3pool.com")]
    assert list((ip, n.name, n.ts) for ip, n in fast.dns_names.items()) == [
        ("192.0.2.7", "a.example", 5.0), ("192.0.2.8", POOL, 0.0), ("2001:db8::7", "other.example", 4.0)]


def test_seeded_mutations(real_responses: list[bytes]) -> None:
    rng = random.Random(20240611)
    seeds = real_responses[:60] + real_responses[-40:] + crafted()
    payloads = [mutate(rng, rng.choice(seeds), seeds) for _ in range(8000)]
    assert_same(payloads)


def test_structured_random_messages() -> None:
    rng = random.Random(7)
    assert_same([structured(rng) for _ in range(4000)])


def test_random_garbage() -> None:
    rng = random.Random(11)
    payloads = [bytes((0, 0, 0x80 | rng.randrange(128), rng.randrange(256), 0, rng.randrange(3), 0, rng.randrange(4)))
                + bytes(4) + rng.randbytes(rng.randrange(80)) for _ in range(3000)]
    assert_same(payloads + [rng.randbytes(rng.randrange(40)) for _ in range(1000)])


@pytest.mark.parametrize(("payload", "expected"), [
    (b"", None),
    (header(1, 1)[:11], None),
    (response(POOL, rr(PTR12, 1, V4)) + bytes(65536), None),  # over 65535 bytes: not a DNS message
    (response(POOL, rr(PTR12, 1, V4))[:2] + b"\x01\x00" + response(POOL, rr(PTR12, 1, V4))[4:], None),  # a query
    (header(1, 1), (None, [])),  # the question is missing
    (response(POOL, rr(PTR12, 1, V4))[:12 + len(name(POOL)) + 3], (None, [])),  # the question's type/class cut
    (response(POOL, rr(PTR12, 1, V4)), (POOL, [("192.0.2.7", POOL)])),
    (response("Pool.EXAMPLE.", rr(PTR12, 28, V6)), ("Pool.EXAMPLE", [("2001:db8::7", "Pool.EXAMPLE")])),
    (response("a.example", rr(b"\xc0\x1b", 1, V4)), ("a.example", [])),  # a pointer to itself
    (response("a.example", rr(b"\xc0\x30", 1, V4)), ("a.example", [])),  # a forward pointer
    (response("a.example", rr(b"\x40a\x00", 1, V4)), ("a.example", [])),  # label type 0x40
    (response("a.example", rr(PTR12, 1, V4 + b"\x00"), rr(PTR12, 28, V4), rr(PTR12, 1, V4)),
     ("a.example", [("192.0.2.7", "a.example")])),  # wrong-sized A / AAAA: skipped, decoding goes on
    (response("a.example", rr(PTR12, 257, V4), rr(PTR12, 28 + 256, V6)), ("a.example", [])),  # type > 255
    (response("a.example", rr(PTR12, 1, V4), rr(PTR12, 1, V4, rdlength=9)), ("a.example", [("192.0.2.7", "a.example")])),
    (response("a.example", rr(PTR12, 1, V4), rr(PTR12, 1, V4), an=65535), ("a.example", [("192.0.2.7", "a.example")] * 2)),
    (response("a.example", rr(PTR12, 1, V4), qd=2), ("a.example", [])),  # the second question is broken
    (header(0, 1) + rr(name("Up.Case."), 1, V4), (None, [("192.0.2.7", "Up.Case")])),
    (header(0, 1) + rr(b"\x00", 1, V4), (None, [("192.0.2.7", ".")])),
    (response("we.ird\\x", rr(PTR12, 1, V4)), ("we.ird\\092x", [("192.0.2.7", "we.ird\\092x")])),
    (header(1, 1) + b"\xc0\x04\x00\x01\x00\x01" + rr(PTR12, 1, V4), (".", [("192.0.2.7", ".")])),  # via the header
    (header(1, 1) + b"\xc0\x02\x00\x01\x00\x01" + rr(PTR12, 1, V4), (None, [])),  # to label type 0x80
    (header(1, 1) + b"\x01\x00\x01a\x00\x00\x01\x00\x01" + rr(PTR12, 1, V4), ("\\000.a", [("192.0.2.7", "\\000.a")])),
    (response("mapped.example", rr(PTR12, 28, ipaddress.IPv6Address("::ffff:1.2.3.4").packed)),
     ("mapped.example", [(str(ipaddress.IPv6Address("::ffff:1.2.3.4")), "mapped.example")])),
])
def test_hostile_and_edge_cases(payload: bytes, expected: tuple[str | None, list[tuple[str, str]]] | None) -> None:
    assert dns.answered_addresses(payload) == expected
    assert expected_addresses(payload) == expected
    assert_same([payload])


def test_more_than_1024_questions_read_the_1025th_as_an_answer() -> None:
    q = name("q.example") + b"\x00\x01\x00\x01"
    msg = header(1025, 1) + q * 1024 + rr(PTR12, 1, V4)
    assert dns.answered_addresses(msg) == ("q.example", [("192.0.2.7", "q.example")])
    assert_same([msg, header(1025, 2) + q * 1025 + rr(PTR12, 1, V4)])


@pytest.mark.parametrize(("jumps", "decodes"), [(1, True), (2, True), (127, True), (128, True), (129, False)])
def test_pointer_chain_limit(jumps: int, decodes: bool) -> None:
    whole = chain(jumps)
    assert dns.answered_addresses(whole) == ("chain.example", [("192.0.2.7", "chain.example")] if decodes else [])
    assert_same([whole])


@pytest.mark.parametrize(("labels", "inline", "decodes"), [
    ((60, 60, 60, 59), 10, True),  # 1 + (1 + 10) + 243 = 255 octets
    ((60, 60, 60, 59), 11, False),  # 256
    ((63, 63, 63, 61), 0, True),  # the pointer alone: 1 + 254
    ((63, 63, 63, 61), 1, False),
])
def test_name_length_limit_through_a_pointer(labels: tuple[int, ...], inline: int, decodes: bool) -> None:
    qname = ".".join("abcd"[i] * size for i, size in enumerate(labels))
    own = (bytes((inline,)) + b"x" * inline if inline else b"") + PTR12
    msg = response(qname, rr(own, 1, V4))
    assert dns.answered_addresses(msg) == (qname, [("192.0.2.7", qname)] if decodes else [])
    assert_same([msg])


def test_a_question_through_a_pointer_ending_in_a_zero_byte() -> None:
    # the question "a" continues at offset 0 (a zero id: the root): its wire form ends in 0x00
    # like an in-line name, but a pointer to it adds 2 octets, not 3: 1 + 252 + 2 = 255 decodes
    own = b"".join(b"\x3e" + bytes((c,)) * 62 for c in b"wxyz") + PTR12
    msg = b"\x00\x00" + header(1, 1)[2:] + b"\x01a\xc0\x00\x00\x01\x00\x01" + rr(own, 1, V4)
    assert dns.answered_addresses(msg) == ("a", [("192.0.2.7", "a")])
    assert_same([msg])


def test_a_question_over_255_octets_is_no_question() -> None:
    msg = response(".".join(["q" * 63] * 4), rr(PTR12, 1, V4))
    assert dns.answered_addresses(msg) == (None, [])
    assert_same([msg])


def test_pool_bounds_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flows, "MAX_DNS_NAMES", 3)
    monkeypatch.setattr(flows, "MAX_DOWNLOADS", 2)
    payloads = [response(POOL, *(rr(PTR12, 1, bytes((10, 0, 0, i))) for i in range(2))),
                response("LA01.SupportXMR.COM.", rr(PTR12, 1, bytes((10, 0, 0, 1))), rr(PTR12, 1, bytes((10, 0, 0, 9)))),
                response("eu1.ethermine.org", rr(PTR12, 1, bytes((10, 0, 0, 0)))),
                response("eu1.ethermine.org", rr(PTR12, 1, bytes((10, 0, 0, 5))))]
    fast = assert_same(payloads)
    assert fast.pool_names_seen == [("10.0.0.0", "dns", POOL), ("10.0.0.1", "dns", POOL)]
    assert {ip: n.name for ip, n in fast.dns_names.items()} == {
        "10.0.0.0": POOL, "10.0.0.1": POOL, "10.0.0.9": POOL}  # full: not even updated


def test_a_pool_list_change_never_gives_a_stale_answer(tmp_path: Path) -> None:
    listed = tmp_path / "pools.txt"
    listed.write_text("dns-fast.example.net\n")
    msg = response("stratum.dns-fast.example.net", rr(PTR12, 1, V4))
    table = FlowTable()
    table.dns_answer(1.0, "10.0.0.1", msg)  # the default intelligence: not a pool
    with poollists.using(poollists.intelligence([listed])):
        table.dns_answer(2.0, "10.0.0.2", msg)
        with poollists.using(poollists.intelligence()):
            table.dns_answer(3.0, "10.0.0.3", msg)
        table.dns_answer(4.0, "10.0.0.4", msg)
    table.dns_answer(5.0, "10.0.0.5", msg)
    assert table.pool_names_seen == [("10.0.0.2", "dns", "stratum.dns-fast.example.net"),
                                     ("10.0.0.4", "dns", "stratum.dns-fast.example.net")]


def test_the_memos_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns, "MAX_PLAIN_NAMES", 8)
    payloads = [response(f"h{i}.example.{'com' if i % 3 else 'org'}", rr(PTR12, 1, bytes((10, 1, i // 256, i % 256))))
                for i in range(300)]
    assert_same(payloads + payloads[::-1])
    assert len(dns._PLAIN_NAMES) <= 8
    assert len(flows._DNS_POOL_MEMO[0][1]) <= 4096


# --- IPv6 text ---------------------------------------------------------------------------------------


def v6_edge_cases() -> Iterator[bytes]:
    rng = random.Random(3)
    words = (0, 0, 0, 1, 0xFFFF, 0x0DB8, 0x2001)
    for _ in range(6000):
        yield struct.pack("!8H", *(rng.choice(words) if rng.random() < 0.8 else rng.randrange(65536) for _ in range(8)))
    for _ in range(2000):
        yield rng.randbytes(16)
    for tail in range(0, 1 << 8):  # ::/80 forms: v4-mapped, v4-compatible, ::ffff:0:0/96 and neighbours
        for w5 in (0, 1, 0xFFFF, 0xFFFE):
            yield struct.pack("!5H", 0, 0, 0, 0, 0) + struct.pack("!H", w5) + struct.pack("!HH", tail, rng.randrange(65536))
            yield struct.pack("!4H", 0, 0, 0, 1) + struct.pack("!H", w5) + bytes(2) + struct.pack("!HH", tail, 0)
    for mask in range(256):  # every pattern of zero and non-zero groups
        yield struct.pack("!8H", *((0 if mask >> i & 1 else 0xABC) for i in range(8)))


@pytest.mark.parametrize("ntop", [True, False])
def test_ipv6_text_is_ipaddress_text(monkeypatch: pytest.MonkeyPatch, ntop: bool) -> None:
    monkeypatch.setattr(dns, "_NTOP_AGREES", ntop)
    for raw in v6_edge_cases():
        assert dns.ipv6_text(raw) == str(ipaddress.IPv6Address(raw)), raw.hex()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="checked against glibc's inet_ntop")
def test_inet_ntop_is_used_with_glibc() -> None:
    assert dns._NTOP_AGREES  # glibc prints what ipaddress prints outside ::/80


# --- the kernel's reading of the usual response (EV_ANSWERS) ------------------------------------------


class Answered(FlowTable):
    """Records what each DNS response gave ``dns_answered`` (from the kernel or from dns_answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[tuple[float, str, str | None, list[tuple[str, str]]]] = []

    def dns_answered(self, ts: float, dst: str, asked: str | None, addresses) -> None:  # type: ignore[override]
        self.read.append((ts, dst, asked, list(addresses)))
        super().dns_answered(ts, dst, asked, addresses)


def capture_of(payloads: list[bytes], path: Path) -> list[tuple[float, str, bytes]]:
    """A pcap of each payload as a UDP datagram from 192.0.2.53:53, each to a client of its own;
    returns (time, client, payload) of those FlowTable._dns hands to dns_answer."""
    from test_fastpath import ipv4, pcap_file, udp_dgram

    recs, given = [], []
    for i, payload in enumerate(payloads):
        client, ts = f"10.1.{i // 250 % 250}.{i % 250 + 1}", 1_700_000_000 + i // 1000 + (i % 1000) / 1000
        recs.append((ts, ipv4("192.0.2.53", client, 17, udp_dgram(53, 40000 + i % 20000, payload), ident=i & 0xFFFF)))
        if len(payload) > 2 and payload[2] & 0x80:
            given.append((ts, client, payload))
    path.write_bytes(pcap_file(recs, 101))  # raw IPv4 link type
    return given


def kernel_reads(payloads: list[bytes], path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Answered, int]:
    """Scan ``payloads`` by the fast path; assert each response gave ``dns_answered`` exactly what
    ``answered_addresses`` gives, in order, and the table's names and pool lookups equal the pure
    path's. Returns the table and how many responses the Python reader read."""
    from detector.capture.fast import available, fast_scan_file, finish_scan

    assert available()
    payloads = [p for p in payloads if len(p) <= 65000]
    given = capture_of(payloads, path)
    python_reads = []
    real = dns.answered_addresses
    monkeypatch.setattr(flows.dns_parser, "answered_addresses", lambda m: python_reads.append(m) or real(m))
    table = Answered()
    fast_scan_file(path, table)
    finish_scan(table)
    monkeypatch.setattr(flows.dns_parser, "answered_addresses", real)
    expected = [(ts, dst, *found) for ts, dst, payload in given if (found := real(payload)) is not None]
    assert table.read == expected
    pure = FlowTable()
    with open_capture(path) as capture:
        for packet in capture:
            pure.add(packet)
    assert list(table.dns_names.items()) == list(pure.dns_names.items())
    assert table.pool_names_seen == pure.pool_names_seen
    return table, len(python_reads)


def test_the_kernel_reads_the_usual_responses_as_python_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             real_responses: list[bytes]) -> None:
    mapped = ipaddress.IPv6Address("::ffff:1.2.3.4").packed
    usual = [response(POOL, rr(PTR12, 1, V4), rr(PTR12, 1, bytes((192, 0, 2, 8)))),
             response("Up-Case_under.Example", rr(PTR12, 28, V6), rr(PTR12, 5, b"\x00"), rr(PTR12, 28, mapped)),
             response("a.example", rr(PTR12, 1, V4 + b"\x00"), rr(PTR12, 28, V4), rr(PTR12, 1, V4)),
             response("a.example", rr(PTR12, 1, V4), rr(PTR12, 1, V4, rdlength=9)),
             response("a.example", rr(PTR12, 1, V4), rr(PTR12, 1, V4), an=65535),
             response("a.example", *[rr(PTR12, 1, bytes((10, 0, i // 256, i % 256))) for i in range(1100)]),
             response("x." * 126 + "y", rr(PTR12, 1, V4)),  # 255 octets: the longest name
             response("a.example")]
    table, python = kernel_reads(usual, tmp_path / "usual.pcap", monkeypatch)
    assert python == 0  # every one read by the kernel
    assert len(table.read) == len(usual) and len(table.read[5][3]) == 1024
    assert table.read[1][3] == [("2001:db8::7", "Up-Case_under.Example"),
                                (str(ipaddress.IPv6Address(mapped)), "Up-Case_under.Example")]

    table, python = kernel_reads(real_responses, tmp_path / "real.pcap", monkeypatch)
    assert 0 < python < len(real_responses) / 2  # the usual ones by the kernel, CNAME chains by Python
    assert len(table.dns_names) > 100


def test_the_kernel_leaves_the_rest_to_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              real_responses: list[bytes]) -> None:
    rng = random.Random(20261121)
    seeds = real_responses[:60] + real_responses[-40:] + crafted()
    payloads = [mutate(rng, rng.choice(seeds), seeds) for _ in range(4000)]
    payloads += [structured(rng) for _ in range(2000)]
    payloads += [response("we.ird\\x", rr(PTR12, 1, V4)), response("a.example", rr(PTR12, 1, V4), qd=2),
                 header(1, 1) + b"\xc0\x04\x00\x01\x00\x01" + rr(PTR12, 1, V4), header(0, 1) + rr(b"\x00", 1, V4),
                 response(".", rr(PTR12, 1, V4)), response("a.example", rr(b"\xc0\x0d", 1, V4)),
                 response("a.example", rr(PTR12, 1, V4))[:-3], response("a.example")[:-2]]
    table, python = kernel_reads(payloads, tmp_path / "mutated.pcap", monkeypatch)
    assert python > 1000 and len(table.read) - python > 1000  # both readers had their share
