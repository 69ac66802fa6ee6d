"""The sidecar on real sensor logs: the corpus (negatives, and qnsm's real XMRig alert) and the
bundled samples of pcaps/sensors (positives, made by pcaps/sensors/make_logs.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from detector.output.findings import read_findings
from detector.sidecar.run import SidecarOptions, write_reports
from detector.sidecar.suricata_cmd import analyze_eve
from detector.sidecar.zeek_cmd import analyze_zeek

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SENSORS = REPO / "pcaps" / "sensors"
TRUTH = json.loads((SENSORS / "truth.json").read_text("utf-8"))

ZEEK_CORPUS = [
    "zeek/Baseline/scripts.base.protocols.ssl.basic",
    "zeek/Baseline/scripts.base.protocols.dns.dns-key",
    "zeek/Baseline/scripts.policy.protocols.conn.vlan-logging",
    "slips/test9-mixed-zeek-dir",
    "slips/test10-mixed-zeek-dir",
]


def _assoc(doc: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {(s["client"], s["server"], s["server_port"]): s for s in doc["sessions"]}


# --------------------------------------------------------------------------- corpus negatives


@pytest.mark.parametrize("rel", ZEEK_CORPUS)
def test_corpus_zeek_logs_parse_cleanly_and_find_nothing(corpus: Path, rel: str) -> None:
    doc, det = analyze_zeek([corpus / rel], SidecarOptions())
    assert doc["inputs"] and all(i["malformed"] == 0 for i in doc["inputs"])
    assert sum(i["records"] for i in doc["inputs"]) > 0
    assert doc["sessions"] == [] and doc["hosts"] == [] and det.findings == {}


def test_corpus_suricata_eve_parses_cleanly_and_inbound_scans_are_not_mining(corpus: Path) -> None:
    path = corpus / "slips" / "test6-malicious.suricata.json"
    doc, det = analyze_eve([path], SidecarOptions())
    (entry,) = doc["inputs"]
    assert entry["malformed"] == 0 and entry["records"] == 5000
    assert doc["sessions"] == [] and det.findings == {}
    # the file does hold inbound connections to the usual stratum ports: ports are never evidence
    lines = [json.loads(line) for line in path.open(encoding="utf-8")]
    to_stratum_ports = [e for e in lines if e.get("dest_port") in (3333, 4444, 5555, 7777)]
    assert len(to_stratum_ports) >= 10
    assert det.flows == 3512 and det.records_seen == 5000


def test_qnsm_xmrig_alert_is_decoded_from_its_payload(corpus: Path) -> None:
    doc, _ = analyze_eve([corpus / "qnsm" / "eve_alert_from_doc_msg.md.eve.jsonl"], SidecarOptions())
    (s,) = doc["sessions"]
    assert (s["client"], s["client_port"], s["server"], s["server_port"]) == ("A.B.C.D", 60013, "78.46.222.60", 457)
    assert s["confidence"] == "confirmed" and s["dialect"] == "monero"
    assert s["agent"] == "XMRig/2.13.1 (Windows NT 10.0; Win64; x64) libuv/1.24.1 msvc/2017"
    assert s["login"] == "x" and s["methods"] == {"login": 1}
    assert s["hashrate"]["value"] is None and s["hashrate"]["basis"].startswith("not observable")
    assert any("[2024792] ET POLICY Cryptocurrency Miner Checkin" in e for e in s["evidence"])
    (host,) = doc["hosts"]
    assert host["ip"] == "A.B.C.D" and host["confidence"] == "confirmed"
    assert doc["subnets"][0]["subnet"] == "(not an IP address)" and doc["subnets"][0]["ips"] == ["A.B.C.D"]


@pytest.mark.parametrize("keep", ["payload_hex", "payload_printable", "payload"])
def test_every_payload_field_is_decoded(corpus: Path, tmp_path: Path, keep: str) -> None:
    import base64

    event = json.loads((corpus / "qnsm" / "eve_alert_from_doc_msg.md.eve.jsonl").read_text("utf-8"))
    raw = bytes.fromhex(event.pop("payload_hex"))
    event[keep] = {"payload_hex": raw.hex(), "payload": base64.b64encode(raw).decode(),
                   "payload_printable": raw.decode("latin-1")}[keep]
    path = tmp_path / "eve.json"
    path.write_text(json.dumps(event) + "\n", "utf-8")
    doc, _ = analyze_eve([path], SidecarOptions())
    (s,) = doc["sessions"]
    assert s["confidence"] == "confirmed" and s["agent"].startswith("XMRig/2.13.1")


# --------------------------------------------------------------------------- bundled samples

def _expected(entry: dict[str, Any], sensor: str) -> str:
    """The confidence each sensor's evidence supports (STRENGTH table of detector/sidecar/logs.py)."""
    if sensor == "suricata" and entry["eve_alert"] and entry["dialect"]:
        configure_only = entry["client"] in ("10.40.7.33",)  # bmminer's first packet: mining.configure only
        return "strong" if configure_only else "confirmed"
    if sensor == "zeek" and entry["zeek_notice"] and entry["client"] not in ("10.20.30.41", "10.40.7.33"):
        return "confirmed"  # the notice's sub decodes (mining.configure does not confirm a session)
    if entry.get("pool_name_in_dns") or entry.get("sni_pool") or entry["eve_alert"]:
        return "strong"
    return "suspected"


