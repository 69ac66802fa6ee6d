"""The fast path (``detector._fastpath`` + ``detector.capture.fast``) against the pure path.

Every capture is read twice — ``open_capture`` -> ``FlowTable.add`` for every packet (the pure
path), and ``fast_scan_file`` (the compiled kernel, Python seeing only the packets it inspects) —
and the results must be identical: the findings document of ``build_findings`` (sessions, hosts,
inputs with their warnings, summary with flows and IPs screened), every ``CaptureInfo``, the DNS
names, ``flows_seen`` and every flow's ``FlowSummary`` (the kernel's, in the pure table's order).
Inputs: the shared corpus, the bundled samples, and crafted captures covering every link type,
VLAN / PPPoE / MPLS, IPv6 extension headers, IPv4 / IPv6 fragments, damaged pcap / pcapng /
gzip, rotation across files, flows reused after FIN / RST, idle splits, the idle sweep, ignored
flows. A seeded fuzz runs in a subprocess (a crash would kill it).

Every test runs twice: with the kernel's walker thread (the default: the walk of batch N+1
overlaps the table's work on batch N, ignores reach the kernel late) and serially
(``MINESWEEP_FAST_THREADS=0``). Held-back pure ACKs (``FlowTable.credit``), the late-ignore
window and the walker's own API have tests of their own at the end.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import ipaddress
import json
import os
import random
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
PCAPS = REPO / "pcaps"


def _build_kernel() -> None:
    """Build detector._fastpath in place when the checkout has no compiled copy yet."""
    try:
        import detector._fastpath  # noqa: F401
    except ImportError:
        done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=REPO,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"cannot build detector._fastpath:\n{done.stderr[-2000:]}")


_build_kernel()


@pytest.fixture(autouse=True, params=["walker-thread", "serial"])
def walk_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of walking plain files (subprocesses inherit the setting)."""
    monkeypatch.setenv("MINESWEEP_FAST_THREADS", "1" if request.param == "walker-thread" else "0")
    return request.param

from detector import (
    _fastpath,
    flows,
    poollists,
)
from detector.behaviour import (
    DOWNLOAD_MAGIC,
    FIRST_PAYLOADS,
    SCRIPT_TYPES,
    FlowSummary,
    SummaryStore,
    classify_download,
)
from detector.capture import fast as fast_mod
from detector.capture import is_capture_file, open_capture
from detector.capture import pcap as pcap_mod
from detector.capture.fast import FastScanner, fast_scan_file, finish_scan
from detector.capture.model import TCP, CaptureInfo, Packet
from detector.flows import FlowTable
from detector.scan import ScanOptions, _attach_flow_warnings, behaviour_records, build_findings, scan

T0 = 1_700_000_000
OPTIONS = ScanOptions(clock=lambda: dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
STRATUM_C = [
    b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n',
    b'{"id":2,"method":"mining.authorize","params":["wallet.worker1","x"]}\n',
    b'{"id":4,"method":"mining.submit","params":["wallet.worker1","1f","00000001","5f5e1000","0a0b0c0d"]}\n',
]
STRATUM_S = [
    b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a"]],"08000002",4],"error":null}\n',
    b'{"id":2,"result":true,"error":null}\n',
    (b'{"id":null,"method":"mining.set_difficulty","params":[16]}\n'
     b'{"id":null,"method":"mining.notify","params":["1f","00","01","02",[],"20000000","1a0ffff0","5f5e1000",true]}\n'),
    b'{"id":4,"result":true,"error":null}\n',
]
TLS_RECORD = b"\x17\x03\x03\x01\x00" + bytes(range(256))
#: a JSON-RPC line of a method no dialect knows, with a non-ASCII string: the kernel, which holds
#: only printable-ASCII JSON, hands its flow to FlowTable, which ignores it (the ignore path)
ECHO = '{"id":%d,"method":"echo","params":["café"]}\n'.encode()


# -- packet builders (struct only: exact bytes, fast) ---------------------------------------------
def addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def tcp_seg(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags,
                       65535, 0, 0) + payload


def udp_dgram(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(src: str, dst: str, proto: int, l4: bytes, ident: int = 1, frag: int = 0x4000) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, frag, 64, proto, 0,
                       addr(src), addr(dst)) + l4


def ipv6(src: str, dst: str, proto: int, l4: bytes, ext: bytes = b"", first_nh: int | None = None) -> bytes:
    body = ext + l4
    nh = proto if first_nh is None else first_nh
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nh, 64, addr(src), addr(dst)) + body


def ip_packet(src: str, dst: str, proto: int, l4: bytes, ident: int = 1) -> bytes:
    if ":" in src:
        return ipv6(src, dst, proto, l4)
    return ipv4(src, dst, proto, l4, ident)


def frag4(src: str, dst: str, proto: int, l4: bytes, ident: int, size: int) -> list[bytes]:
    """IPv4 fragments of one datagram (size: payload bytes per fragment, a multiple of 8)."""
    out = []
    for off in range(0, len(l4), size):
        more = off + size < len(l4)
        out.append(ipv4(src, dst, proto, l4[off:off + size], ident, (0x2000 if more else 0) | (off >> 3)))
    return out


def frag6(src: str, dst: str, proto: int, l4: bytes, ident: int, size: int) -> list[bytes]:
    out = []
    for off in range(0, len(l4), size):
        more = off + size < len(l4)
        hdr = struct.pack("!BBHI", proto, 0, off | int(more), ident)
        out.append(ipv6(src, dst, proto, l4[off:off + size], hdr, first_nh=44))
    return out


DNS_Q = bytes.fromhex("abcd01000001000000000000") + b"\x04pool\x07example\x03com\x00\x00\x01\x00\x01"


def dns_answer(ip: str) -> bytes:
    return (bytes.fromhex("abcd81800001000100000000") + b"\x04pool\x07example\x03com\x00\x00\x01\x00\x01"
            + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + addr(ip))


@dataclass
class Conv:
    """A TCP conversation between a client and a server, as IP packets with times."""

    client: str
    server: str
    cport: int
    sport: int
    t: float = T0
    step: float = 0.01
    seq: list[int] = field(default_factory=lambda: [1000, 50000])
    out: list[tuple[float, bytes]] = field(default_factory=list)
    ident: int = 1

    def _send(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        i = 0 if from_client else 1
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seg = tcp_seg(sp, dp, self.seq[i], self.seq[1 - i], flags, payload)
        self.seq[i] += len(payload) + (1 if flags & 0x03 else 0)
        self.ident += 1
        self.t += self.step
        return ip_packet(src, dst, 6, seg, self.ident)

    def packet(self, from_client: bool, flags: int, payload: bytes = b"") -> Conv:
        self.out.append((self.t + self.step, self._send(from_client, flags, payload)))
        return self

    def handshake(self) -> Conv:
        return self.packet(True, 0x02).packet(False, 0x12).packet(True, 0x10)

    def data(self, from_client: bool, payload: bytes, ack: bool = True) -> Conv:
        self.packet(from_client, 0x18, payload)
        return self.packet(not from_client, 0x10) if ack else self

    def fin(self) -> Conv:
        return self.packet(True, 0x11).packet(False, 0x11).packet(True, 0x10)

    def stratum(self) -> Conv:
        for c, s in zip(STRATUM_C, STRATUM_S):
            self.data(True, c).data(False, s)
        return self.data(False, STRATUM_S[3])

    def idle(self, seconds: float) -> Conv:
        self.t += seconds
        return self


def dns_pair(client: str, server: str, t: float, cport: int = 5353) -> list[tuple[float, bytes]]:
    return [(t, ip_packet(client, server, 17, udp_dgram(cport, 53, DNS_Q))),
            (t + 0.001, ip_packet(server, client, 17, udp_dgram(53, cport, dns_answer("192.0.2.77"))))]


def bulk(client: str, server: str, port: int, t: float, segments: int = 12) -> list[tuple[float, bytes]]:
    conv = Conv(client, server, port, 443, t=t).handshake()
    for _ in range(segments):
        conv.data(False, TLS_RECORD)
    return conv.fin().out


def mixed(v6: bool = False, t: float = T0) -> list[tuple[float, bytes]]:
    """A mining conversation, a DNS exchange naming its pool, bulk TLS and a JSON-RPC non-miner."""
    c, s, d = ("2001:db8::10", "2001:db8:0:1::77", "2001:db8::53") if v6 else ("10.0.0.10", "192.0.2.77", "10.0.0.53")
    recs = dns_pair(c, d, t)
    recs += Conv(c, s, 40001, 3333, t=t + 0.1).handshake().stratum().fin().out
    for i in range(3):
        recs += bulk(c, s.replace("77", str(80 + i)), 41000 + i, t + 0.05 * i)
    echo = Conv(c, s.replace("77", "90"), 42000, 8080, t=t + 0.2).handshake()
    for i in range(70):  # JSON-RPC without a mining method: inspected, then ignored
        echo.data(True, b'{"jsonrpc":"2.0","id":%d,"method":"echo","params":["hi"]}\n' % i)
    recs += echo.fin().out
    return sorted(recs, key=lambda r: r[0])


# -- link layers --------------------------------------------------------------------------------
MACS = bytes.fromhex("020000000002020000000001")


def _etype(ip: bytes) -> bytes:
    return b"\x86\xdd" if ip[0] >> 4 == 6 else b"\x08\x00"


LINKS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet": (1, lambda ip: MACS + _etype(ip) + ip),
    "vlan": (1, lambda ip: MACS + b"\x81\x00\x00\x64" + _etype(ip) + ip),
    "qinq-88a8": (1, lambda ip: MACS + b"\x88\xa8\x00\x0a\x81\x00\x00\x64" + _etype(ip) + ip),
    "qinq-9100": (1, lambda ip: MACS + b"\x91\x00\x00\x0a" + _etype(ip) + ip),
    "pppoe": (1, lambda ip: MACS + b"\x88\x64\x11\x00\x00\x01" + struct.pack("!H", len(ip) + 2)
              + (b"\x00\x57" if ip[0] >> 4 == 6 else b"\x00\x21") + ip),
    "mpls": (1, lambda ip: MACS + b"\x88\x47" + b"\x00\x01\x00\x40" + b"\x00\x02\x01\x40" + ip),
    "sll": (113, lambda ip: b"\x00\x00\x00\x01\x00\x06" + MACS[:6] + b"\x00\x00" + _etype(ip) + ip),
    "sll2": (276, lambda ip: _etype(ip) + b"\x00\x00\x00\x00\x00\x02\x00\x01\x00\x06" + MACS[:6] + b"\x00\x00" + ip),
    "raw-101": (101, lambda ip: ip),
    "raw-12": (12, lambda ip: ip),
    "raw-14": (14, lambda ip: ip),
    "ipv4-228": (228, lambda ip: ip),
    "ipv6-229": (229, lambda ip: ip),
    "null-le": (0, lambda ip: struct.pack("<I", 30 if ip[0] >> 4 == 6 else 2) + ip),
    "null-be": (0, lambda ip: struct.pack(">I", 24 if ip[0] >> 4 == 6 else 2) + ip),
    "loop": (108, lambda ip: struct.pack(">I", 28 if ip[0] >> 4 == 6 else 2) + ip),
}


def pcap_file(recs: Iterable[tuple[float, bytes]], linktype: int = 1, wrap: Callable[[bytes], bytes] | None = None,
              order: str = "<", ns: bool = False, snaplen: int = 65535, modified: bool = False) -> bytes:
    magic = 0xA1B2CD34 if modified else 0xA1B23C4D if ns else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    div = 10**9 if ns else 10**6
    for ts, ip in recs:
        frame = wrap(ip) if wrap else ip
        cap = frame[:snaplen]
        sec = int(ts)
        out.append(struct.pack(order + "IIII", sec, round((ts - sec) * div), len(cap), len(frame)))
        if modified:
            out.append(b"\0" * 8)
        out.append(cap)
    return b"".join(out)


def ng_block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def ng_shb(order: str = "<", major: int = 1) -> bytes:
    return ng_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, major, 0, -1))


