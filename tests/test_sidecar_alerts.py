"""ECS alert lines and the Zeek-style mining.log, read back with the project's Zeek reader."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from detector.sensors import ReadStats
from detector.sensors.zeek import read_zeek_file
from detector.sidecar.alerts import (
    MINING_FIELDS,
    AlertStream,
    MiningLog,
    ecs_alert,
    emitted_ids,
    mining_log_ids,
    mining_log_values,
)
from detector.sidecar.logs import Detector
from detector.sidecar.run import SidecarOptions
from detector.sidecar.suricata_cmd import analyze_eve
from detector.sidecar.zeek_ascii import format_value

REPO = Path(__file__).resolve().parents[1]
CREATED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
XMRIG = (b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"49dW6Y5AF5MXEmAkWZXTjofEvF2Aq3TpmPcLRXozLvrZ5d'
         b'Bxo72pKZzTtC7p6uF9hr52hxjbDrBPT6S4JK39RtH7MTRHppD.srv-db02","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) '
         b'libuv/1.44.2 gcc/12.2.0","rigid":"srv-db02","algo":["rx/0"]}}\n')


@pytest.fixture(scope="module")
def sample() -> tuple[Detector, dict]:
    doc, det = analyze_eve([REPO / "pcaps" / "sensors" / "eve.json.gz"], SidecarOptions())
    return det, doc


def _xmrig() -> tuple[Detector, dict]:
    det = Detector("suricata")
    det.dns(1708399800.3, "2001:db8:100::25", ["xmr-eu1.nanopool.org"], ["2001:db8:feed::14"], "eve.json:7")
    det.alert(1708399800.6, "eve.json:9", signature="ET POLICY Cryptocurrency Miner Checkin", signature_id=2024792,
              category="Potential Corporate Privacy Violation", mitre=[], payload=XMRIG, src="2001:db8:100::25",
              src_port=45872, dest="2001:db8:feed::14", dest_port=14444, direction="to_server",
              app_proto="failed", flow_key=("eve", 1))
    (f,) = det.findings.values()
    return det, det.record(f)


def test_ecs_alert_fields() -> None:
    det, rec = _xmrig()
    (f,) = det.findings.values()
    doc = ecs_alert(rec, f.id, "suricata", CREATED)
    assert doc["@timestamp"] == "2024-02-20T03:30:00.300Z"
    assert doc["event"]["kind"] == "alert" and doc["event"]["category"] == "network"
    assert doc["event"]["id"] == f"{f.id}-confirmed" and doc["event"]["created"] == "2024-05-01T12:00:00.000Z"
    assert doc["source"] == {"ip": "2001:db8:100::25", "port": 45872}
    assert doc["destination"] == {"ip": "2001:db8:feed::14", "port": 14444, "domain": "xmr-eu1.nanopool.org"}
    assert doc["rule"]["name"] == "MINESWEEP mining (confirmed): monero to xmr-eu1.nanopool.org (XMR)"
    assert doc["threat"]["framework"] == "MITRE ATT&CK"
    assert doc["threat"]["technique"]["id"] == "T1496" and doc["threat"]["technique"]["name"] == "Resource Hijacking"
    assert doc["threat"]["technique"]["subtechnique"]["id"] == "T1496.001"
    assert doc["threat"]["tactic"]["id"] == "TA0040"
    m = doc["minesweep"]
    assert (m["confidence"], m["dialect"], m["pool"], m["coin"], m["worker"]) == (
        "confirmed", "monero", "xmr-eu1.nanopool.org", "XMR", "srv-db02")
    assert m["wallet"].startswith("49dW6Y5AF5MX") and m["agent"] == "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"
    assert m["evidence"][0].startswith("dns-query: 2001:db8:100::25 looked up xmr-eu1.nanopool.org")
    assert m["hashrate"]["value"] is None and m["hashrate"]["basis"].startswith("not observable")
    buf = io.StringIO()
    AlertStream(buf).write(doc)
    assert buf.getvalue().count("\n") == 1 and json.loads(buf.getvalue()) == doc


def test_a_host_id_that_is_not_an_address_goes_to_source_address(corpus: Path) -> None:
    doc, det = analyze_eve([corpus / "qnsm" / "eve_alert_from_doc_msg.md.eve.jsonl"], SidecarOptions())
    (f,) = det.findings.values()
    alert = ecs_alert(det.record(f), f.id, "suricata", CREATED)
    assert alert["source"] == {"address": "A.B.C.D", "port": 60013}
    assert alert["minesweep"]["agent"].startswith("XMRig/2.13.1")


def test_mining_log_reads_back_with_the_zeek_reader(tmp_path: Path, sample: tuple[Detector, dict]) -> None:
    det, _ = sample
    path = tmp_path / "mining.log"
    log = MiningLog(path, lambda: 1_714_564_800.0)
    records = [det.record(f) for f in det.findings.values()]
    for f, rec in zip(det.findings.values(), records):
        log.write(mining_log_values(rec, f.id, "suricata"))
    log.close()
    text = path.read_text("utf-8")
    assert text.startswith("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tmining\n")
    assert "#open\t2024-05-01-12-00-00" in text and text.endswith("#close\t2024-05-01-12-00-00\n")
    stats = ReadStats(str(path))
    back = list(read_zeek_file(path, stats))
    assert stats.malformed == 0 and stats.format == "zeek-tsv" and len(back) == len(records)
    for row, (f, rec) in zip(back, zip(det.findings.values(), records)):
        assert row.log_type == "mining" and list(row.fields) == list(MINING_FIELDS)
        fields = row.fields
        assert fields["uid"] == f"{f.id}-{rec['confidence']}"
        assert fields["id.orig_h"] == rec["client"] and fields["id.resp_p"] == rec["server_port"]
        assert fields["confidence"] == rec["confidence"] and fields["agent"] == rec["agent"]
        assert fields["pool"] == rec["pool"] and fields["worker"] == rec["worker"]
        assert fields["hashrate"] is None  # unset, not 0
        assert list(fields["evidence"]) == rec["evidence"]  # commas, tabs and quotes survive
        assert abs(fields["ts"] - rec["first_seen"]) < 1e-6


@pytest.mark.parametrize("value, zeek_type, cell", [
    (None, "string", "-"), ("", "string", "(empty)"), ("-", "string", "\\x2d"), ("(empty)", "string", "\\x28empty)"),
    ("a\tb\\c", "string", "a\\x09b\\x5cc"), (["x,y", "z"], "vector[string]", "x\\x2cy,z"), ([], "vector[string]", "(empty)"),
    (3.5, "double", "3.500000"), (True, "bool", "T"), (3333, "port", "3333"),
])
def test_zeek_cells(value: object, zeek_type: str, cell: str) -> None:
    assert format_value(value, zeek_type) == cell


def test_mining_log_appends_a_new_header_block_after_close(tmp_path: Path) -> None:
    det, rec = _xmrig()
    (f,) = det.findings.values()
    path = tmp_path / "mining.log"
    for clock in (1_714_564_800.0, 1_714_568_400.0):
        log = MiningLog(path, lambda c=clock: c)
        log.write(mining_log_values(rec, f.id, "suricata"))
        log.close()
    text = path.read_text("utf-8")
    assert text.count("#separator") == 2 and text.count("#close") == 2
    stats = ReadStats(str(path))
    assert len(list(read_zeek_file(path, stats))) == 2 and stats.malformed == 0
    log = MiningLog(path, lambda: 1_714_572_000.0)  # reopened while not closed: no second header
    log.write(mining_log_values(rec, f.id, "suricata"))
    log.fh.close()
    log2 = MiningLog(path, lambda: 1_714_572_000.0)
    log2.close()
    assert path.read_text("utf-8").count("#separator") == 3


def test_written_ids_can_be_read_back_for_restart_dedupe(tmp_path: Path) -> None:
    det, rec = _xmrig()
    (f,) = det.findings.values()
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text('{"event": {"id": "old-strong"}}\n', "utf-8")
    offset = alerts.stat().st_size
    with open(alerts, "a", encoding="utf-8") as fh:
        AlertStream(fh).write(ecs_alert(rec, f.id, "suricata", CREATED))
        fh.write("not json\n")
    assert emitted_ids(alerts, offset) == {f"{f.id}-confirmed"} and emitted_ids(alerts, 0) >= {"old-strong"}
    log = MiningLog(tmp_path / "mining.log", lambda: 0.0)
    size = log.size()
    log.write(mining_log_values(rec, f.id, "suricata"))
    log.close()
    assert mining_log_ids(tmp_path / "mining.log", size) == {f"{f.id}-confirmed"}