@pytest.mark.parametrize("sensor, path", [("zeek", "zeek"), ("zeek", "zeek-json"), ("suricata", "eve.json.gz")])
def test_samples_find_every_mining_association(sensor: str, path: str) -> None:
    analyze = analyze_zeek if sensor == "zeek" else analyze_eve
    doc, det = analyze([SENSORS / path], SidecarOptions())
    assert all(i["malformed"] == 0 for i in doc["inputs"])
    found = _assoc(doc)
    expected = {(m["client"], m["server"], m["server_port"]): m for m in TRUTH["mining"]}
    assert set(found) == set(expected)  # every association, and nothing else (scans, look-alikes)
    for key, entry in expected.items():
        s = found[key]
        assert s["confidence"] == _expected(entry, sensor), (key, s["evidence"])
        if s["confidence"] == "confirmed":
            assert s["dialect"] == entry["dialect"]
            # the alert payload is the packet of the first request: bmminer's is mining.configure and
            # the getwork/GBT miners' is the HTTP body (the User-Agent is in the packet before)
            if entry["agent"] and sensor == "suricata" and entry["dialect"] != "gbt" and entry["client"] != "10.20.30.41":
                assert s["agent"] == entry["agent"]
        if entry.get("pool_name_in_dns") and sensor == "zeek":
            assert s["pool"] == entry["pool_name_in_dns"] or s["pool_source"] == "mining.subscribe"
        assert s["hashrate"]["value"] is None and s["hashrate"]["basis"].startswith("not observable")
        assert s["evidence"], key
    assert det.allowlisted.get("binance.com", 0) >= 2  # the bot polling api.binance.com


def test_zeek_tsv_and_json_samples_give_the_same_findings() -> None:
    tsv, _ = analyze_zeek([SENSORS / "zeek"], SidecarOptions())
    js, _ = analyze_zeek([SENSORS / "zeek-json"], SidecarOptions())
    strip = lambda doc: [{k: v for k, v in s.items() if k not in ("evidence", "notes")} for s in doc["sessions"]]  # noqa: E731
    assert strip(tsv) == strip(js)


def test_suricata_sample_decodes_worker_wallet_and_agent() -> None:
    doc, _ = analyze_eve([SENSORS / "eve.json.gz"], SidecarOptions())
    found = _assoc(doc)
    eth = found[("10.8.0.6", "203.0.113.44", 4444)]
    assert eth["dialect"] == "ethproxy" and eth["wallet"] == "0xa0f58072b5303ccb97da69928f897b85adc6cf8c"
    assert eth["worker"] == "rig2" and eth["pool"] == "eu1.ethermine.org" and eth["coin"] == "ETH"
    xmr = found[("2001:db8:100::25", "2001:db8:feed::14", 14444)]
    assert xmr["agent"] == "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0" and xmr["worker"] == "srv-db02"
    tls = found[("192.168.50.23", "192.0.2.141", 443)]
    assert tls["dialect"] == "tls" and tls["pool"] == "pool.supportxmr.com" and tls["coin"] == "XMR"
    assert any(e.startswith("tls-sni:") for e in tls["evidence"])
    dns_only_ip = found[("192.168.50.57", "198.51.100.214", 14433)]
    assert dns_only_ip["pool"] == "xmr-eu1.nanopool.org" and any(e.startswith("pool-address:") for e in
                                                                  dns_only_ip["evidence"])
    sv2 = found[("192.168.50.88", "203.0.113.34", 34254)]
    assert sv2["confidence"] == "suspected" and [e.split(":")[0] for e in sv2["evidence"]] == ["flow-shape"]
    # the alert on a DNS query names the pool, never the resolver
    assert not any(s["server_port"] == 53 for s in doc["sessions"])