def ng_idb(order: str = "<", linktype: int = 1, snaplen: int = 0, tsresol: int | None = None,
           tsoffset: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
    if tsoffset is not None:
        opts += struct.pack(order + "HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    return ng_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def ng_epb(order: str, ifid: int, ticks: int, frame: bytes, origlen: int | None = None) -> bytes:
    head = struct.pack(order + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(frame),
                       len(frame) if origlen is None else origlen)
    return ng_block(order, 6, head + frame)


def ng_opb(order: str, ifid: int, ticks: int, frame: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return ng_block(order, 2, head + frame)


def ng_spb(order: str, frame: bytes) -> bytes:
    return ng_block(order, 3, struct.pack(order + "I", len(frame)) + frame)


def eth(ip: bytes) -> bytes:
    return LINKS["ethernet"][1](ip)


# -- the comparison -------------------------------------------------------------------------------
class Recorder(FlowTable):
    """A FlowTable that keeps every packet and DNS answer it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Packet] = []
        self.answers: list[tuple[float, str, bytes]] = []

    def add(self, p: Packet) -> None:
        self.seen.append(p)
        super().add(p)

    def dns_answer(self, ts: float, dst: str, payload: bytes) -> None:
        self.answers.append((ts, dst, payload))
        super().dns_answer(ts, dst, payload)


@dataclass
class Outcome:
    findings: dict[str, Any]
    infos: list[CaptureInfo]
    flows_seen: int
    ips: int
    dns_names: dict[str, Any]
    packets: list[Packet]  #: what the table was given
    answers: list[tuple[float, str, bytes]]  #: the DNS responses it read (time, receiver, message)
    summaries: list[FlowSummary]  #: every flow's summary, in the order the flows ended


def run_pure(paths: list[Path]) -> Outcome:
    table, infos, ips = Recorder(), [], set()
    table.keep_summaries = True  # as the scan sets it for the pure engine
    for path in paths:
        with open_capture(path) as cap:
            infos.append(cap.info)
            for packet in cap:
                table.add(packet)
            ips.update(table.take_new_ips())
        _attach_flow_warnings(table, cap.info)
    sessions = table.finish()
    if infos:
        _attach_flow_warnings(table, infos[-1])
    return Outcome(build_findings(infos, sessions, table, len(ips), OPTIONS), infos, table.flows_seen, len(ips),
                   dict(table.dns_names), table.seen, table.answers, list(table.summaries))


def run_fast(paths: list[Path], table_cls: type[Recorder] = Recorder) -> tuple[Outcome, FlowTable]:
    table = table_cls()
    infos, ips = [], 0
    for path in paths:
        info, counts = fast_scan_file(path, table)
        infos.append(info)
        ips = counts.ips_screened
        assert table.take_new_ips() == set()  # the kernel counts addresses instead
        _attach_flow_warnings(table, info)
    table.scanner = getattr(table.on_ignore, "__self__", None)  # type: ignore[attr-defined]  # let go by finish_scan
    finish_scan(table)  # as the scan does: the kernel's summaries of the flows still live
    sessions = table.finish()
    if infos:
        _attach_flow_warnings(table, infos[-1])
    return Outcome(build_findings(infos, sessions, table, ips, OPTIONS), infos, table.flows_seen, ips,
                   dict(table.dns_names), table.seen, table.answers, list(table.summaries)), table


def is_subsequence(part: list[Packet], whole: list[Packet]) -> bool:
    it = iter(whole)
    return all(any(p == q for q in it) for p in part)


def by_flow(packets: list[Packet]) -> dict[tuple, list[Packet]]:
    """Packets grouped by connection (either direction), each group in the given order."""
    out: dict[tuple, list[Packet]] = {}
    for p in packets:
        out.setdefault((p.proto, *sorted([(p.src, p.sport), (p.dst, p.dport)])), []).append(p)
    return out


def same(*paths: Path) -> Outcome:
    """Run both paths over ``paths`` (one scan) and assert identical results; return the outcome."""
    pure = run_pure(list(paths))
    fast, _ = run_fast(list(paths))
    assert fast.infos == pure.infos
    assert fast.findings["sessions"] == pure.findings["sessions"]
    assert fast.findings == pure.findings
    assert (fast.flows_seen, fast.ips, fast.dns_names) == (pure.flows_seen, pure.ips, pure.dns_names)
    # every handed-over packet, field for field, in its flow's order (across flows the order can
    # differ: the packets of a flow the kernel held reach the table just before the packet that
    # made the kernel hand it over; being whole messages, they touch nothing of other flows)
    pure_flows = by_flow(pure.packets)
    assert all(is_subsequence(part, pure_flows[key]) for key, part in by_flow(fast.packets).items())
    assert fast.answers == pure.answers  # every DNS response, in order, to the bit
    # every flow's summary, emitted by the kernel, equal to FlowTable's — in the same order, too:
    # per-host behaviour keeps bounded sets (the first MAX_PEERS peers), so order can matter
    assert fast.summaries == pure.summaries
    assert len(pure.summaries) == pure.flows_seen  # every flow ends, at the latest with the scan
    return pure


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- real captures --------------------------------------------------------------------------------
def _captures(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and is_capture_file(p)) if root.is_dir() else []


@pytest.mark.parametrize("path", _captures(CORPUS), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_capture_same_as_pure_path(path: Path) -> None:
    same(path)


@pytest.mark.parametrize("path", _captures(PCAPS), ids=lambda p: p.name)
def test_sample_capture_same_as_pure_path(path: Path) -> None:
    same(path)


def test_corpus_is_there() -> None:
    assert len(_captures(CORPUS)) >= 10


def test_corpus_as_one_scan(tmp_path: Path) -> None:
    """All corpus captures through one flow table, in name order (as a directory scan reads them)."""
    out = same(*_captures(CORPUS))
    assert len(out.findings["sessions"]) >= 15


def test_summaries_share_their_small_pairs() -> None:
    """The kernel makes one tuple per small pair of counts, first-payload (direction, size) and
    (0.0, 0.0) gap sums, and shares it between summaries: equal to the pure path's all the same."""
    paths = _captures(CORPUS)
    pure = run_pure(paths)
    fast, _ = run_fast(paths)
    assert fast.summaries == pure.summaries
    shared = [s for s in fast.summaries if s.gap_n == (0, 0)]
    assert len(shared) > 10 and len({id(s.gap_n) for s in shared}) == 1
    assert len({id(s.gap_sum) for s in shared if s.gap_sum == (0.0, 0.0)}) == 1
    firsts = [p for s in fast.summaries for p in s.first_payloads if p == (0, 1)]
    assert len(firsts) > 1 and len({id(p) for p in firsts}) == 1
    big = [s.bytes for s in fast.summaries if min(s.bytes) >= 64]  # beyond the shared range: made anew
    assert len(big) > 1 and len({id(b) for b in big}) == len(big)


class _Given(SummaryStore):
    """A SummaryStore that notes what it is given: summaries, and flows as their behaviour alone."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list[FlowSummary] = []
        self.rows: list[tuple[Any, ...]] = []
        tcp = self.behaviour.tcp
        in_append = [False]

        def noted(*row: Any) -> None:
            if not in_append[0]:  # given as a row, not through a summary's Behaviour.flow
                self.rows.append(row)
            tcp(*row)

        self.behaviour.tcp = noted  # type: ignore[method-assign]
        self._in_append = in_append

    def append(self, summary: FlowSummary) -> None:
        self.given.append(summary)
        self._in_append[0] = True
        try:
            super().append(summary)
        finally:
            self._in_append[0] = False


class _StoreTable(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.summaries = _Given()


def _read_by_scan(summaries: list[FlowSummary], findings: dict[str, Any]) -> list[FlowSummary]:
    """The summaries a scan reads beyond their behaviour: what flowshape.eligible passes, what may
    open a Stratum V2 handshake, and every flow with a session's 4-tuple."""
    duration, packets, each, min_first, sizes = fast_mod.summary_gate()
    keys = {frozenset([(s["client"], s["client_port"]), (s["server"], s["server_port"])]) for s in findings["sessions"]}
    return [f for f in summaries if f.proto == TCP and (
        (f.last_ts - f.first_ts >= duration and sum(f.payload_packets) >= packets and min(f.payload_packets) >= each)
        or (len(f.first_payloads) >= min_first and f.first_payloads[0][1] in sizes)
        or frozenset([(f.a, f.ap), (f.b, f.bp)]) in keys)]


def _as_row(f: FlowSummary) -> tuple[Any, ...]:
    return f.a, f.b, f.bp, f.flags[0], f.flags[1], f.client_is_a, f.payload_packets == (0, 0)


def test_a_store_of_tcp_summaries_is_given_no_other() -> None:
    """SummaryStore keeps and reads TCP summaries only (``tcp_only``): the kernel then makes no
    other summary. It also takes a flow as its behaviour alone (``behaviour_only``): at the end of
    the scan, the kernel gives every live TCP flow whose summary the scan does not read as the
    fields Behaviour.tcp reads. The store is given the pure way's TCP summaries, in order, those
    rows in place of some of them, every summary the scan reads among them; its aggregate and the
    findings are the pure way's."""
    paths = _captures(CORPUS)
    pure = run_pure(paths)
    fed = SummaryStore()
    fed.extend(pure.summaries)
    fast, table = run_fast(paths, _StoreTable)
    store = table.summaries
    assert isinstance(store, _Given)
    tcp = [s for s in pure.summaries if s.proto == TCP]
    assert any(s.proto != TCP for s in pure.summaries)  # (there were others to leave out)
    assert store.rows and len(store.given) + len(store.rows) == len(tcp)
    assert is_subsequence(store.given, tcp)  # type: ignore[arg-type]
    as_rows = [_as_row(s) for s in tcp if s not in store.given]
    assert store.rows == as_rows  # the others, each as its summary's fields, in order
    read = _read_by_scan(tcp, pure.findings)
    assert read and all(s in store.given for s in read)
    ref = FlowTable()  # the findings added the table's downloads and pool names to the store's aggregate
    ref.summaries, ref.downloads, ref.pool_names_seen = fed, table.downloads, table.pool_names_seen
    behaviour_records(ref)
    assert store.behaviour.hosts == fed.behaviour.hosts
    assert fast.findings == pure.findings


def test_summary_gate_keeps_what_the_scan_reads(tmp_path: Path) -> None:
    """Crafted flows live at the end of the scan: the kernel gives a summary for a miner's flow
    (a live flow of the table), for a flow reusing the 4-tuple of a miner's ended session, for a
    flow long and busy enough for flowshape.eligible and for one whose first payload has the size
    of a Stratum V2 handshake's first act; a short TLS-like flow, a refused connection and a SYN
    sweep come as their behaviour alone. The scan's findings are the pure way's."""
    c, pool = "10.0.0.10", "192.0.2.77"
    miner = Conv(c, pool, 40001, 3333, t=T0).handshake().stratum()
    ended = Conv(c, pool, 40002, 3333, t=T0 + 1).handshake().stratum().fin()
    reuse = Conv(c, pool, 40002, 3333, t=ended.t + 1).handshake()
    for _ in range(40):
        reuse.data(True, b"x" * 10)
    long = Conv(c, "192.0.2.80", 40003, 8443, t=T0 + 2, step=2.0).handshake()
    for _ in range(12):
        long.data(True, b"a" * 20).data(False, b"b" * 30).idle(20)
    sv2 = Conv(c, "192.0.2.81", 40004, 34255, t=T0 + 3).handshake()
    for size in (64, 170, 90, 40):
        sv2.data(size != 170, b"n" * size)
    recs = miner.out + ended.out + reuse.out + long.out + sv2.out + bulk(c, "192.0.2.82", 40005, T0 + 4)
    recs += Conv(c, "192.0.2.83", 40006, 22, t=T0 + 5).packet(True, 0x02).packet(False, 0x14).out
    for i in range(3):
        recs.append((T0 + 6 + i, ip_packet(c, f"203.0.113.{i}", 6, tcp_seg(45000 + i, 23, 7, 0, 0x02), i)))
    path = write(tmp_path, "gate.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    pure = run_pure([path])
    fast, table = run_fast([path], _StoreTable)
    store = table.summaries
    assert isinstance(store, _Given)
    assert sorted(f.ap for f in store.given) == [40001, 40002, 40002, 40003, 40004]  # ended: during the walk
    assert sorted(row[2] for row in store.rows) == [22, 23, 23, 23, 443]
    by_key = {(f.a, f.b, f.bp): f for f in pure.summaries}
    assert all(row == _as_row(by_key[row[:3]]) for row in store.rows)
    assert fast.findings == pure.findings
    assert [s["client_port"] for s in fast.findings["sessions"]] == [40001, 40002]


def test_summary_gate_is_checked() -> None:
    """A malformed summary_gate or read list is refused with a clear error."""
    with pytest.raises(TypeError, match="summary_gate"):
        _bare_kernel(Packet, summary_cls=FlowSummary, summary_gate=(1.0, 2))
    with pytest.raises(ValueError, match="at most 8"):
        _bare_kernel(Packet, summary_cls=FlowSummary, summary_gate=(1.0, 2, 3, 4, tuple(range(9))))
    kernel = _bare_kernel(Packet, summary_cls=FlowSummary, summary_gate=(1.0, 2, 3, 4, (64,)), tcp_summaries_only=True)
    with pytest.raises(TypeError, match="read"):
        kernel.finish([("10.0.0.1", 1, "10.0.0.2")])
    with pytest.raises(ValueError):
        kernel.finish([("10.0.0.1", 1, "not an address", 2)])
    assert list(kernel.finish([("10.0.0.1", 1, "10.0.0.2", 2), ("10.0.0.1", 1, "::1", 2)])) == []


# -- crafted: link layers, IPv6 extension headers, fragments ---------------------------------------
@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_every_link_type(tmp_path: Path, link: str, v6: bool) -> None:
    linktype, wrap = LINKS[link]
    out = same(write(tmp_path, f"{link}.pcap", pcap_file(mixed(v6), linktype, wrap)))
    wrong_family = (link == "ipv4-228" and v6) or (link == "ipv6-229" and not v6)
    assert len(out.findings["sessions"]) == (0 if wrong_family else 1)


def test_unsupported_link_type_and_non_ip(tmp_path: Path) -> None:
    recs = mixed()
    p1 = write(tmp_path, "a.pcap", pcap_file(recs, 147, lambda ip: ip))
    arp = [(T0, MACS + b"\x08\x06" + b"\0" * 28), (T0 + 1, MACS + b"\x88\xcc" + b"\0" * 30)]
    p2 = write(tmp_path, "b.pcap", pcap_file(arp + recs, 1, lambda f: f if f.startswith(MACS) else eth(f)))
    out = same(p1, p2)
    assert out.infos[0].warnings == [f"offset 24: link type 147 not supported: {len(recs)} packets counted, not decoded"]


@pytest.mark.parametrize("ext", ["hop", "routing", "dest", "ah", "atomic-fragment", "chain", "esp", "too-many"])
def test_ipv6_extension_headers(tmp_path: Path, ext: str) -> None:
    headers = {
        "hop": (0, lambda nh: bytes([nh, 0]) + b"\x01\x04\0\0\0\0"),
        "routing": (43, lambda nh: bytes([nh, 2, 0, 0]) + b"\0" * 20),
        "dest": (60, lambda nh: bytes([nh, 1]) + b"\x01\x0c" + b"\0" * 12),
        "ah": (51, lambda nh: bytes([nh, 2, 0, 0]) + b"\0" * 12),
        "atomic-fragment": (44, lambda nh: struct.pack("!BBHI", nh, 0, 0, 7)),
    }
    def wrap(ip: bytes) -> bytes:
        nh, body = ip[6], ip[40:]
        if ext == "chain":
            ext_bytes = headers["hop"][1](60) + headers["dest"][1](51) + headers["ah"][1](nh)
            first = 0
        elif ext == "esp":
            ext_bytes, first = b"", 50
        elif ext == "too-many":
            ext_bytes = headers["dest"][1](60) * 16 + headers["dest"][1](nh)
            first = 60
        else:
            first, make = headers[ext]
            ext_bytes = make(nh)
        body = ext_bytes + body
        return ip[:4] + struct.pack("!HB", len(body), first) + ip[7:40] + body
    out = same(write(tmp_path, "x.pcap", pcap_file(mixed(True), 101, wrap)))
    assert len(out.findings["sessions"]) == (0 if ext in ("esp", "too-many") else 1)


@pytest.mark.parametrize("budget", [None, 90, 700], ids=["one-batch", "tiny-batches", "small-batches"])
@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_fragmented_mining_and_dns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, v6: bool, budget: int | None) -> None:
    """Fragments are barriers: with small batches, the walker has several queued ahead of the one
    dispatched when it stops at a fragment, and goes on only after the fragment's batch."""
    if budget is not None:
        monkeypatch.setattr(fast_mod, "BUDGET", budget)
    rnd = random.Random(5)
    out_recs = []
    ident = 100
    for ts, ip in mixed(v6):
        body = ip[40:] if v6 else ip[20:]
        proto = ip[6] if v6 else ip[9]
        src = str(ipaddress.ip_address(ip[8:24] if v6 else ip[12:16]))
        dst = str(ipaddress.ip_address(ip[24:40] if v6 else ip[16:20]))
        if len(body) > 60 and rnd.random() < 0.5:  # fragment it, fragments out of order
            ident += 1
            frags = (frag6 if v6 else frag4)(src, dst, proto, body, ident, 24)
            rnd.shuffle(frags)
            out_recs += [(ts + i * 1e-6, f) for i, f in enumerate(frags)]
        else:
            out_recs.append((ts, ip))
    lone = (frag6 if v6 else frag4)("10.9.9.9" if not v6 else "2001:db8::99", "10.9.9.8" if not v6 else "2001:db8::98",
                                    6, tcp_seg(1, 2, 3, 4, 0x18, b"x" * 64), 999, 16)
    out_recs.append((T0 + 50, lone[0]))  # never completed: reported at the end of the file
    out = same(write(tmp_path, "f.pcap", pcap_file(out_recs, 1, eth)))
    assert len(out.findings["sessions"]) == 1
    assert any("not reassembled" in w for w in out.infos[0].warnings)
    # the reassembled packets count in the summaries (the kernel saw them through observe())
    miner = [ip for _, ip in mixed(v6) if struct.pack("!H", 40001) in (ip[40:42] if v6 else ip[20:22],
                                                                      ip[42:44] if v6 else ip[22:24])]
    summary = next(f for f in out.summaries if 40001 in (f.ap, f.bp))
    assert sum(summary.packets) == len(miner) and summary.payload_packets == (len(STRATUM_C), len(STRATUM_S))


# -- crafted: damage --------------------------------------------------------------------------------
def _broken_headers() -> list[tuple[float, bytes]]:
    """One frame per check of detector/capture/ip.py (each skipped and counted, or kept)."""
    good4 = ip_packet("10.0.0.1", "10.0.0.2", 6, tcp_seg(1, 2, 3, 4, 0x18, STRATUM_C[0]))
    good6 = ip_packet("2001:db8::1", "2001:db8::2", 17, udp_dgram(5, 53, DNS_Q))
    def patch(raw: bytes, at: int, value: bytes) -> bytes:
        return raw[:at] + value + raw[at + len(value):]
    frames = [
        good4[:19],                                   # IPv4 header cut
        patch(good4, 0, b"\x55"),                     # version 5
        patch(good4, 0, b"\x44"),                     # IHL 16
        patch(good4, 2, b"\x00\x10"),                 # total length < IHL
        patch(good4, 2, b"\x00\x00"),                 # total length 0: taken from the capture
        patch(good4, 2, b"\x04\x00"),                 # total length > captured: snapped
        patch(good4, 0, b"\x4f"),                     # options beyond the packet
        patch(good4, 9, b"\x01"),                     # ICMP: not TCP/UDP
        patch(good4, 32, b"\x40"),                    # TCP data offset 16
        patch(good4, 32, b"\xf0"),                    # TCP data offset 60 > segment
        good4[:30],                                   # TCP header cut
        patch(patch(good4, 9, b"\x11"), 2, b"\x00\x1a"),  # UDP shorter than 8 bytes
        good6[:39],                                   # IPv6 header cut
        patch(good6, 0, b"\x40"),                     # version 4 under IPv6
        patch(good6, 4, b"\x00\x00"),                 # payload length 0
        patch(good6, 4, b"\x04\x00"),                 # payload length > captured
        patch(good6, 44, b"\x00\x03"),                # UDP length 3
        patch(good6, 44, b"\x04\x00"),                # UDP length > datagram
        patch(good6, 6, b"\x3b"),                     # no next header
    ]
    return [(T0 + i * 0.1, f) for i, f in enumerate(frames)]


def _damaged_pcaps() -> dict[str, bytes]:
    good = pcap_file(mixed(), 1, eth)
    first = 24 + 16 + struct.unpack_from("<I", good, 24 + 8)[0]
    runt = pcap_file([(T0, b"\x01" * 10)] + mixed(), 1, lambda f: f if len(f) == 10 else eth(f))
    bad_ip = bytearray(good)
    bad_ip[first + 16 + 14] = 0x4F  # second record: IHL 60 > total length
    snapped = pcap_file(mixed(), 1, eth, snaplen=70)
    return {
        "cut-in-record": good[: len(good) - 30],
        "cut-in-header": good[: first + 7],
        "header-only-cut": good[:20],
        "absurd-caplen": good[:first] + struct.pack("<IIII", T0, 0, 10**7, 60) + good[first + 16:],
        "garbage-tail": good + bytes(random.Random(1).randbytes(5000)),
        "runt-frame": runt,
        "bad-ip-header": bytes(bad_ip),
        "snapped": snapped,
        "broken-headers-raw": pcap_file(_broken_headers() + mixed(), 101, lambda ip: ip),
        "broken-headers-eth": pcap_file(_broken_headers(), 1, lambda ip: MACS + (b"\x86\xdd" if len(ip) > 20 and ip[6] in (0x11, 0x3b) and len(ip) >= 39 and ip[0] >> 4 != 4 or ip[:1] == b"\x40" and len(ip) > 40 else b"\x08\x00") + ip),
        "snaplen-huge": pcap_file(mixed(), 1, eth, snaplen=0xFFFFFFFF),
        "snaplen-zero-caplen-over-256k": pcap_file([(T0, b"\0" * 300_000)] + mixed(), 1, eth, snaplen=0),
        "big-endian": pcap_file(mixed(), 1, eth, order=">"),
        "nanosecond": pcap_file(mixed(), 1, eth, ns=True),
        "modified-24": pcap_file(mixed(), 1, eth, modified=True),
    }


@pytest.mark.parametrize("name", sorted(_damaged_pcaps()))
def test_pcap_variants_and_damage(tmp_path: Path, name: str) -> None:
    same(write(tmp_path, f"{name}.pcap", _damaged_pcaps()[name]))


def _pcapngs() -> dict[str, bytes]:
    frames = [eth(ip) for _, ip in mixed()]
    times = [int(ts * 10**6) for ts, _ in mixed()]
    epbs = b"".join(ng_epb("<", 0, t, f) for t, f in zip(times, frames))
    head = ng_shb() + ng_idb()
    big = ng_shb(">") + ng_idb(">", 101) + b"".join(ng_epb(">", 0, t, f[14:]) for t, f in zip(times, frames))
    two_if = ng_shb() + ng_idb() + ng_idb("<", 101, tsresol=9) + b"".join(
        ng_epb("<", i % 2, t * 1000 if i % 2 else t, f[14:] if i % 2 else f) for i, (t, f) in enumerate(zip(times, frames)))
    spb_opb = head + b"".join((ng_spb("<", f) if i % 3 == 0 else ng_opb("<", 0, t, f) if i % 3 == 1 else ng_epb("<", 0, t, f))
                              for i, (t, f) in enumerate(zip(times, frames)))
    sections = head + epbs[: len(epbs) // 2] + ng_shb(">") + ng_idb(">", 1) + b"".join(
        ng_epb(">", 0, t, f) for t, f in zip(times[len(times) // 2:], frames[len(frames) // 2:]))
    v2 = ng_shb(major=2) + ng_idb() + epbs + ng_shb() + ng_idb() + epbs
    return {
        "plain": head + epbs,
        "big-endian-raw": big,
        "two-interfaces": two_if,
        "spb-opb": spb_opb,
        "two-sections": sections,
        "version-2-section": v2,
        "undeclared-interface": head + ng_epb("<", 5, 0, frames[0]) + epbs,
        "warnings-bounded": head + ng_epb("<", 3, 0, frames[0]) * 150 + epbs,
        "spb-before-idb": ng_shb() + ng_spb("<", frames[0]) + ng_idb() + epbs,
        "cut-block": (head + epbs)[:-10],
        "cut-block-header": head + epbs + b"\x06\0\0\0\x20",
        "bad-trailer": head + epbs[:-4] + b"\0\0\0\0",
        "bad-length": head + epbs + struct.pack("<II", 6, 13) + b"\0" * 8,
        "bad-bom": head + epbs + struct.pack("<II", 0x0A0D0D0A, 28) + b"XXXX" + b"\0" * 16,
        "huge-caplen": head + ng_block("<", 6, struct.pack("<IIIII", 0, 0, 0, 400_000, 60) + b"\0" * 60) + epbs,
        "short-epb": head + epbs + ng_block("<", 6, b"\0" * 8),
        "short-idb": ng_shb() + ng_block("<", 1, b"\0" * 4) + epbs,
        "short-shb": ng_shb() + ng_idb() + ng_block("<", 0x0A0D0D0A, struct.pack("<I", 0x1A2B3C4D)),
        "idb-option-overrun": ng_shb() + ng_block("<", 1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 40)) + epbs,
        "idb-bad-tsresol": ng_shb() + ng_idb(tsresol=0x55) + epbs,
        "other-blocks": head + ng_block("<", 4, b"\0" * 8) + ng_block("<", 5, b"\0" * 20) + epbs,
        "unsupported-interface": ng_shb() + ng_idb("<", 147) + ng_idb() + b"".join(
            ng_epb("<", 1, t, f) + (ng_epb("<", 0, t, f) if i % 3 == 0 else b"")
            for i, (t, f) in enumerate(zip(times, frames))),
    }


@pytest.mark.parametrize("name", sorted(_pcapngs()))
def test_pcapng_variants_and_damage(tmp_path: Path, name: str) -> None:
    same(write(tmp_path, f"{name}.pcapng", _pcapngs()[name]))


@pytest.mark.parametrize("tsoffset", [None, -7, 2**40])
@pytest.mark.parametrize("tsresol", [None, 0, 3, 9, 15, 16, 17, 19, 0x80 | 10, 0x80 | 30, 0x80 | 53, 0x80 | 63, 0x80 | 64])
def test_pcapng_timestamps_match_python_arithmetic(tmp_path: Path, tsresol: int | None, tsoffset: int | None) -> None:
    """Packet times (of the DNS responses both paths read) and first/last times, to the bit:
    ticks below the divisor keep every bit of the fraction visible."""
    rnd = random.Random(tsresol or 0)
    res = 6 if tsresol is None else tsresol
    div = 2 ** (res & 0x7F) if res & 0x80 else 10**res
    blocks = []
    for i in range(300):
        ticks = rnd.getrandbits(64) if i % 3 == 0 else rnd.randrange(min(div, 2**64))
        frame = eth(ip_packet("10.0.0.53", "10.0.0.1", 17, udp_dgram(53, 1000 + i, dns_answer("192.0.2.9"))))
        blocks.append(ng_epb("<", 0, ticks, frame))
    data = ng_shb() + ng_idb(tsresol=tsresol, tsoffset=tsoffset) + b"".join(blocks)
    path = write(tmp_path, "t.pcapng", data)
    pure, fast = _recorded(path)
    assert [ts for ts, _, _ in fast] == [ts for ts, _, _ in pure] and len(pure) == 300
    same(path)


def _both(path: Path, table_cls: type[FlowTable]) -> tuple[Any, Any]:
    """Two tables of ``table_cls``: one given every packet of ``path`` (pure), one the fast path's."""
    pure, fast = table_cls(), table_cls()
    with open_capture(path) as cap:
        for p in cap:
            pure.add(p)
    fast_scan_file(path, fast)
    return pure, fast


def _recorded(path: Path) -> tuple[list[tuple[float, str, bytes]], list[tuple[float, str, bytes]]]:
    """(DNS responses the pure table read, those the fast path's table read)."""
    pure, fast = _both(path, Recorder)
    return pure.answers, fast.answers


def test_ipv6_address_text_matches_ipaddress(tmp_path: Path) -> None:
    rnd = random.Random(3)
    shapes = ["::", "::1", "1::", "2001:db8::", "::ffff:1.2.3.4", "::1.2.3.4", "64:ff9b::1.2.3.4", "1:0:0:1:0:0:0:1",
              "1:0:1:0:1:0:1:0", "0:0:1::1", "fe80::1:0:0:0", "ff02::1:ff00:1"]
    for _ in range(150):
        groups = [rnd.choice([0, 0, 0, 1, 0xFFFF, rnd.getrandbits(16)]) for _ in range(8)]
        shapes.append(str(ipaddress.IPv6Address(b"".join(struct.pack("!H", g) for g in groups))))
    recs = [(T0 + i, ip_packet(a, shapes[-1 - i], 6, tcp_seg(5000, 3333, 1, 0, 0x18, b'{"id":1}\n')))
            for i, a in enumerate(shapes)]
    path = write(tmp_path, "v6.pcap", pcap_file(recs, 229, lambda ip: ip))
    pure, fast = _both(path, Recorder)
    assert [(p.src, p.dst) for p in fast.seen] == [(p.src, p.dst) for p in pure.seen]
    assert [p.src for p in fast.seen] == [ipaddress.IPv6Address(a).compressed for a in shapes]
    # and the receivers of DNS responses
    recs = [(T0 + i, ip_packet(shapes[-1 - i], a, 17, udp_dgram(53, 5000, dns_answer("192.0.2.9"))))
            for i, a in enumerate(shapes)]
    path = write(tmp_path, "v6dns.pcap", pcap_file(recs, 229, lambda ip: ip))
    pure_answers, fast_answers = _recorded(path)
    assert [dst for _, dst, _ in fast_answers] == [ipaddress.IPv6Address(a).compressed for a in shapes]
    assert fast_answers == pure_answers


# -- crafted: gzip ------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["none", "truncated", "corrupt", "trailing-garbage", "two-members", "bad-crc"])
@pytest.mark.parametrize("chunk", [1 << 20, 777], ids=["1MiB-blocks", "777-byte-blocks"])
def test_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, chunk: int) -> None:
    """Records straddle inflate blocks (777 bytes: nearly every record); damage as in the pure path."""
    monkeypatch.setattr(pcap_mod, "INFLATE_CHUNK", chunk)
    raw = pcap_file(mixed() + mixed(True, T0 + 5), 1, eth)
    comp = gzip.compress(raw, 6, mtime=0)
    data = {
        "none": comp,
        "truncated": comp[: len(comp) * 2 // 3],
        "corrupt": comp[: len(comp) // 2] + b"\xff" * 40 + comp[len(comp) // 2 + 40:],
        "trailing-garbage": comp + b"JUNKJUNK",
        "two-members": gzip.compress(raw[:5000], mtime=0) + gzip.compress(raw[5000:], mtime=0),
        "bad-crc": comp[:-8] + bytes([comp[-8] ^ 0xFF]) + comp[-7:],
    }[damage]
    out = same(write(tmp_path, "g.pcap.gz", data))
    assert out.infos[0].format == "pcap+gzip"
    assert (out.infos[0].warnings == []) == (damage in ("none", "two-members"))


def test_gzip_pcapng(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcap_mod, "INFLATE_CHUNK", 333)
    data = _pcapngs()["two-interfaces"]
    same(write(tmp_path, "g.pcapng.gz", gzip.compress(data, mtime=0)))


# -- crafted: flow lifecycle --------------------------------------------------------------------------
def test_rotation_connection_spans_two_files(tmp_path: Path) -> None:
    conv = Conv("10.0.0.10", "192.0.2.77", 40001, 3333).handshake()
    conv.data(True, STRATUM_C[0]).data(False, STRATUM_S[0])
    half = len(conv.out)
    conv.data(True, STRATUM_C[1]).data(False, STRATUM_S[1]).data(False, STRATUM_S[2]).fin()
    recs = conv.out + dns_pair("10.0.0.10", "10.0.0.53", T0 + 0.0005)
    recs.sort(key=lambda r: r[0])
    a = write(tmp_path, "cap-00.pcap", pcap_file(recs[:half], 1, eth))
    b = write(tmp_path, "cap-01.pcap.gz", gzip.compress(pcap_file(recs[half:], 1, eth), mtime=0))
    out = same(a, b)
    assert len(out.findings["sessions"]) == 1
    scanner_table = FlowTable()
    fast_scan_file(a, scanner_table)
    first = scanner_table.on_ignore
    fast_scan_file(b, scanner_table)
    assert scanner_table.on_ignore == first  # one kernel for the whole scan
    miner = [f for f in out.summaries if f.bp == 3333]  # still live at the end of file 1: one flow
    assert len(miner) == 1 and sum(miner[0].packets) == len(conv.out) and miner[0].client_is_a is True


@pytest.mark.parametrize("budget", [1, 1 << 22], ids=["record-by-record", "read-ahead"])
def test_flows_reused_after_fin_and_rst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.setattr(fast_mod, "BUDGET", budget)  # ignore() before / after the kernel reads on
    c, s = "10.0.0.10", "192.0.2.77"
    first = Conv(c, s, 40001, 3333).handshake().stratum().fin()
    second = Conv(c, s, 40001, 3333, t=first.t + 1).handshake().stratum()
    second.packet(False, 0x04)  # RST
    third = Conv(c, s, 40001, 3333, t=second.t + 1).handshake().stratum().fin()
    # a non-mining JSON flow, ignored after its messages, then the tuple reused by a miner
    echo = Conv(c, s, 40002, 8080, t=third.t + 1).handshake()
    for i in range(70):
        echo.data(True, ECHO % i)
    echo.fin()
    miner = Conv(c, s, 40002, 8080, t=echo.t + 1).handshake().stratum().fin()
    recs = first.out + second.out + third.out + echo.out + miner.out
    out = same(write(tmp_path, "reuse.pcap", pcap_file(recs, 1, eth)))
    assert len(out.findings["sessions"]) == 4
    # in the order they end: replaced by the next SYN on the tuple, the last two at the end of the scan
    by_tuple = [sum(f.packets) for f in out.summaries if f.ap in (40001, 40002)]
    assert by_tuple == [len(first.out), len(second.out), len(echo.out), len(third.out), len(miner.out)]
    assert out.findings["summary"] == run_pure([tmp_path / "reuse.pcap"]).findings["summary"]


@pytest.mark.parametrize("budget", [1, 1 << 22], ids=["record-by-record", "read-ahead"])
def test_idle_split_of_mining_dns_and_ignored_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.setattr(fast_mod, "BUDGET", budget)  # ignore() before / after the kernel reads on
    c, s = "10.0.0.10", "192.0.2.77"
    conv = Conv(c, s, 40001, 3333).handshake().stratum()
    conv.idle(flows.IDLE_TIMEOUT + 5).stratum().fin()
    echo = Conv(c, s, 40002, 8080).handshake()
    for i in range(70):
        echo.data(True, ECHO % i)
    echo.idle(flows.IDLE_TIMEOUT + 1).stratum()
    recs = conv.out + echo.out + dns_pair(c, "10.0.0.53", T0) + dns_pair(c, "10.0.0.53", T0 + 4000)
    recs.sort(key=lambda r: r[0])
    out = same(write(tmp_path, "idle.pcap", pcap_file(recs, 1, eth)))
    assert len(out.findings["sessions"]) == 3
    assert sum(f.ap == 40001 for f in out.summaries) == 2 and sum(f.ap == 40002 for f in out.summaries) == 2
    assert sum(f.bp == 53 for f in out.summaries) == 2  # the DNS flow, split by 4000 s of silence


def _sweep_capture(shuffle: int) -> bytes:
    rnd = random.Random(shuffle)
    recs: list[tuple[float, bytes]] = []
    for i in range(6):
        conv = Conv(f"10.0.0.{10 + i}", "192.0.2.77", 40000 + i, 3333, t=T0 + i * 3, step=0.7).handshake()
        recs += conv.stratum().fin().out
        recs += bulk(f"10.0.1.{i}", "192.0.2.1", 41000 + i, T0 + i * 4)
        recs += dns_pair(f"10.0.0.{i}", "10.0.0.53", T0 + i * 6)
    recs.sort(key=lambda r: r[0])
    if shuffle:  # bulk and DNS packets jump ahead in time: sweeps "in the future" end the miners
        pool = addr("192.0.2.77")
        movable = [i for i, (_, ip) in enumerate(recs) if pool not in (ip[12:16], ip[16:20])]
        for i in rnd.sample(movable, 40):
            recs[i] = (recs[i][0] + rnd.choice([30, 300]), recs[i][1])
    return pcap_file(recs, 1, eth)


class SweepRecorder(FlowTable):
    """A FlowTable that notes the capture time of every idle sweep it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeps: list[float] = []

    def _sweep(self, now: float) -> None:
        if not self.sweeps or self.sweeps[-1] != now:  # a kernel event may repeat the table's own
            self.sweeps.append(now)
        super()._sweep(now)


@pytest.mark.parametrize("shuffle", [0, 1, 2, 3], ids=["in-order"] + [f"times-out-of-order-{i}" for i in range(1, 4)])
def test_idle_sweep_runs_at_the_same_packets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shuffle: int) -> None:
    """A small SWEEP_EVERY / IDLE_TIMEOUT: many sweeps, at the same packets and times in both
    paths; with times out of order a sweep "in the future" ends the same flows, no more."""
    monkeypatch.setattr(flows, "SWEEP_EVERY", 16)
    monkeypatch.setattr(flows, "IDLE_TIMEOUT", 5.0)
    path = write(tmp_path, "sweep.pcap", _sweep_capture(shuffle))
    out = same(path)
    assert out.findings["sessions"]
    pure, fast = _both(path, SweepRecorder)
    assert fast.sweeps == pure.sweeps and len(pure.sweeps) > 10


def test_unhinted_flows_stay_in_the_kernel(tmp_path: Path) -> None:
    """Bulk flows never reach Python; a flow with 8 unhinted segments is ignored even if it later
    carries stratum; Python gets exactly the mining flow from its first JSON and the DNS response."""
    c, s = "10.0.0.10", "192.0.2.77"
    late = Conv(c, s, 40003, 3333).handshake()
    for _ in range(flows.UNHINTED_LIMIT):
        late.data(True, b"\x00binary")
    late.stratum()
    miner = Conv(c, s, 40001, 3333).handshake().stratum().fin()
    recs = late.out + miner.out + dns_pair(c, "10.0.0.53", T0)
    for i in range(20):
        recs += bulk(c, f"198.51.100.{i}", 42000 + i, T0 + i)
    path = write(tmp_path, "u.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    out = same(path)
    assert len(out.findings["sessions"]) == 1
    table = FlowTable()
    _, counts = fast_scan_file(path, table)
    assert counts.selected == len(miner.out) - 3 + 1  # from the first JSON segment on, plus the DNS response
    assert counts.held == sum(_pure_ack(ip) for _, ip in miner.out[3:])  # given as counts only
    assert counts.flows_seen == table.flows_seen == 2 + 1 + 20  # late, miner, DNS, bulk


def _pure_ack(ip: bytes) -> bool:
    """An IPv4 TCP segment without payload nor SYN / FIN / RST (built by tcp_seg: 20-byte header)."""
    return len(ip) == 40 and not ip[33] & 0x07


# -- the kernel's API directly ---------------------------------------------------------------------
def _events_whole(kernel: Any, data: bytes, kind: int) -> tuple[list, tuple]:
    kernel.begin(kind)
    events, pos = [], 0
    while True:
        pos, status, evs, _need = kernel.feed(data, pos, 0, True, 1 << 30)
        events += evs
        if status == _fastpath.ST_DONE:
            return events, kernel.file_stats()


def _events_chunked(kernel: Any, data: bytes, kind: int, rnd: random.Random) -> tuple[list, tuple]:
    """Feed the bytes in random pieces, carrying the unconsumed remainder over (as for gzip)."""
    kernel.begin(kind)
    events, buf, taken, base = [], b"", 0, 0
    final = False
    while True:
        pos, status, evs, need = kernel.feed(buf, 0, base, final, rnd.randrange(1, 4000))
        events += evs
        buf, base = buf[pos:], base + pos
        if status == _fastpath.ST_DONE:
            return events, kernel.file_stats()
        if status == _fastpath.ST_NEED:
            assert need > len(buf)
            while len(buf) < need and taken < len(data):
                piece = rnd.randrange(1, 3000)
                buf += data[taken:taken + piece]
                taken += piece
            final = taken >= len(data)


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_chunked_feeding_gives_the_same_events(kind: str) -> None:
    data = pcap_file(mixed() + mixed(True, T0 + 1), 1, eth) if kind == "pcap" else _pcapngs()["spb-opb"]
    k = 1 if kind == "pcapng" else 0
    rnd = random.Random(8)
    for cut in (len(data), len(data) - 7, len(data) // 2):
        whole = _events_whole(FastScanner(FlowTable()).kernel, data[:cut], k)
        for _ in range(5):
            assert _events_chunked(FastScanner(FlowTable()).kernel, data[:cut], k, rnd) == whole


def test_kernel_api_errors() -> None:
    kernel = FastScanner(FlowTable()).kernel
    with pytest.raises(ValueError, match="pos outside"):
        kernel.feed(b"abc", 10, 0, True, 100)
    with pytest.raises(ValueError, match="kind"):
        kernel.begin(7)
    with pytest.raises(ValueError, match="not an IP address"):
        kernel.ignore("nope", 1, "10.0.0.1", 2, 6, 1)
    assert kernel.ignore("10.0.0.1", 1, "10.0.0.2", 2, 6, 1) is None  # queued for the next walk
    with pytest.raises(ValueError, match="not a TCP/UDP Packet"):
        kernel.observe(Packet(0.0, "10.0.0.1", "::1", 6, 1, 2, b"", 40))
    with pytest.raises(RuntimeError, match="not initialised"):
        _fastpath.Kernel.__new__(_fastpath.Kernel).counts()
    kernel.begin(0)
    assert kernel.feed(b"\xd4\xc3\xb2\xa1", 0, 0, False, 100)[1:] == (_fastpath.ST_NEED, [], 24)


def _bulk_peak(tmp_path: Path, segments: int) -> tuple[int, int, Any]:
    recs: list[tuple[float, bytes]] = []
    for i in range(200):
        recs += bulk(f"10.1.{i // 250}.{i % 250}", "198.51.100.1", 30000 + i, T0 + i * 0.01, segments)
    path = write(tmp_path, f"bulk{segments}.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    tracemalloc.start()
    try:
        _, counts = fast_scan_file(path, FlowTable())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, path.stat().st_size, counts


def test_memory_stays_flat_on_bulk_traffic(tmp_path: Path) -> None:
    """200 bulk flows: nothing selected; three times the packets, the same Python allocations
    (the 1 MiB of open_capture's sniffing read included)."""
    small, small_size, counts = _bulk_peak(tmp_path, 20)
    big, big_size, big_counts = _bulk_peak(tmp_path, 60)
    assert counts.selected == big_counts.selected == 0 and counts.flows_seen == 200
    assert big_size > 2.5 * small_size
    assert big < (3 << 19) and abs(big - small) < 64 << 10


# -- fuzz (in a subprocess: a crash of the kernel must not take the test run down) ---------------------
FUZZ = r"""
import gzip, json, random, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import test_fastpath as t
from pathlib import Path
from detector.errors import InputError
tmp = Path(sys.argv[3])
rnd = random.Random(int(sys.argv[4]))
seeds = {"pcap": t.pcap_file(t.mixed() + t.mixed(True, t.T0 + 1), 1, t.eth),
         "ng": t._pcapngs()["two-interfaces"], "raw6": t.pcap_file(t.mixed(True), 229, lambda ip: ip)}
seeds["gz"] = gzip.compress(seeds["pcap"], mtime=0)
done = mismatches = flowtable_errors = 0
for i in range(int(sys.argv[5])):
    name = rnd.choice(sorted(seeds))
    data = bytearray(seeds[name])
    how = rnd.randrange(3)
    if how == 0:
        for _ in range(rnd.randrange(1, 16)):
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    elif how == 1:
        data = data[: rnd.randrange(len(data) + 1)]
    else:
        at = rnd.randrange(24 if name != "gz" else 0, len(data))
        data[at:at + rnd.randrange(1, 200)] = rnd.randbytes(rnd.randrange(1, 200))
    path = tmp / f"f{i}.{'pcap.gz' if name == 'gz' else name}"
    path.write_bytes(bytes(data))
    outcome = []
    for run in (t.run_pure, t.run_fast):
        try:
            out = run([path])
            out = out[0] if isinstance(out, tuple) else out
            outcome.append(("ok", out.findings, out.infos, out.summaries))
        except (InputError, AssertionError, AttributeError) as e:  # refused, or a FlowTable bug
            outcome.append((type(e).__name__, str(e)))
    if outcome[0] != outcome[1]:
        mismatches += 1
        print("MISMATCH", path, outcome[0][:1], outcome[1][:1], file=sys.stderr)
    elif outcome[0][0] not in ("ok", "CaptureFormatError"):
        flowtable_errors += 1  # the same exception from FlowTable in both paths
        print("FLOWTABLE", path, outcome[0], file=sys.stderr)
    done += 1
print(json.dumps({"done": done, "mismatches": mismatches}))
print(json.dumps({"flowtable_errors": flowtable_errors}), file=sys.stderr)
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_kernel_never_crashes_and_agrees(tmp_path: Path, seed: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FUZZ, str(REPO), str(REPO / "tests"), str(tmp_path), str(seed), "150"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, f"fuzz process died ({done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"done": 150, "mismatches": 0}, done.stderr[-3000:]


def test_fuzz_random_bytes_after_headers(tmp_path: Path) -> None:
    """Pure garbage after valid file headers, many small files, in one subprocess."""
    code = r"""
import random, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import test_fastpath as t
from pathlib import Path
rnd = random.Random(77)
heads = [t.pcap_file([]), t.ng_shb() + t.ng_idb(), t.ng_shb(">") + t.ng_idb(">", 101), t.pcap_file([], 229)]
bad = 0
for i in range(400):
    p = Path(sys.argv[3]) / f"r{i}"
    p.write_bytes(heads[i % 4] + rnd.randbytes(rnd.randrange(0, 4000)))
    pure = t.run_pure([p]); fast, _ = t.run_fast([p])
    bad += fast.findings != pure.findings or fast.infos != pure.infos or fast.summaries != pure.summaries
print(bad)
"""
    done = subprocess.run([sys.executable, "-c", code, str(REPO), str(REPO / "tests"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "0"


def test_sha256_and_size_of_mapped_file(tmp_path: Path) -> None:
    data = pcap_file(mixed(), 1, eth)
    info, counts = fast_scan_file(write(tmp_path, "h.pcap", data), FlowTable())
    assert (info.sha256, info.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert counts.flows_seen >= 6


def test_sha256_settled_later(tmp_path: Path) -> None:
    """settle=False (the scan command): the file is walked while it is hashed, and the digest is
    waited for only when the findings' inputs are written."""
    data = pcap_file(mixed(), 1, eth)
    info, _ = fast_scan_file(write(tmp_path, "h.pcap", data), FlowTable(), settle=False)
    assert info.sha256 == "" and info.sha256_later is not None and info.size == len(data)
    info.settle()
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.warnings == []


def test_not_a_capture_same_error(tmp_path: Path) -> None:
    from detector.errors import CaptureFormatError, UnreadableInputError

    path = write(tmp_path, "notes.txt", b"hello, not a capture")
    with pytest.raises(CaptureFormatError) as pure:
        run_pure([path])
    with pytest.raises(CaptureFormatError) as fast:
        fast_scan_file(path, FlowTable())
    assert str(fast.value) == str(pure.value)
    with pytest.raises(UnreadableInputError, match="no such file"):
        fast_scan_file(tmp_path / "missing.pcap", FlowTable())


def test_progress_reports_decoded_packets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_mod, "BUDGET", 2000)
    path = write(tmp_path, "p.pcap", pcap_file(mixed(), 1, eth))
    seen: list[int] = []
    fast_scan_file(path, FlowTable(), progress=seen.append)
    with open_capture(path) as cap:
        total = sum(1 for _ in cap)
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == total


def test_late_ignore_does_not_hit_the_next_flow_on_the_tuple(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel reads ahead: when FlowTable ignores a flow, the kernel may already hold a newer
    flow on the same addresses and ports. The first batch ends inside the newer (mining) flow, so
    ignore() arrives while it is live: it must not be ignored."""
    c, s = "10.0.0.10", "192.0.2.77"
    echo = Conv(c, s, 40002, 8080).handshake()
    for i in range(70):
        echo.data(True, ECHO % i)
    echo.fin()
    miner = Conv(c, s, 40002, 8080, t=echo.t + 1).handshake().stratum().fin()
    data = pcap_file(echo.out + miner.out, 1, eth)
    first_batch = len(pcap_file(echo.out + miner.out[:4], 1, eth)) - 24
    monkeypatch.setattr(fast_mod, "BUDGET", first_batch)
    out = same(write(tmp_path, "late.pcap", data))
    assert len(out.findings["sessions"]) == 1


# a JSON reply (it stays inspected: it may be getwork's), sent in chunks
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_replaced_flow_ends_at_the_same_packet(tmp_path: Path) -> None:
    """A flow that ends with warnings (a held segment flushed at its end) and is replaced by a
    new connection on the same tuple at the end of file 1: its warnings belong to file 1."""
    c, s = "10.0.0.10", "192.0.2.77"
    conv = Conv(c, s, 40001, 8332).handshake()
    conv.data(True, b'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}')
    conv.data(False, CHUNKED_HEAD + b"7\r\n{\"a\":1}\r\n")
    conv.seq[1] += 100  # a segment the capture lost
    conv.data(False, CHUNKED_HEAD + b"ZZZZ\r\nbad\r\n")
    conv.fin()
    nxt = Conv(c, s, 40001, 8332, t=conv.t + 1).handshake()
    file1 = conv.out + nxt.out
    nxt.out = []
    nxt.stratum().fin()
    a = write(tmp_path, "r-00.pcap", pcap_file(file1, 1, eth))
    b = write(tmp_path, "r-01.pcap", pcap_file(nxt.out, 1, eth))
    out = same(a, b)
    assert any("malformed HTTP chunk" in w for w in out.infos[0].warnings)
    assert len(out.findings["sessions"]) == 1


def _flushing(conv: Conv, hinted_first: bool) -> Conv:
    """An inspected HTTP flow whose last response waits behind a lost segment: it is framed, with
    a warning, only when the flow ends."""
    if not hinted_first:
        conv.data(True, b"\x00binary").idle(1.0)
    conv.data(True, b'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}')
    conv.data(False, CHUNKED_HEAD + b"7\r\n{\"a\":1}\r\n")
    conv.seq[1] += 100
    return conv.data(False, CHUNKED_HEAD + b"ZZZZ\r\nbad\r\n")


@pytest.mark.parametrize("end", ["finish", "sweep"])
def test_flows_ending_together_end_in_creation_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: str) -> None:
    """Flow A is created first but inspected after flow B: when both end at the same moment, the
    pure path ends A first (its table holds flows in creation order); so must the fast path."""
    a = _flushing(Conv("10.0.0.1", "192.0.2.1", 40001, 8332, t=T0).handshake(), False)
    b = _flushing(Conv("10.0.0.2", "192.0.2.2", 40002, 8332, t=T0 + 0.5).handshake(), True)
    recs = sorted(a.out + b.out, key=lambda r: r[0])
    if end == "sweep":
        monkeypatch.setattr(flows, "SWEEP_EVERY", len(recs) + 2)
        recs += bulk("10.0.0.9", "198.51.100.1", 43000, T0 + flows.IDLE_TIMEOUT + 10)[:3]
    out = same(write(tmp_path, "order.pcap", pcap_file(recs, 1, eth)))
    assert [w.split(":")[0] for w in out.infos[0].warnings] == ["flow 10.0.0.1", "flow 10.0.0.2"]


# -- held-back pure ACKs -------------------------------------------------------------------------------
def _keepalive(conv: Conv, gaps: list[float], psh: bool = False) -> Conv:
    """Pure ACKs only (each gap apart), as TCP keepalives of an idle connection."""
    for i, gap in enumerate(gaps):
        conv.idle(gap).packet(i % 2 == 0, 0x18 if psh and i == 0 else 0x10)
    return conv


@pytest.mark.parametrize("gaps", [[1000.0, 1000.0, 1000.0], [1000.0, 2000.0], [2000.0]],
                         ids=["acks-keep-it-alive", "acks-then-idle", "idle-then-ack"])
def test_held_acks_keep_the_flow_alive_as_in_the_pure_path(tmp_path: Path, gaps: list[float]) -> None:
    """Only pure ACKs for longer than IDLE_TIMEOUT, then stratum again: the flow lives on when no
    gap exceeds the timeout (the table must learn the ACKs' time before the next packet), and is
    split where one does."""
    conv = Conv("10.0.0.10", "192.0.2.77", 40001, 3333).handshake().stratum()
    _keepalive(conv, gaps, psh=True).idle(500.0).stratum().fin()
    out = same(write(tmp_path, "keepalive.pcap", pcap_file(conv.out, 1, eth)))
    assert len(out.findings["sessions"]) == (1 if all(g <= flows.IDLE_TIMEOUT for g in gaps) else 2)
    _, counts = fast_scan_file(tmp_path / "keepalive.pcap", FlowTable())
    assert counts.held >= len(gaps)


def test_held_acks_before_sweeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweeps every 16 packets with a 5 s timeout; the miners' last packets before a sweep are often
    held ACKs: the table must not end them (nor keep ones the pure path ends)."""
    monkeypatch.setattr(flows, "SWEEP_EVERY", 16)
    monkeypatch.setattr(flows, "IDLE_TIMEOUT", 5.0)
    recs: list[tuple[float, bytes]] = []
    for i in range(4):
        conv = Conv(f"10.0.0.{10 + i}", "192.0.2.77", 40000 + i, 3333, t=T0 + i, step=0.5).handshake().stratum()
        _keepalive(conv, [3.0 + i] * 6).stratum().fin()  # the last miner's gaps (6 s) end it
        recs += conv.out
        recs += bulk(f"10.0.1.{i}", "192.0.2.1", 41000 + i, T0 + i * 7, segments=20)
    path = write(tmp_path, "sweeps.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    out = same(path)
    assert len(out.findings["sessions"]) >= 4
    pure = SweepRecorder()
    with open_capture(path) as cap:
        for packet in cap:
            pure.add(packet)
    fast = SweepRecorder()
    _, counts = fast_scan_file(path, fast)
    assert fast.sweeps == pure.sweeps and len(pure.sweeps) > 10 and counts.held > 20


class NoCredit(Recorder):
    """A table without the ``credit`` hook: the kernel gives it every packet."""

    credit = None  # type: ignore[assignment]


def test_a_table_without_credit_gets_every_ack(tmp_path: Path) -> None:
    path = write(tmp_path, "m.pcap", pcap_file(mixed() + mixed(True, T0 + 1), 1, eth))
    pure = run_pure([path])
    plain, table = run_fast([path], NoCredit)
    assert plain.findings == pure.findings
    counts = table.scanner.counts  # type: ignore[attr-defined]
    assert counts.held == 0 and counts.selected == len(plain.packets) + len(plain.answers)
    held, _ = run_fast([path])
    assert len(held.packets) < len(plain.packets) and held.findings == pure.findings


# -- late ignores, the walker ------------------------------------------------------------------------------
def _echo_then_miner() -> tuple[Conv, Conv]:
    """A JSON-RPC flow FlowTable ignores, then a miner reusing its addresses and ports."""
    c, s = "10.0.0.10", "192.0.2.77"
    echo = Conv(c, s, 40002, 8080).handshake()
    for i in range(20):
        echo.data(True, ECHO % i)
    echo.fin()
    return echo, Conv(c, s, 40002, 8080, t=echo.t + 1).handshake().stratum().fin()


def test_ignore_drops_walked_events_of_that_flow_instance_only() -> None:
    """ignore() while a batch is read: the flow's later events in that batch are dropped, the
    other flows' are not; the next walk applies it — to that flow instance, not to the miner that
    reused the tuple inside the first batch."""
    echo, miner = _echo_then_miner()
    recs = sorted(echo.out + miner.out + dns_pair("10.0.0.10", "10.0.0.53", T0 + 0.1), key=lambda r: r[0])
    data = pcap_file(recs, 1, eth)
    cut = len(pcap_file(recs[: len(echo.out) + 2 + 6], 1, eth))  # into the miner's handshake and JSON
    kernel = FastScanner(FlowTable()).kernel
    kernel.begin(0)
    batch = kernel.walk(data, 0, 0, True, cut)
    events = iter(batch)
    first = next(e for e in events if e[0] == _fastpath.EV_PACKET)
    echo_fid = first[1]
    kernel.ignore("10.0.0.10", 40002, "192.0.2.77", 8080, 6, echo_fid)
    rest = list(events)
    assert all(e[1] != echo_fid for e in rest if e[0] in (_fastpath.EV_PACKET, _fastpath.EV_ACKS))
    assert any(e[0] == _fastpath.EV_ANSWERS for e in rest)  # the DNS answer is kept (read by the kernel)
    preludes = [e for e in rest if e[0] == _fastpath.EV_PRELUDE and e[2].ap == 40002]
    assert len(preludes) == 1 and preludes[0][1] != echo_fid  # the miner, handed over in this batch
    later = list(kernel.walk(data, batch.pos, 0, True, 1 << 30))
    miner_packets = [e for e in later if e[0] == _fastpath.EV_PACKET]
    assert all(e[1] == preludes[0][1] for e in miner_packets)
    assert len(miner_packets) == sum(not _pure_ack(ip) for _, ip in recs[len(echo.out) + 8:])  # ACKs: counts


@pytest.mark.parametrize("budget", [60, 400, 3000])
def test_late_ignores_with_small_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """Batches of a record or a few: ignores reach the kernel several batches late (the walker
    queues up to WALK_AHEAD ahead), over and over."""
    monkeypatch.setattr(fast_mod, "BUDGET", budget)
    echo, miner = _echo_then_miner()
    recs = echo.out + miner.out
    path = write(tmp_path, "late.pcap", pcap_file(sorted(recs + mixed(t=T0 + 5), key=lambda r: r[0]), 1, eth))
    out = same(path)
    assert len(out.findings["sessions"]) == 2


def test_an_error_in_the_table_stops_the_walker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table fails in the middle of the file: its error comes out (not one about the mapping
    still in use), the walker is joined and the kernel can read again."""
    monkeypatch.setattr(fast_mod, "BUDGET", 500)

    class Failing(FlowTable):
        def add(self, p: Packet) -> None:
            if p.payload.startswith(b'{"id":2'):
                raise KeyError("table failed")
            super().add(p)

    path = write(tmp_path, "m.pcap", pcap_file(mixed(), 1, eth))
    table = Failing()
    with pytest.raises(KeyError, match="table failed"):
        fast_scan_file(path, table)
    scanner = table.on_ignore.__self__  # type: ignore[union-attr]
    scanner.kernel.begin(0)  # not walking any more
    assert scanner.counts.flows_seen > 0


def test_walker_api() -> None:
    data = pcap_file(mixed() + mixed(True, T0 + 1), 1, eth)
    kernel = FastScanner(FlowTable()).kernel
    with pytest.raises(RuntimeError, match="not running"):
        kernel.next()
    kernel.begin(0)
    kernel.start(data, 0, 0, 2000)
    for call in (lambda: kernel.begin(0), lambda: kernel.start(data, 0, 0, 1), kernel.counts, kernel.file_stats,
                 lambda: kernel.walk(data, 0, 0, True, 1)):
        with pytest.raises(RuntimeError, match="walking"):
            call()
    events, batches = [], 0
    while (batch := kernel.next()) is not None:
        events += list(batch)
        batches += 1
    assert batches > 3 and batch is None and kernel.next() is None
    with pytest.raises(RuntimeError, match="observe"):
        kernel.observe(Packet(T0, "10.0.0.1", "10.0.0.2", 6, 1, 2, b"", 40))
    kernel.stop()
    kernel.stop()
    serial = FastScanner(FlowTable()).kernel
    serial.begin(0)
    assert events == list(serial.walk(data, 0, 0, True, 1 << 30))
    assert kernel.file_stats() == serial.file_stats() and kernel.counts() == serial.counts()


def test_walker_stops_at_a_fragment_until_its_batch_is_dispatched() -> None:
    """The walker queues batches ahead, but stops after one that ends at a fragment: it waits
    there (observe() allowed) until next() is called after the one that handed that batch out."""
    recs = mixed()
    frag = frag4("10.9.9.9", "10.9.9.8", 6, tcp_seg(1, 2, 3, 4, 0x18, b"x" * 64), 999, 16)[0]
    data = pcap_file(recs[:6] + [(T0 + 0.5, frag)] + mixed(t=T0 + 1), 1, eth)
    kernel = FastScanner(FlowTable()).kernel
    kernel.begin(0)
    kernel.start(data, 0, 0, 1)  # a record per batch: the fragment's batch is queued ahead
    time.sleep(0.05)
    batches: list[list[Any]] = []
    while not batches or not any(e[0] == _fastpath.EV_FRAGMENT for e in batches[-1]):
        batch = kernel.next()
        assert batch is not None
        batches.append(list(batch))
    time.sleep(0.05)  # a walker let go too early would be walking on, or done, by now
    assert kernel.observe(Packet(T0 + 0.6, "10.9.9.9", "10.9.9.8", 6, 1, 2, b"y" * 8, 48, 0x18)) is not None
    rest: list[Any] = []
    while (batch := kernel.next()) is not None:
        rest += list(batch)
    kernel.stop()
    assert len(batches) > 2 and any(e[0] == _fastpath.EV_PACKET for e in rest)  # the file went on after it


def test_walker_lets_its_hasher_go(tmp_path: Path) -> None:
    """A Hasher given to start() is held back while the walker walks and let go for good after:
    one held from the start still finishes once the walk has ended."""
    import threading

    data = pcap_file(mixed(), 1, eth)
    path = write(tmp_path, "h.pcap", data)
    hashlib.sha256()  # hashlib's libcrypto loaded: the Hasher uses it
    hasher = _fastpath.Hasher(os.open(path, os.O_RDONLY), len(data), held=True)
    kernel = FastScanner(FlowTable()).kernel
    kernel.begin(0)
    with pytest.raises(TypeError, match="Hasher"):
        kernel.start(data, 0, 0, 2000, "not a hasher")
    kernel.start(data, 0, 0, 2000, hasher)
    while kernel.next() is not None:
        pass
    kernel.stop()
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(hasher.digest()), daemon=True)
    waiter.start()
    waiter.join(30)
    assert got == [hashlib.sha256(data).hexdigest()]


def _smaps() -> Iterator[tuple[str, dict[str, str]]]:
    """This process's mappings (/proc/self/smaps): each one's header line and its fields."""
    header: str | None = None
    fields: dict[str, str] = {}
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(" ", 1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                if header is not None:
                    yield header, fields
                header, fields = line.rstrip("\n"), {}
            else:
                fields[first.rstrip(":")] = line.split(":", 1)[1].strip()
    if header is not None:
        yield header, fields


def _mapped_rss_kb(path: Path) -> int:
    """This process's resident kB of its mappings of ``path``."""
    return sum(int(fields["Rss"].split()[0]) for header, fields in _smaps() if header.endswith(str(path)))


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps")
@pytest.mark.parametrize("released", [True, False], ids=["released", "kept"])
def test_walker_drops_the_released_pages_of_a_mapped_file(tmp_path: Path, released: bool) -> None:
    """release(pos) while the walker walks a mapped capture: the walker drops the pages before pos
    from the mapping (a scan's memory must not grow with the capture's size); without it every
    page walked stays resident."""
    import mmap

    payload = b"x" * 1200
    recs = [(T0 + i * 1e-3, ipv4("10.0.0.1", "10.0.0.2", 17, udp_dgram(40000, 40001, payload), ident=i & 0xFFFF))
            for i in range(34_000)]
    path = write(tmp_path, "big.pcap", pcap_file(recs, 1, eth))
    size = path.stat().st_size  # ~42 MB
    with open(path, "rb") as fileobj, mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ) as data:
        kernel = FastScanner(FlowTable()).kernel
        kernel.begin(0)
        kernel.start(data, 0, 0, 256 << 10)
        batches, done = 0, 0
        while (batch := kernel.next()) is not None:
            batches += 1
            pos = batch.pos
            batch.close()
            if released and pos - done >= 2 << 20:
                kernel.release(pos)
                done = pos
        rss = _mapped_rss_kb(path) * 1024
        kernel.stop()
    assert batches > 100 and kernel.file_stats()[0] == len(recs)  # the whole file walked
    if released:  # what is left: the walker's lead over the last release, and the file's end
        assert rss < size // 2, (rss, size)
    else:
        assert rss > size * 0.8, (rss, size)


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _huge_advised() -> set[tuple[int, int]]:
    """(start, size) of this process's mappings advised for transparent huge pages (VmFlags "hg")."""
    found = set()
    for header, fields in _smaps():
        if "hg" in fields.get("VmFlags", "").split():
            low, high = (int(x, 16) for x in header.split(" ", 1)[0].split("-"))
            found.add((low, high - low))
    return found


def test_the_flow_store_takes_freed_slots_again(tmp_path: Path) -> None:
    """6,000 flows live at once, a miner among them; 3,000 of them reset and started again on the
    same 4-tuple; an idle gap, 60,000 packets of one flow (an idle sweep ends the 6,000), then 6,000
    new flows. The results are the pure path's. The kernel's store of flows (chunks of 5,041, one
    2 MiB page each) never holds more than two chunks, because the flows that end give their slots
    to the flows that start: the second chunk is the only one advised for a huge page, 2 MiB
    aligned, and it goes with the kernel. A table of the flows themselves kept half full (until
    session 10) was one mapping of 16,384 slots (6.5 MiB); a store that never took a slot again
    would have needed a third chunk."""
    first = [(T0 + i * 1e-3, ip_packet(f"10.2.{i // 250}.{i % 250}", "198.51.100.7", 6,
                                       tcp_seg(40000 + i % 1000, 443, 7, 0, 0x02), i & 0xFFFF))
             for i in range(6000)]
    again = [(T0 + 7 + i * 1e-3 + d * 1e-4, ip_packet(f"10.2.{i // 250}.{i % 250}", "198.51.100.7", 6,
                                                     tcp_seg(40000 + i % 1000, 443, 8 + d, 0, flags), i & 0xFFFF))
             for i in range(3000) for d, flags in ((0, 0x04), (1, 0x02))]  # RST, then a new SYN
    later = T0 + 2 * flows.IDLE_TIMEOUT
    filler = [(later + i * 1e-4, ip_packet("10.9.0.1", "10.9.0.2", 17, udp_dgram(5000, 6000, b"x"), i & 0xFFFF))
              for i in range(60000)]
    second = [(later + 10 + i * 1e-3, ip_packet(f"10.3.{i // 250}.{i % 250}", "198.51.100.8", 6,
                                                tcp_seg(41000 + i % 1000, 443, 7, 0, 0x02), i & 0xFFFF))
              for i in range(6000)]
    miner = Conv("10.0.0.10", "192.0.2.77", 40001, 3333, t=T0 + 3).handshake().stratum().fin()
    recs = sorted(first + again + filler + second + miner.out, key=lambda r: r[0])
    path = write(tmp_path, "wide.pcap", pcap_file(recs, 1, eth))
    out = same(path)
    assert len(out.findings["sessions"]) == 1 and out.flows_seen == 6000 + 3000 + 1 + 6000 + 1
    if not Path("/proc/self/smaps").exists() or not THP.exists() or "[never]" in THP.read_text():
        return  # no huge pages to ask for: the chunks are in ordinary pages (same results, above)
    before = _huge_advised()
    table = FlowTable()
    fast_scan_file(path, table)
    grown = sorted(_huge_advised() - before)
    assert len(grown) == 1 and grown[0][0] % (2 << 20) == 0 and grown[0][1] == 2 << 20, grown
    finish_scan(table)
    del table
    assert not _huge_advised() - before  # unmapped with the kernel


TRACED: list[float] = []


@dataclass(slots=True)
class TracedPacket(Packet):
    """A packet class whose __init__ must run (the kernel otherwise fills the slots itself)."""

    def __post_init__(self) -> None:
        TRACED.append(self.ts)


def _bare_kernel(packet_cls: type, **options: Any) -> Any:
    from detector.capture import ip as ip_layer

    return _fastpath.Kernel(
        hints=tuple(flows.HINTS), unhinted_limit=flows.UNHINTED_LIMIT, idle_timeout=flows.IDLE_TIMEOUT,
        sweep_every=flows.SWEEP_EVERY, max_caplen=pcap_mod.MAX_CAPLEN, max_block=1 << 24, max_tags=8,
        max_ext_headers=ip_layer.MAX_EXT_HEADERS, addr_cache_size=64, packet_cls=packet_cls,
        prelude_cls=flows.Prelude, name6=str, seed=1, **options)


def test_record_classes_that_need_their_init_are_called() -> None:
    """Packet's slots are filled directly; a class with a __post_init__ is called instead."""
    data = pcap_file(mixed(), 1, eth)
    packets, inits = {}, {}
    for cls in (TracedPacket, Packet):
        kernel = _bare_kernel(cls)
        kernel.begin(0)
        TRACED.clear()
        packets[cls] = [e[2] for e in kernel.walk(data, 0, 0, True, 1 << 30) if e[0] == _fastpath.EV_PACKET]
        inits[cls] = list(TRACED)
    traced = packets[TracedPacket]
    assert traced and all(type(p) is TracedPacket for p in traced) and inits[TracedPacket] == [p.ts for p in traced]
    assert all(type(p) is Packet for p in packets[Packet])
    as_plain = [Packet(*(getattr(p, f) for f in Packet.__slots__)) for p in traced]  # type: ignore[attr-defined]
    assert as_plain == packets[Packet]


@pytest.mark.parametrize("capture", ["mixed", "keepalive", "late-ignores"])
def test_live_flows_hold_the_pure_counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture: str) -> None:
    """After a file, every flow the fast table still inspects (or tracks) holds the counters and
    times the pure table holds for it: held ACKs are all credited, none twice."""
    if capture == "mixed":
        recs = mixed() + mixed(True, T0 + 1)
    elif capture == "keepalive":
        conv = _keepalive(Conv("10.0.0.10", "192.0.2.77", 40001, 3333).handshake().stratum(), [900.0] * 4)
        recs = sorted(conv.out + dns_pair("10.0.0.10", "10.0.0.53", T0 + 1000), key=lambda r: r[0])
    else:
        monkeypatch.setattr(fast_mod, "BUDGET", 200)
        echo, miner = _echo_then_miner()
        recs = sorted(echo.out + miner.out + mixed(t=T0 + 2), key=lambda r: r[0])
    path = write(tmp_path, "c.pcap", pcap_file(recs, 1, eth))
    pure = FlowTable()
    with open_capture(path) as cap:
        for packet in cap:
            pure.add(packet)
    fast = FlowTable()
    _, counts = fast_scan_file(path, fast)
    assert counts.held > 0
    checked = 0
    for key, flow in fast.live():
        if flow.state == "ignored":
            continue  # its later packets were never given to the table
        found = pure.lookup(key)
        assert found is not None
        ref = found[1]
        assert (flow.first_ts, flow.last_ts, flow.fin, flow.rst) == (ref.first_ts, ref.last_ts, ref.fin, ref.rst)
        assert [(d.packets, d.bytes, d.payload_bytes) for d in flow.dirs] == \
            [(d.packets, d.bytes, d.payload_bytes) for d in ref.dirs]
        checked += 1
    assert checked >= 1 if capture == "keepalive" else 2  # the DNS flow stays with the kernel


# -- flow summaries (the kernel's FlowSummary of every flow) ----------------------------------------
def _shaped(cport: int, t: float, hinted: bool) -> Conv:
    """A closed connection of known shape: client 10 and 5 payload bytes, server 30, 0.25 s apart
    (wire length: the IP packet's, 40 bytes of headers)."""
    c10, s30, c5 = (b'{"id":1} \n', b'{"id":1,"result":true}' + b" " * 7 + b"\n", b'{}\n\n\n') if hinted else \
        (b"x" * 10, b"y" * 30, b"z" * 5)
    conv = Conv("10.0.0.10", "192.0.2.77", cport, 3333, t=t, step=0.25).handshake()
    return conv.data(True, c10).data(False, s30).data(True, c5).fin()


def test_summary_values(tmp_path: Path) -> None:
    """Exact summaries of crafted flows (both engines): one inspected by Python and one only the
    kernel counts (the same shape), one opened by the server's SYN-ACK, one without handshake and
    more payload packets than a summary keeps."""
    inspected, kernel_only = _shaped(40001, T0, True), _shaped(40002, T0 + 100, False)
    synack_first = Conv("10.0.0.11", "192.0.2.78", 40003, 443, t=T0 + 200).handshake().data(True, b"q" * 4).fin()
    midsession = Conv("10.0.0.12", "192.0.2.79", 40004, 443, t=T0 + 300)
    for i in range(FIRST_PAYLOADS + 2):
        midsession.data(False, b"r" * (i + 1))
    recs = inspected.out + kernel_only.out + synack_first.out[1:] + midsession.out
    out = same(write(tmp_path, "shape.pcap", pcap_file(recs, 1, eth)))
    assert out.findings["sessions"] == [] and len(out.summaries) == 4
    by_port = {f.ap if f.ap > 1024 else f.bp: f for f in out.summaries}
    for port, t in ((40001, T0), (40002, T0 + 100)):
        assert by_port[port] == FlowSummary(
            "10.0.0.10", port, "192.0.2.77", 3333, 6, t + 0.25, t + 3.0, (7, 5), (7 * 40 + 15, 5 * 40 + 30),
            (2, 1), (15, 30), (10 * 10 + 5 * 5, 30 * 30), (2, 1), (0x1B, 0x1B), (1, 0), (1.0, 0.0), (1.0, 0.0),
            ((0, 10), (1, 30), (0, 5)), True)
    server_first = by_port[40003]
    assert (server_first.a, server_first.client_is_a, server_first.first_payloads) == ("192.0.2.78", False, ((1, 4),))
    mid = by_port[40004]
    assert mid.client_is_a is None and mid.a == "192.0.2.79" and mid.flags == (0x18, 0x10)
    assert mid.first_payloads == tuple((0, i + 1) for i in range(FIRST_PAYLOADS))
    assert mid.payload_packets == (FIRST_PAYLOADS + 2, 0) and mid.gap_n == (FIRST_PAYLOADS + 1, 0)
    assert mid.payload_sumsq == (sum((i + 1) ** 2 for i in range(FIRST_PAYLOADS + 2)), 0)
    assert mid.gap_sum[0] == pytest.approx((FIRST_PAYLOADS + 1) * 0.02)


@pytest.mark.parametrize("name", ["campus.pcapng", "encrypted-evasive.pcap"])
def test_scan_engines_agree_on_behaviour_and_sv2(name: str) -> None:
    """The whole scan: the behaviour blocks (inbound service, SYN sweeps) and the Stratum V2
    session, both found from flow summaries, are the same with either engine."""
    docs = {engine: scan([PCAPS / name], ScanOptions(engine=engine, clock=OPTIONS.clock))
            for engine in ("fast", "pure")}
    assert docs["fast"] == docs["pure"]
    if name == "encrypted-evasive.pcap":
        assert [s["client"] for s in docs["fast"]["sessions"] if s["dialect"] == "sv2"] == ["192.168.50.88"]
    else:
        behaviour = [h["behaviour"] for h in docs["fast"]["hosts"]]
        assert any(b["inbound_peers"] for b in behaviour) and any(b["outbound_scan_targets"] for b in behaviour)


def test_scan_of_rotated_files_summarises_flows_live_across_them(tmp_path: Path) -> None:
    """A miner sweeps 25 addresses with unanswered SYNs and serves SSH to one peer, across two
    files of a rotated capture: those flows are still live when the scan ends, and only their
    summaries (the kernel's, flushed at the end of the scan) show the sweep and the service."""
    c, pool = "10.0.0.10", "192.0.2.77"
    conv = Conv(c, pool, 40001, 3333).handshake().stratum()
    ssh = Conv("198.51.100.9", c, 50022, 22, t=T0 + 0.3).handshake().data(True, b"SSH-2.0-x\r\n")
    recs = conv.out + ssh.out
    for i in range(25):
        recs.append((T0 + 0.01 * i, ip_packet(c, f"203.0.113.{i}", 6, tcp_seg(45000 + i, 23, 7, 0, 0x02), i)))
    recs.sort(key=lambda r: r[0])
    half = len(recs) // 2
    write(tmp_path, "cap-00.pcap", pcap_file(recs[:half], 1, eth))
    write(tmp_path, "cap-01.pcap", pcap_file(recs[half:], 1, eth))
    docs = {engine: scan([tmp_path], ScanOptions(engine=engine, clock=OPTIONS.clock)) for engine in ("fast", "pure")}
    assert docs["fast"] == docs["pure"]
    (host,) = docs["fast"]["hosts"]
    got = host["behaviour"]
    assert (got["outbound_scan_targets"], got["outbound_scan_ports"], got["inbound_peers"], got["inbound_ports"]) == \
        (25, [23], 1, [22])


def test_the_kernel_finds_hints_where_could_be_mining_does() -> None:
    """The kernel hands a flow over at its first segment that ``flows.could_be_mining`` passes:
    each hint inside a segment, at its end, cut short at its end, behind decoys that begin as it
    does, or absent. The kernel looks for the hints' first bytes, then compares."""
    rng = random.Random(7)
    noise = bytes(rng.choice(b"abcdefxyz0123456789 ") for _ in range(300))
    payloads = [b"zz" + h + b"zz" for h in flows.HINTS] + [noise + h for h in flows.HINTS]
    payloads += [noise + h[:-1] for h in flows.HINTS] + [h[:-1] for h in flows.HINTS]
    payloads += [b'"' * 40 + b'"id"', b'"' * 40 + b'"i', b"GE" * 30 + b"GET", b"\x16\x03" * 20 + b"\x16\x03\x02",
                 b"HTTP/1" * 10, noise, b"x{" + noise, bytes(range(256)) * 3]
    assert any(flows.could_be_mining(p) for p in payloads) and not all(flows.could_be_mining(p) for p in payloads)
    recs = []
    for i, payload in enumerate(payloads):
        conv = Conv("10.0.0.10", "192.0.2.77", 40000 + i, 9000, t=T0 + i).handshake().data(True, payload, ack=False)
        recs += conv.out
    kernel = FastScanner(FlowTable()).kernel
    kernel.begin(0)
    handed = {e[2].ap for e in kernel.walk(pcap_file(recs, 1, eth), 0, 0, True, 1 << 30) if e[0] == _fastpath.EV_PRELUDE}
    assert handed == {40000 + i for i, p in enumerate(payloads) if flows.could_be_mining(p)}


def test_kernel_finish_and_summary_events() -> None:
    """Summaries come as events where a flow ends inside a walk (here: replaced by a new SYN) and
    from finish() for the flows still live, in creation order; finish() empties the kernel's
    table, is refused while the walker walks, and a kernel without summary_cls emits none."""
    c, s = "10.0.0.10", "192.0.2.77"
    first = Conv(c, s, 40001, 3333).handshake().stratum().fin()
    second = Conv(c, s, 40001, 3333, t=first.t + 1).handshake().stratum()
    recs = first.out + bulk(c, "198.51.100.1", 41000, first.t + 0.5) + second.out
    data = pcap_file(recs, 1, eth)
    kernel = FastScanner(FlowTable()).kernel
    kernel.begin(0)
    kernel.start(data, 0, 0, 1 << 30)
    with pytest.raises(RuntimeError, match="walking"):
        kernel.finish()
    events = []
    while (batch := kernel.next()) is not None:
        events += list(batch)
    kernel.stop()
    walked = [e for e in events if e[0] == _fastpath.EV_SUMMARY]
    assert [(e[2].ap, sum(e[2].packets)) for e in walked] == [(40001, len(first.out))]
    ended = list(kernel.finish())
    assert [e[0] for e in ended] == [_fastpath.EV_SUMMARY] * 2
    assert [(e[2].ap, sum(e[2].packets)) for e in ended] == [(41000, len(recs) - len(first.out) - len(second.out)),
                                                            (40001, len(second.out))]
    assert ended[0][1] < ended[1][1] and all(type(e[2]) is FlowSummary for e in ended)
    assert list(kernel.finish()) == []  # the table is empty now
    kernel.begin(0)
    again = [e for e in kernel.walk(data, 0, 0, True, 1 << 30) if e[0] == _fastpath.EV_PRELUDE]
    assert again and min(e[1] for e in again) > ended[1][1]  # new flows, not the finished ones
    silent = _bare_kernel(Packet)
    silent.begin(0)
    assert not any(e[0] == _fastpath.EV_SUMMARY for e in silent.walk(data, 0, 0, True, 1 << 30))
    assert list(silent.finish()) == []
    with pytest.raises(ValueError, match="first_payloads"):
        _bare_kernel(Packet, summary_cls=FlowSummary, first_payloads=17)


# -- ordinary TLS settled in the kernel ---------------------------------------------------------------
def _hello(name: str | None) -> bytes:
    """A ClientHello record (TLS 1.3 cipher, no other extension) naming ``name`` in its SNI."""
    exts = b""
    if name is not None:
        raw = name.encode()
        entry = b"\x00" + struct.pack("!H", len(raw)) + raw
        exts = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def _tls_conv(cport: int, server: str, name: str | None, t: float, split: bool = False) -> Conv:
    conv = Conv("10.0.0.10", server, cport, 443, t=t).handshake()
    hello = _hello(name)
    if split:
        conv.data(True, hello[:20]).data(True, hello[20:])
    else:
        conv.data(True, hello)
    return conv.data(False, b"\x16\x03\x03\x00\x04\x02\x00\x00\x00").data(True, TLS_RECORD).fin()


def _dns_response(name: str, ip: str, t: float, cport: int, questions: bool = True) -> tuple[float, bytes]:
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00"
    question = qname + b"\x00\x01\x00\x01"
    if questions:
        msg = bytes.fromhex("beef81800001000100000000") + question + b"\xc0\x0c"
    else:
        msg = bytes.fromhex("beef81800000000100000000") + qname
    msg += b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + addr(ip)
    return t, ip_packet("10.0.0.53", "10.0.0.10", 17, udp_dgram(53, cport, msg))


SETTLE_CASES = {
    # case: (SNI, DNS answer (name, questions?) for the server's address before the hello, settled?)
    "ordinary": ("www.example.org", None, 1),
    "pool": ("xmr.2miners.com", None, 0),
    "pool-mixed-case": ("XMR.2Miners.COM", None, 0),
    "pool-trailing-dot": ("xmr.2miners.com.", None, 0),
    "ip-literal": ("192.0.2.9", None, 0),
    "no-sni": (None, None, 0),
    "split-hello": ("www.example.org", None, 0),
    "dns-names-a-pool": ("cdn.example.org", ("eth.2miners.com", True), 0),
    "dns-names-a-pool-mixed-case": ("cdn.example.org", ("ETH.2Miners.com", True), 0),
    "dns-names-another-server": ("cdn.example.org", ("www.example.org", True), 1),
    "dns-without-question": ("cdn.example.org", ("www.example.org", False), 0),
}


@pytest.mark.parametrize("case", list(SETTLE_CASES))
def test_kernel_settles_exactly_the_ordinary_tls_flows(tmp_path: Path, case: str) -> None:
    """The kernel settles a TLS flow itself only where TlsWatch settles it at once; every other
    flow is handed over, and the findings equal the pure path's either way."""
    name, dns, settled = SETTLE_CASES[case]
    server = "203.0.113.5"
    recs = _tls_conv(41000, server, name, T0 + 1, split=case == "split-hello").out
    if dns is not None:
        recs.append(_dns_response(dns[0], server, T0 + 0.5, 5300, questions=dns[1]))
    path = write(tmp_path, "tls.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    out = same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.tls_settled == settled
    pool = case.startswith(("pool", "dns-names-a-pool"))  # "xmr.2miners.com." is a pool's name too
    assert [s["confidence"] for s in out.findings["sessions"]] == (["strong"] if pool else [])


def test_no_settling_after_a_dns_answer_the_kernel_cannot_follow(tmp_path: Path) -> None:
    """A response without a question (names come from the answers): from then on every TLS flow
    goes to Python, which decides as before."""
    recs = _tls_conv(41000, "203.0.113.5", "www.example.org", T0 + 1).out
    recs += _tls_conv(41001, "203.0.113.6", "www.example.org", T0 + 3).out
    recs.append(_dns_response("eth.2miners.com", "198.51.100.1", T0 + 2, 5300, questions=False))
    path = write(tmp_path, "tls.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.tls_settled == 1


def test_settling_uses_the_scans_pool_lists(tmp_path: Path) -> None:
    """A name only a user's pool list holds is a pool for the kernel too."""
    listed = write(tmp_path, "pools.txt", b"||pool.example.net^\n")
    recs = _tls_conv(41000, "203.0.113.5", "eu.pool.example.net", T0 + 1).out
    path = write(tmp_path, "tls.pcap", pcap_file(recs, 1, eth))
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.tls_settled == 1  # the bundled pool list does not hold it
    with poollists.using(poollists.intelligence([listed])):
        out = same(path)
        _, counts = fast_scan_file(path, FlowTable())
    assert counts.tls_settled == 0
    assert [s["pool"] for s in out.findings["sessions"]] == ["eu.pool.example.net"]


def test_hostile_client_hellos_agree(tmp_path: Path) -> None:
    """Truncated, overlong and bit-flipped ClientHellos: the kernel's SNI read never settles a flow
    the Python reader would not."""
    rnd = random.Random(11)
    recs: list[tuple[float, bytes]] = []
    base = _hello("www.example.org")
    for i in range(300):
        hello = bytearray(base)
        for _ in range(rnd.randrange(1, 4)):
            hello[rnd.randrange(len(hello))] = rnd.getrandbits(8)
        if i % 5 == 0:
            hello = hello[: rnd.randrange(6, len(hello))]
        hello[0:2] = b"\x16\x03"
        conv = Conv("10.0.0.10", f"203.0.113.{i % 250}", 20000 + i, 443, t=T0 + i * 0.01).handshake()
        recs += conv.data(True, bytes(hello)).out
    path = write(tmp_path, "fuzz.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert 0 < counts.tls_settled < 300


# -- HTTP settled in the kernel -----------------------------------------------------------------
def _get(path: str = "/index.html", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: www.example.org\r\nAccept: */*\r\n{extra}\r\n".encode()


def _response(ctype: str | None, body: bytes, extra: str = "", sep: str = "\r\n") -> bytes:
    lines = ["HTTP/1.1 200 OK", "Server: nginx"]
    if ctype is not None:
        lines.append(f"Content-Type: {ctype}")
    lines.append(f"Content-Length: {len(body)}")
    if extra:
        lines.append(extra)
    return (sep.join(lines) + sep + sep).encode("latin-1") + body


GETWORK = (b"POST / HTTP/1.1\r\nHost: pool.example.net\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n"
           b'{"method": "getwork", "params": [], "id": 1}')


def _pad(lines: int) -> str:
    return "\r\n".join(f"X-Pad-{i}: {i}" for i in range(lines))


def _http_case(case: str, server: str = "203.0.113.5", cport: int = 41000, t: float = T0 + 1) -> Conv:
    """One HTTP conversation: a GET and what follows it, per case (see HTTP_CASES)."""
    conv = Conv("2001:db8::10" if case == "ipv6" else "10.0.0.10", "2001:db8::80" if case == "ipv6" else server,
                cport, 80, t=t)
    if case != "no-handshake":
        conv.handshake()
    html = b"<!doctype html><title>hello</title>"
    responses = {
        "ordinary": _response("text/html; charset=utf-8", html), "ipv6": _response("text/html", html),
        "no-handshake": _response("text/html", html), "json": _response("application/json", b'{"result": 1}'),
        "json-mixed-case": _response("Application/JSON; charset=UTF-8", b"[1]"),
        "untyped-json": _response(None, b' \r\n\t{"result": 1}'), "untyped-text": _response(None, b"  hello"),
        "empty-type-json": _response("", b"[1]"), "elf": _response("application/octet-stream", b"\x7fELF\x02\x01"),
        "pe": _response("application/octet-stream", b"MZ\x90\x00"), "shebang": _response("text/plain", b"#!/bin/sh\n"),
        "xz": _response("application/octet-stream", b"\xfd7zXZ\x00\x00"),
        "xz-cut": _response("application/octet-stream", b"\xfd7zX"),
        "script-type": _response("text/x-sh; charset=utf-8", b"echo hi\n"),
        "script-type-spaced": _response("  TEXT/X-SH ;x", b"echo hi\n"),
        "script-type-suffix": _response("text/x-shx", b"echo hi\n"),
        "content-encoding": _response("text/html", b"not gzip at all", "Content-Encoding: gzip"),
        "transfer-encoding": _response("text/html", b"zz\r\nbroken", "Transfer-Encoding: chunked"),
        "bare-lf": _response("text/html", html, sep="\n"),
        "non-ascii-head": _response("text/html", html, "X-Name: caf\xe9"),
        "vertical-tab": _response("text/html", html, "X-Name: a\x0bb"),
        # lines[1:200] are read: status line, Server, Content-Type, Content-Length, then the pad
        "ctype-on-line-199": _response("text/html", html, _pad(195) + "\r\nContent-Type: application/json"),
        "ctype-on-line-200": _response("text/html", html, _pad(196) + "\r\nContent-Type: application/json"),
        "json-cut-at-1024": _response("a" * 1022 + "json", html), "json-before-1024": _response("a" * 1020 + "json", html),
        "last-type-wins": _response("application/json", html, "Content-Type: text/html"),
        "last-type-json": _response("text/html", html, "Content-Type: application/json"),
        "spaced-name": _response(None, html, " content-TYPE\t:\tapplication/json "),
        "fin-with-response": _response("text/html", html),
    }
    if case == "get-with-body":
        conv.data(True, _get(extra="Content-Length: 5\r\n") + b"hello")
    elif case == "get-split":
        get = _get()
        conv.data(True, get[:10]).data(True, get[10:])
    elif case == "get-with-fin":
        conv.packet(True, 0x19, _get()).packet(False, 0x10)
    elif case == "retransmitted-get":
        conv.data(True, _get(), ack=False)
        conv.seq[0] -= len(_get())
        conv.data(True, _get())
    elif case == "ctype-line-in-request":
        conv.data(True, _get(extra="Content-Type: application/json\r\n"))  # a request's type settles nothing
    else:
        conv.data(True, _get())
    if case in responses:
        if case == "fin-with-response":
            conv.packet(False, 0x19, responses[case])
        else:
            conv.data(False, responses[case])
    elif case == "head-only":
        conv.data(False, _response("text/html", b"")).data(False, html)
    elif case == "split-head":
        response = _response("text/html", html)
        conv.data(False, response[:30]).data(False, response[30:])
    elif case == "out-of-order-response":
        conv.seq[1] += 100
        conv.data(False, _response("text/html", html))
    elif case == "mining-post-before-response":
        conv.data(True, GETWORK).data(False, _response("text/html", html))
    elif case == "pipelined-get":
        conv.data(True, _get("/second")).data(False, _response("text/html", html))
    elif case == "rst-instead":
        conv.packet(False, 0x14)
    elif case == "idle-before-response":
        conv.idle(flows.IDLE_TIMEOUT + 5).data(False, _response("text/html", html))
    elif case == "no-response":
        pass
    else:
        conv.data(False, _response("text/html", html))
    conv.data(True, _get("/next")).data(False, _response("text/html", html))  # keep-alive: later exchanges
    return conv.fin()


#: case -> the kernel settles it (1) or hands it over (0); the findings are the pure path's either way
HTTP_CASES = {
    "ordinary": 1, "ipv6": 1, "no-handshake": 1, "untyped-text": 1, "xz-cut": 1, "script-type-suffix": 1,
    "ctype-on-line-200": 1, "json-cut-at-1024": 1, "last-type-wins": 1, "fin-with-response": 1,
    "ctype-line-in-request": 1, "get-with-fin": 1,
    "json": 0, "json-mixed-case": 0, "untyped-json": 0, "empty-type-json": 0, "elf": 0, "pe": 0, "shebang": 0,
    "xz": 0, "script-type": 0, "script-type-spaced": 0, "content-encoding": 0, "transfer-encoding": 0,
    "bare-lf": 0, "non-ascii-head": 0, "vertical-tab": 0, "ctype-on-line-199": 0, "json-before-1024": 0,
    "last-type-json": 0, "spaced-name": 0, "get-with-body": 0, "get-split": 0,
    "retransmitted-get": 0, "head-only": 0, "split-head": 0, "out-of-order-response": 0,
    "mining-post-before-response": 0, "pipelined-get": 0, "rst-instead": 0, "idle-before-response": 0,
    "no-response": 0,
}
DOWNLOADS = {"elf": "elf", "pe": "pe", "shebang": "script", "xz": "archive", "script-type": "script",
             "script-type-spaced": "script"}


@pytest.mark.parametrize("case", list(HTTP_CASES))
def test_kernel_settles_exactly_the_ordinary_http_flows(tmp_path: Path, case: str) -> None:
    """The kernel settles an HTTP flow itself only where FlowTable ignores it at the response head,
    recording nothing; everything else — JSON, downloads, odd heads, anything before the response
    — is handed over with the held GET, and the findings equal the pure path's."""
    path = write(tmp_path, "http.pcap", pcap_file(_http_case(case).out, 1, eth))
    out = same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.http_settled == HTTP_CASES[case]
    table = FlowTable()
    fast_scan_file(path, table)
    finish_scan(table)
    table.finish()
    assert [d.kind for _, d in table.downloads] == ([DOWNLOADS[case]] if case in DOWNLOADS else [])
    assert bool(out.findings["sessions"]) == (case == "mining-post-before-response")


def test_http_flows_waiting_through_sweeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many GETs awaiting their responses while sweeps run (their held ACKs stay with them), some
    of them swept as idle: the same sweeps, flows and findings as the pure path."""
    monkeypatch.setattr(flows, "SWEEP_EVERY", 7)
    monkeypatch.setattr(flows, "IDLE_TIMEOUT", 5.0)
    recs: list[tuple[float, bytes]] = []
    cases = ["ordinary", "json", "elf", "pipelined-get", "idle-before-response", "no-response", "head-only"]
    for i in range(28):
        conv = _http_case(cases[i % len(cases)], f"203.0.113.{i}", 42000 + i, T0 + i * 0.3)
        recs += conv.out
    recs += Conv("10.0.0.11", "192.0.2.77", 40000, 3333, t=T0, step=0.7).handshake().stratum().fin().out
    path = write(tmp_path, "sweep.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    out = same(path)
    assert out.findings["sessions"]
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.http_settled == 4


def test_hostile_http_heads_agree(tmp_path: Path) -> None:
    """Bit-flipped, truncated and spliced GETs and responses: the kernel never settles a flow the
    pure path would not ignore at once."""
    rnd = random.Random(7)
    recs: list[tuple[float, bytes]] = []
    noise = b"\r\n\t :;{}[]\x00\x0b\x85\xe9#!MZ\x7fjsonJSON"
    for i in range(300):
        get, response = bytearray(_get()), bytearray(_response(rnd.choice(("text/html", None, "application/json")),
                                                               b"<html>" * rnd.randrange(0, 3)))
        for msg in (get, response):
            for _ in range(rnd.randrange(0, 4)):
                pos = rnd.randrange(len(msg))
                msg[pos:pos + rnd.randrange(0, 3)] = bytes(rnd.choice(noise) for _ in range(rnd.randrange(0, 3)))
        if i % 7 == 0:
            response = response[: rnd.randrange(1, len(response))]
        get[0:4] = b"GET "
        conv = Conv("10.0.0.10", f"203.0.113.{i % 250}", 20000 + i, 80, t=T0 + i * 0.01).handshake()
        recs += conv.data(True, bytes(get)).data(False, bytes(response) or b"H").fin().out
    path = write(tmp_path, "fuzz.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert 0 < counts.http_settled < 300


def test_classify_download_is_what_the_kernel_is_told() -> None:
    """The kernel's settle rule is given DOWNLOAD_MAGIC and SCRIPT_TYPES: classify_download must
    decide by them alone."""
    rnd = random.Random(3)
    for magic, kind in DOWNLOAD_MAGIC:
        assert classify_download("text/html", magic + b"rest") == kind
    for ctype in SCRIPT_TYPES:
        assert classify_download(f" {ctype.upper()} ; charset=utf-8", b"hello") == "script"
    for _ in range(2000):
        head = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 8)))
        if not any(head.startswith(m) for m, _ in DOWNLOAD_MAGIC):
            assert classify_download("text/html", head) is None


# -- JSON-RPC without a mining method, settled in the kernel -----------------------------------
def _rpc(method: str, i: int, extra: str = "") -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"method":"%s","params":[]%s}\n' % (i, method.encode(), extra.encode())


def _result(i: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"result":"0x1"}\n' % i


def _post(body: bytes, length: int | None = None, extra: str = "") -> bytes:
    size = len(body) if length is None else length
    return (f"POST / HTTP/1.1\r\nHost: 10.0.0.80:8545\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {size}\r\n\r\n").encode() + body


def _split(from_client: bool, message: bytes, *cuts: int) -> list[tuple[bool, bytes]]:
    """``message`` as segments of one direction, cut at ``cuts`` (negative: from the end)."""
    at = sorted(c if c >= 0 else len(message) + c for c in cuts)
    return [(from_client, message[a:b]) for a, b in zip([0, *at], [*at, len(message)])]


def _big_result(i: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"result":"%s"}\n' % (i, b"ab" * 200)


ECHOES = [(True, _rpc("echo", i)) for i in range(1, 6)]
#: case -> (segments after the handshake: (from the client?, payload), the kernel settles it?, a session?)
RPC_CASES: dict[str, tuple[list[tuple[bool, bytes]], int, bool]] = {
    "four-foreign": ([m for i in range(1, 5) for m in ((True, _rpc("echo", i)), (False, _result(i)))], 1, False),
    "four-in-one-segment": ([(True, b"".join(_rpc("eth_call", i) for i in range(4)))], 1, False),
    "sixteen-answers": ([(False, _result(i)) for i in range(16)], 1, False),
    "blank-and-crlf-lines": ([(True, b"\n \t\n" + _rpc("echo", i).replace(b"\n", b"\r\n")) for i in range(4)], 1, False),
    "numbers-and-escapes": ([(True, _rpc("echo", i, ',"x":[-0.5e+10,0,1E5,true,null,"a\\\\b\\u00e9\\n",{}]'))
                             for i in range(4)], 1, False),
    "answer-with-null-method": ([(False, b'{"id":%d,"method":null,"result":1}\n' % i) for i in range(16)], 1, False),
    "ends-early": (ECHOES[:2], 0, False),
    "mining-method-later": ([ECHOES[0], (True, _rpc("mining.subscribe", 2))] + [(False, s) for s in STRATUM_S], 0, True),
    "escaped-method": ([ECHOES[0], (True, b'{"id":2,"method":"mining\\u002esubscribe","params":[]}\n')]
                       + [(False, s) for s in STRATUM_S], 0, True),
    "escaped-key": ([ECHOES[0], (True, b'{"id":2,"\\u006dethod":"mining.subscribe","params":[]}\n')]
                    + [(False, s) for s in STRATUM_S], 0, True),
    # escapes the kernel does not read: a held flow's later foreign methods must not settle it
    "escaped-method-then-foreign": ([(True, b'{"id":1,"method":"mining\\u002esubscribe","params":[]}\n')] + ECHOES[1:4],
                                    0, True),
    "escaped-key-then-foreign": ([(True, b'{"id":1,"method":"echo","\\u006dethod":"mining.subscribe"}\n')] + ECHOES[1:4],
                                 0, True),
    "duplicate-method-mining-last": ([(True, b'{"id":1,"method":"echo","method":"mining.subscribe","params":[]}\n')]
                                     + [(False, s) for s in STRATUM_S], 0, True),
    "duplicate-method-foreign-last": ([(True, b'{"id":%d,"method":"mining.subscribe","method":"echo"}\n' % i)
                                       for i in range(4)], 1, False),
    "method-not-a-string": ([(True, b'{"id":1,"method":5}\n')] + ECHOES[1:], 0, False),
    "no-method-no-answer": ([(True, b'{"id":1,"params":[]}\n')] + ECHOES[1:], 0, False),
    "nan": ([(True, _rpc("echo", 1, ',"x":NaN'))] + ECHOES[1:], 0, False),
    "too-deep": ([(True, _rpc("echo", 1, ',"x":' + "[" * 40 + "]" * 40))] + ECHOES[1:], 0, False),
    "invalid-json": ([(True, b'{"id":1,"method":"echo",}\n')] + ECHOES[1:], 0, False),
    "leading-zero": ([(True, _rpc("echo", 1, ',"x":01'))] + ECHOES[1:], 0, False),
    "trailing-text": ([(True, _rpc("echo", 1).replace(b"}\n", b"} x\n"))] + ECHOES[1:], 0, False),
    "leading-space": ([(True, b" " + _rpc("echo", 1))] + ECHOES[1:], 0, False),
    "split-line": ([(True, _rpc("echo", 1)[:10]), (True, _rpc("echo", 1)[10:])] + ECHOES[1:], 0, False),
    "control-character": ([(True, _rpc("echo", 1, ',"x":"a\tb"'))] + ECHOES[1:], 0, False),
    "http-foreign": ([m for i in range(1, 5) for m in ((True, _post(_rpc("eth_call", i).strip())),
                                                       (False, _response("application/json", _result(i))))], 1, False),
    "http-getwork": ([(True, _post(b'{"method": "getwork", "params": [], "id": 1}'))], 0, True),
    "http-non-json-answer": ([(True, _post(_rpc("eth_call", 1))), (False, _response("text/html", b"<html>"))], 1, False),
    "http-download-answer": ([(True, _post(_rpc("eth_call", 1))), (False, _response("text/plain", b"\x7fELF"))], 0, False),
    "http-untyped-json-answer": ([m for i in range(1, 5) for m in ((True, _post(_rpc("eth_call", i))),
                                                                   (False, _response(None, _result(i))))], 1, False),
    # an HTTP message over several segments of one direction: read when its last byte arrives
    "http-split-body": ([(True, _post(_rpc("eth_call", 1))[:-5]), (True, _post(_rpc("eth_call", 1))[-5:])]
                        + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 1, False),
    "http-split-answers": ([m for i in range(1, 5) for m in ((True, _post(_rpc("eth_call", i))),
                                                            *_split(False, _response("application/json", _result(i)), -9))],
                           1, False),
    "http-answer-in-three": ([(True, _post(_rpc("eth_call", 1))),
                              *_split(False, _response("application/json", _big_result(1)), 130, 260)]
                             + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 1, False),
    "http-split-fourth-request-settles": ([(True, _post(_rpc("eth_call", i))) for i in range(1, 4)]
                                          + _split(True, _post(_rpc("eth_call", 4)), -20), 1, False),
    "http-split-mining-method": ([(True, _post(_rpc("eth_call", 1)))]
                                 + _split(True, _post(b'{"method": "getwork", "params": [], "id": 2}'), -4), 0, True),
    "http-split-other-side-between": ([_split(True, _post(_rpc("eth_call", 1)), -5)[0],
                                       (False, _response("application/json", _result(1))),
                                       _split(True, _post(_rpc("eth_call", 1)), -5)[1]]
                                      + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 0, False),
    # the other side's bytes would complete the fourth foreign request: not the request's bytes
    "http-split-other-side-completes": ([(True, _post(_rpc("eth_call", i).strip())) for i in range(1, 4)]
                                        + [(True, _post(_rpc("eth_call", 4).strip())[:-1]), (False, b"}"),
                                           (True, b"}")], 0, False),
    "http-split-then-more": ([(True, _post(_rpc("eth_call", 1))[:-5]),
                              (True, _post(_rpc("eth_call", 1))[-5:] + _post(_rpc("eth_call", 2)))]
                             + [(True, _post(_rpc("eth_call", i))) for i in range(3, 5)], 0, False),
    "http-split-ends": ([(True, _post(_rpc("eth_call", 1))[:-5])], 0, False),
    "http-split-invalid-json": (_split(True, _post(b'{"id":1,"method":"eth_call",}'), -3)
                                + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 0, False),
    "http-split-non-json-answer": ([(True, _post(_rpc("eth_call", 1))),
                                    *_split(False, _response("text/html", b"<html>" + b"x" * 300), -100)], 1, False),
    "http-head-alone-then-body": (_split(True, _post(_rpc("eth_call", 1)), -len(_rpc("eth_call", 1)))
                                  + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 0, False),
    "http-split-too-long": ([(True, _post(_rpc("eth_call", 1), 20000)[:300])], 0, False),
    "http-short-length": ([(True, _post(_rpc("eth_call", i), len(_rpc("eth_call", i)) - 1)) for i in range(4)], 0, False),
    "http-batch": ([(True, _post(b"[" + _rpc("eth_call", 1).strip() + b"]"))]
                   + [(True, _post(_rpc("eth_call", i))) for i in range(2, 5)], 0, False),
    "http-chunked": ([(True, _post(_rpc("eth_call", 1), extra="Transfer-Encoding: chunked\r\n"))], 0, False),
    "http-then-a-line": ([(True, _post(_rpc("eth_call", 1))), (True, _rpc("eth_call", 2))], 0, False),
}


def _rpc_conv(case: str, cport: int = 43000, t: float = T0 + 1, server: str = "198.51.100.80") -> Conv:
    conv = Conv("10.0.0.10", server, cport, 8545, t=t).handshake()
    for from_client, payload in RPC_CASES[case][0]:
        conv.data(from_client, payload)
    return conv.fin()


@pytest.mark.parametrize("case", list(RPC_CASES))
def test_kernel_settles_exactly_the_foreign_json_rpc_flows(tmp_path: Path, case: str) -> None:
    """The kernel settles a JSON-RPC flow itself only where FlowTable ignores it at the same
    segment (FOREIGN_METHOD_LIMIT foreign requests, UNCONFIRMED_MESSAGE_LIMIT messages, a non-JSON
    HTTP answer) or would end it with nothing; anything it cannot be sure of goes to Python."""
    segments, settled, session = RPC_CASES[case]
    path = write(tmp_path, "rpc.pcap", pcap_file(_rpc_conv(case).out, 1, eth))
    out = same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.rpc_settled == settled
    assert bool(out.findings["sessions"]) == session
    if case == "ends-early":  # held to its end: Python saw none of it
        assert counts.selected == 0


def test_held_flow_handed_over_when_full(tmp_path: Path) -> None:
    """More than HELD_PACKETS packets before the flow tells: it goes to Python, with all of them."""
    conv = Conv("10.0.0.10", "198.51.100.80", 43000, 8545, t=T0).handshake().data(True, _rpc("echo", 1))
    for _ in range(50):  # more than the kernel's HELD_PACKETS (40)
        conv.packet(False, 0x10)
    conv.data(True, _rpc("echo", 2)).fin()
    path = write(tmp_path, "full.pcap", pcap_file(conv.out, 1, eth))
    same(path)
    _, counts = fast_scan_file(path, FlowTable())
    assert counts.rpc_settled == 0 and counts.selected == len(conv.out) - 3  # from the first JSON on


def test_hostile_json_rpc_lines_agree(tmp_path: Path) -> None:
    """Mutated JSON-RPC lines and HTTP messages (some cut over segments), some turned into mining
    methods: the kernel never settles a flow FlowTable would not, nor drops one it would follow."""
    rnd = random.Random(5)
    noise = b'{}[]":,\\u0 \t\r\n.-+eE01x\x7f\xc3nulltruefalse'
    recs: list[tuple[float, bytes]] = []
    sessions = 0
    for i in range(240):
        conv = Conv("10.0.0.10", f"198.51.100.{i % 200}", 30000 + i, 8545, t=T0 + i * 0.01).handshake()
        http = i % 3 == 0
        for j in range(5):
            method = "mining.subscribe" if rnd.random() < 0.05 else rnd.choice(("echo", "eth_call", "getinfo"))
            msg = bytearray(_rpc(method, j, ',"x":{"a":[1,2.5,"s"]}'))
            for _ in range(rnd.randrange(0, 3)):
                pos = rnd.randrange(len(msg))
                msg[pos:pos + rnd.randrange(0, 3)] = bytes(rnd.choice(noise) for _ in range(rnd.randrange(0, 3)))
            for from_client, data in ((True, _post(bytes(msg).strip()) if http else bytes(msg)),
                                      (False, _response("application/json", _result(j)) if http else _result(j))):
                if http and rnd.random() < 0.4:  # an HTTP message over two or three segments
                    cuts = sorted(rnd.sample(range(1, len(data)), rnd.choice((1, 2))))
                    for part in _split(from_client, data, *cuts):
                        conv.data(*part)
                else:
                    conv.data(from_client, data)
        recs += conv.fin().out
    path = write(tmp_path, "fuzz.pcap", pcap_file(sorted(recs, key=lambda r: r[0]), 1, eth))
    out = same(path)
    sessions = len(out.findings["sessions"])
    _, counts = fast_scan_file(path, FlowTable())
    assert 0 < counts.rpc_settled < 240 and sessions > 0
