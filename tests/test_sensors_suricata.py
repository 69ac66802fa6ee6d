"""Suricata eve.json reader: corpus counts, exact values, every DNS format, hostile lines."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from detector.errors import InputError, UnreadableInputError
from detector.sensors import ReadStats
from detector.sensors.suricata import (
    EveAlert,
    EveAnomaly,
    EveDns,
    EveDnsAnswer,
    EveDnsQuery,
    EveEvent,
    EveFileinfo,
    EveFlow,
    EveHttp,
    EveJa3,
    EveTls,
    iter_eve,
    parse_eve_line,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SLIPS = CORPUS / "slips/test6-malicious.suricata.json"
QNSM = CORPUS / "qnsm/eve_alert_from_doc_msg.md.eve.jsonl"


def read(path: Path, **kw: Any) -> tuple[list[EveEvent], ReadStats]:
    stats: list[ReadStats] = []
    events = list(iter_eve(path, stats=stats, **kw))
    return events, stats[0]


@pytest.fixture(scope="module")
def slips() -> list[EveEvent]:
    return read(SLIPS)[0]


def by_line(events: list[EveEvent], line: int) -> EveEvent:
    (ev,) = [e for e in events if e.line == line]
    return ev


def line_of(path: Path, needle: str) -> int:
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return n
    raise AssertionError(needle)


# --------------------------------------------------------------------------- corpus


def test_slips_event_counts() -> None:
    events, st = read(SLIPS)
    assert Counter(e.event_type for e in events) == {
        "flow": 3512, "alert": 745, "dns": 680, "http": 56, "fileinfo": 3, "anomaly": 3, "tls": 1,
    }  # fmt: skip
    assert (st.records, st.malformed, st.skipped, st.format) == (5000, 0, {}, "eve-json")


def test_slips_no_mining_alerts(slips: list[EveEvent]) -> None:
    sigs = {e.alert.signature for e in slips if e.alert}
    assert not any("COINMINER" in s or "Miner" in s for s in sigs if s)


def test_slips_tls(slips: list[EveEvent]) -> None:
    (ev,) = [e for e in slips if e.event_type == "tls"]
    assert ev.timestamp == 1622991240.074627  # 2021-06-06T16:54:00.074627+0200
    assert (ev.src_ip, ev.src_port, ev.dest_ip, ev.dest_port, ev.proto, ev.flow_id) == (
        "192.168.1.129", 60316, "122.248.252.67", 55443, "TCP", 262898731971351,
    )  # fmt: skip
    assert ev.tls == EveTls(
        "www.myedimax.com", "TLS 1.1", "OU=Domain Control Validated, CN=www.myedimax.com",
        "C=BE, O=GlobalSign nv-sa, CN=AlphaSSL CA - SHA256 - G2",
        "2d:d1:9f:80:99:86:fc:ac:5f:2a:2a:fd:a3:f3:7e:96:7c:dd:24:37",
        "17:8E:1E:D7:BD:75:EF:CD:3D:8F:FF:D3", "2020-03-19T09:44:08", "2022-03-20T09:44:08",
        EveJa3("b7202231ff2db28363c109cedc6d1642", "770,51-57-69-136-22-53-132-47-65-10-5-4,0,,"),
        EveJa3("ad90cab724fafab2660fbf61673c91a9", "770,51,0"), None,
    )  # fmt: skip


def test_slips_dns_v2_answer_with_cname_chain(slips: list[EveEvent]) -> None:
    ev = by_line(slips, line_of(SLIPS, '"pcap_cnt":2360,'))
    assert ev.dns == EveDns(
        2, "answer", 2, "NOERROR", (EveDnsQuery("www.myedimax.com", "A"),),
        (EveDnsAnswer("www.myedimax.com", "CNAME", 580, "ddns.myedimax.com"),
         EveDnsAnswer("ddns.myedimax.com", "CNAME", 280, "ns.myedimax.com"),
         EveDnsAnswer("ns.myedimax.com", "A", 580, "122.248.252.67")),
    )  # fmt: skip


def test_slips_dns_v1_style_query(slips: list[EveEvent]) -> None:
    ev = by_line(slips, line_of(SLIPS, '"pcap_cnt":3881,'))
    assert ev.dns == EveDns(None, "query", 2, None, (EveDnsQuery("www.google.com", "A"),), ())


def test_slips_flow(slips: list[EveEvent]) -> None:
    ev = by_line(slips, line_of(SLIPS, '"flow_id":445348883402532,'))
    assert (ev.event_type, ev.app_proto, ev.timestamp) == ("flow", "failed", 1622987857.272281)
    assert ev.flow == EveFlow(12, 0, 4056, 0, 1622990335.855844, 1622990336.963027, 1, "new",
                              "timeout", False)  # fmt: skip


def test_slips_alert_http_fileinfo_anomaly(slips: list[EveEvent]) -> None:
    alert = by_line(slips, line_of(SLIPS, '"pcap_cnt":313,'))
    sig = "ET CINS Active Threat Intelligence Poor Reputation IP group 89"
    assert alert.alert == EveAlert(2403388, sig, "Misc Attack", 2, "allowed", 1, 66418)
    assert alert.flow is not None and alert.flow.end is None and alert.flow.bytes_toserver == 60
    fi = [e for e in slips if e.event_type == "fileinfo" and e.flow_id == 482525783043092][0]
    assert fi.fileinfo == EveFileinfo("/", 47, "CLOSED", False, False, None, None, None, None, 0)
    assert fi.http == EveHttp("147.32.82.197", "/", None, "GET", "HTTP/1.1", 404, 47,
                              "text/html", 554, None)  # fmt: skip
    an = by_line(slips, line_of(SLIPS, '"pcap_cnt":172344,'))
    assert an.anomaly == EveAnomaly("applayer", "APPLAYER_DETECT_PROTOCOL_ONLY_ONE_DIRECTION",
                                    "proto_detect", "http", None)  # fmt: skip


def test_qnsm_xmrig_checkin_payload() -> None:
    (ev,), st = read(QNSM)
    assert st.malformed == 0
    assert ev.alert is not None and ev.alert.signature_id == 2024792
    assert ev.alert.signature == "ET POLICY Cryptocurrency Miner Checkin"
    assert ev.timestamp == 1566551195.284049  # 2019-08-23T17:06:35.284049+0800
    assert ev.payload is not None
    assert ev.payload.startswith(b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x"')
    login = json.loads(ev.payload)
    assert login["params"]["agent"].startswith("XMRig/2.13.1 (Windows NT 10.0; Win64; x64)")
    assert ev.flow == EveFlow(3, 1, 401, 66, 1566551195.065171, None, None, None, None, None)


# --------------------------------------------------------------------------- crafted lines

BASE = {"timestamp": "2024-01-02T03:04:05.500000+0000", "flow_id": 7, "src_ip": "10.0.0.2",
        "src_port": 53, "dest_ip": "10.0.0.1", "dest_port": 40000, "proto": "UDP"}  # fmt: skip


def parse(obj: dict[str, Any] | bytes, **kw: Any) -> tuple[EveEvent | None, ReadStats]:
    st = ReadStats("t")
    line = obj if isinstance(obj, bytes) else json.dumps({**BASE, **obj}).encode()
    return parse_eve_line(line, 1, "t", st, **kw), st


POOL_Q = (EveDnsQuery("pool.supportxmr.com", "A"),)
POOL_A = (EveDnsAnswer("pool.supportxmr.com", "A", 60, "94.130.12.27"),)


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        ({"type": "query", "id": 9, "rrname": "pool.supportxmr.com", "rrtype": "A", "tx_id": 0},
         EveDns(None, "query", 9, None, POOL_Q, ())),
        ({"type": "answer", "id": 9, "rcode": "NOERROR", "rrname": "pool.supportxmr.com",
          "rrtype": "A", "ttl": 60, "rdata": "94.130.12.27"},
         EveDns(None, "answer", 9, "NOERROR", (), POOL_A)),
        ({"type": "answer", "id": 9, "rcode": "NXDOMAIN", "rrname": "pool.supportxmr.com"},
         EveDns(None, "answer", 9, "NXDOMAIN", (EveDnsQuery("pool.supportxmr.com", None),), ())),
        ({"version": 2, "type": "answer", "id": 9, "rcode": "NOERROR",
          "rrname": "pool.supportxmr.com", "rrtype": "A", "grouped": {"A": ["94.130.12.27"]}},
         EveDns(2, "answer", 9, "NOERROR", POOL_Q, (EveDnsAnswer(None, "A", None,
                                                                 "94.130.12.27"),))),
        ({"version": 3, "type": "request", "id": 9, "rcode": "NOERROR",
          "queries": [{"rrname": "pool.supportxmr.com", "rrtype": "A"}]},
         EveDns(3, "request", 9, "NOERROR", POOL_Q, ())),
        ({"version": 3, "type": "response", "id": 9, "rcode": "NOERROR",
          "queries": [{"rrname": "pool.supportxmr.com", "rrtype": "A"}],
          "answers": [{"rrname": "pool.supportxmr.com", "rrtype": "A", "ttl": 60,
                       "rdata": "94.130.12.27"}]},
         EveDns(3, "response", 9, "NOERROR", POOL_Q, POOL_A)),
        ({"query": [{"type": "query", "id": 9, "rrname": "pool.supportxmr.com", "rrtype": "A"}]},
         EveDns(None, "query", 9, None, POOL_Q, ())),
        ({"answer": {"version": 2, "type": "answer", "id": 9, "rcode": "NOERROR",
                     "rrname": "pool.supportxmr.com", "rrtype": "A"}},
         EveDns(2, "answer", 9, "NOERROR", POOL_Q, ())),
    ],
    ids=["v1-query", "v1-answer", "v1-nxdomain", "v2-grouped", "v3-request", "v3-response",
         "v2-alert-query", "v2-alert-answer"],
)  # fmt: skip
def test_dns_formats(dns: dict[str, Any], expected: EveDns) -> None:
    ev, st = parse({"event_type": "dns", "dns": dns})
    assert ev is not None and ev.dns == expected and st.malformed == 0


def test_dns_inside_alert() -> None:
    ev, _ = parse(
        {
            "event_type": "alert",
            "alert": {"signature_id": 2030000, "severity": 1},
            "dns": {"query": [{"rrname": "xmr.pool.minergate.com", "rrtype": "A"}]},
        }
    )
    assert ev is not None and ev.dns is not None
    assert ev.dns.queries == (EveDnsQuery("xmr.pool.minergate.com", "A"),)


def test_payload_base64_and_printable() -> None:
    raw = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10"]}\n'
    ev, st = parse(
        {
            "event_type": "alert",
            "alert": {"signature_id": 2017871},
            "payload": base64.b64encode(raw).decode(),
            "payload_printable": "x",
        }
    )
    assert ev is not None and ev.payload == raw and ev.payload_printable == "x"
    ev, st = parse({"event_type": "alert", "alert": {}, "payload": "@@not base64@@"})
    assert ev is not None and ev.payload is None and st.malformed == 0
    assert st.warnings[0].startswith("line 1: payload not decoded")


def test_timestamp_offsets() -> None:
    ev, _ = parse({"event_type": "flow", "flow": {}, "timestamp": "2024-01-02T11:04:05.5+0800"})
    assert ev is not None and ev.timestamp == 1704164645.5


@pytest.mark.parametrize(
    ("line", "reason", "malformed"),
    [
        (b'{"timestamp": "2024-01-02T03:04:05+0000", "event_type": "fl', "bad_json", True),
        (b'"just a string"', "not_object", True),
        (b'{"timestamp": "2024-01-02T03:04:05+0000"}', "no_event_type", True),
        (b'{"timestamp": "tuesday", "event_type": "flow", "flow": {}}', "bad_value", True),
        (b'{"timestamp": "2024-01-02T03:04:05+0000", "event_type": "alert", "alert": "x"}',
         "bad_value", True),
        (b'{"timestamp": "2024-01-02T03:04:05+0000", "event_type": "alert"}', "bad_value", True),
        (b'{"event_type": "dns", "dns": {"rrname": "\xff"}}', "bad_utf8", True),
        (b"{" * 100_000, "bad_json", True),
        (b'{"timestamp": "2024-01-02T03:04:05+0000", "event_type": "stats", "stats": {}}',
         "event_type:stats", False),
        (b'{"timestamp": "2024-01-02T03:04:05+0000", "event_type": "' + b"\xc3\xa9" * 40 + b'"}',
         "event_type:other", False),
        (b"   ", "blank", False),
    ],
)  # fmt: skip
def test_skipped_lines(line: bytes, reason: str, malformed: bool) -> None:
    ev, st = parse(line)
    assert ev is None and st.skipped == {reason: 1} and st.malformed == int(malformed)


def test_event_type_filter() -> None:
    events, st = read(SLIPS, event_types=frozenset({"tls", "alert"}))
    assert len(events) == 746
    assert st.skipped == {"event_type:flow": 3512, "event_type:dns": 680, "event_type:http": 56,
                          "event_type:fileinfo": 3, "event_type:anomaly": 3}  # fmt: skip
    assert st.malformed == 0


def test_file_with_damage_gzip_and_huge_line(tmp_path: Path) -> None:
    good = QNSM.read_bytes().rstrip(b"\n")
    data = b"\n".join([good, b"garbage", b'{"a": ' + b"1" * (2 << 20) + b"}", good]) + b"\n"
    p = tmp_path / "eve.json.gz"
    p.write_bytes(gzip.compress(data))
    events, st = read(p)
    assert [e.line for e in events] == [1, 4]
    assert (st.format, st.skipped, st.malformed) == ("eve-json+gzip",
                                                     {"bad_json": 1, "too_long": 1}, 2)  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((CORPUS / "slips/test9-mixed-zeek-dir/conn.log").read_bytes()[:5000],
         "Zeek JSON log, not Suricata EVE"),
        ((CORPUS / "slips/test10-mixed-zeek-dir/conn.log").read_bytes(), "not Suricata EVE JSON"),
        ((CORPUS / "ndpi/jsonrpc.pcap").read_bytes(), "not Suricata EVE JSON"),
    ],
)  # fmt: skip
def test_not_eve(tmp_path: Path, data: bytes, message: str) -> None:
    p = tmp_path / "eve.json"
    p.write_bytes(data)
    with pytest.raises(InputError, match=message):
        list(iter_eve(p))


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError):
        list(iter_eve(tmp_path / "eve.json"))
    (tmp_path / "eve.json").write_bytes(b"")
    events, st = read(tmp_path / "eve.json")
    assert events == [] and st.format == "empty"


def test_directory_of_eve_files(tmp_path: Path) -> None:
    (tmp_path / "eve.json").write_bytes(QNSM.read_bytes())
    (tmp_path / "eve.json.1.gz").write_bytes(gzip.compress(QNSM.read_bytes()))
    stats: list[ReadStats] = []
    events = list(iter_eve(tmp_path, stats=stats))
    assert len(events) == 2 and [s.format for s in stats] == ["eve-json", "eve-json+gzip"]