def test_zeekcontrol_layout_with_gzip_archives(tmp_path: Path) -> None:
    """logs/YYYY-MM-DD/<type>.HH:MM:SS-HH:MM:SS.log.gz plus logs/current/*.log, as ZeekControl
    leaves them: split each sample log in two, archive the first half."""
    logs = tmp_path / "logs"
    (logs / "2024-05-01").mkdir(parents=True)
    (logs / "current").mkdir()
    for src in sorted((SENSORS / "zeek").glob("*.log")):
        lines = src.read_text("utf-8").splitlines(keepends=True)
        header = [x for x in lines if x.startswith("#") and not x.startswith("#close")]
        data = [x for x in lines if not x.startswith("#")]
        half = len(data) // 2
        kind = src.stem
        with gzip.open(logs / "2024-05-01" / f"{kind}.00:00:00-01:00:00.log.gz", "wt", encoding="utf-8") as gz:
            gz.writelines(header + data[:half] + ["#close\t2024-05-01-01-00-00\n"])
        (logs / "current" / f"{kind}.log").write_text("".join(header + data[half:]), "utf-8")
    (logs / "current" / "stderr.log").write_text("zeek: a warning\n", "utf-8")
    doc, _ = analyze_zeek([logs], SidecarOptions())
    flat, _ = analyze_zeek([SENSORS / "zeek"], SidecarOptions())
    assert _assoc(doc).keys() == _assoc(flat).keys()
    assert {k: s["confidence"] for k, s in _assoc(doc).items()} == {k: s["confidence"] for k, s in _assoc(flat).items()}
    skipped = [i for i in doc["inputs"] if i["format"] == "not-zeek"]
    assert [Path(i["path"]).name for i in skipped] == ["stderr.log"]


def test_reports_are_the_same_writers_as_scan(tmp_path: Path) -> None:
    doc, _ = analyze_eve([SENSORS / "eve.json.gz"], SidecarOptions())
    paths = write_reports(doc, tmp_path)
    assert {p.name for p in paths} >= {"findings.json", "report.md", "hosts.csv", "report.html"}
    back = read_findings(tmp_path / "findings.json")
    assert back["schema"] == "minesweep/findings/1" and back["sensor"]["kind"] == "suricata"
    assert len(back["hosts"]) == len({m["client"] for m in TRUTH["mining"]})
    report = (tmp_path / "report.md").read_text("utf-8")
    assert "10.20.31.17" in report and "not observable" in report


def test_sample_truth_matches_the_pcaps_truth() -> None:
    """pcaps/sensors/truth.json lists every plaintext session of pcaps/truth.json."""
    pcap_truth = json.loads((REPO / "pcaps" / "truth.json").read_text("utf-8"))
    sessions = {(s["client"], s["server"], s["server_port"]) for name in TRUTH["captures"]
                for s in pcap_truth["files"][name].get("sessions", [])}
    listed = {(m["client"], m["server"], m["server_port"]) for m in TRUTH["mining"] if m["dialect"]}
    assert sessions == listed


def test_sample_logs_can_be_regenerated_identically(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run([sys.executable, str(SENSORS / "make_logs.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True, cwd=REPO)
    for rel in ("zeek/conn.log", "zeek/notice.log", "zeek-json/dns.log.gz", "eve.json.gz", "truth.json"):
        assert (tmp_path / rel).read_bytes() == (SENSORS / rel).read_bytes(), rel
