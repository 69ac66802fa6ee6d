"""The sidecar's detector: what each kind of log evidence is worth, parametrized over real lines.

The payload lines are the real first packets of the bundled sample captures' sessions (as the
alerts of pcaps/sensors/eve.json.gz carry them)."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from detector.rules import clear_rules_cache, load_rules
from detector.scan import ScanOptions
from detector.sidecar.intel import AllowEntry, AllowList, PoolIntel, load_sidecar_rules
from detector.sidecar.logs import Conn, Detector, findings_document

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0

# real first requests (pcaps/sensors/eve.json.gz alert payloads, from pcaps/*.pcap*)
EWBF = b'{"id":1,"method":"mining.subscribe","params":["EWBF 0.3.4b",null,"eu1-zcash.flypool.org","3333"]}\n'
NBMINER = b'{"id":1,"method":"mining.subscribe","params":["NBMiner/39.5","EthereumStratum/1.0.0"]}\n'
CLAYMORE = (b'{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["0xa0f58072b5303ccb97da69928f897b85adc6cf8c.rig2", '
            b'"x"], "id": 2, "method": "eth_submitLogin"}\n')
XMRIG_213 = (b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"accounting-pc7@example.org","pass":"x",'
             b'"agent":"XMRig\\/2.13.1 (Windows NT 10.0; Win64; x64) libuv\\/1.24.0 msvc\\/2017","algo":["cn\\/r",'
             b'"cn\\/2","cn\\/1","cn\\/0"]}}\n')
MIDSESSION = (b'{"params": ["corpfarm.s19pro-3", "74dc", "00007738", "63739b61", "836db037"], "id": 1873, '
              b'"method": "mining.submit"}\n')
GBT_BODY = (b'{"id": 0, "method": "getblocktemplate", "params": [{"capabilities": ["coinbasetxn", "workid", '
            b'"longpoll", "coinbase/append", "time/increment", "version/force", "version/reduce", '
            b'"submit/coinbase", "submit/truncate"], "maxversion": 4}]}')
GBT_POST = (b"POST / HTTP/1.1\r\nHost: mining.eligius.st\r\nAuthorization: Basic "
            b"MUxRWWFBWmlmOGFQRW1IVGFmc3RKdlg0dWZoWWRTUTZLZDp4\r\nAccept: */*\r\nContent-type: application/json\r\n"
            b"X-Mining-Extensions: longpoll midstate rollntime submitold\r\nContent-Length: %d\r\n"
            b"User-Agent: bfgminer/5.5.0\r\n\r\n" % len(GBT_BODY)) + GBT_BODY
NOTIFY = (b'{"id":null,"method":"mining.set_difficulty","params":[16384]}\n{"id":null,"method":"mining.notify",'
          b'"params":["7561","9b98537e32f6ffa49275dc84c7fb7f2c66a2ffa0c60f8fe0a62695279070962c","01000000",'
          b'"ffffffff",[],"20000000","170e1b2d","60bebf32",true]}\n')
HASHRATE = b'{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1dcd6500","0x5b6f2fd1"]}\n'


def conn(client: str = "10.0.0.5", server: str = "203.0.113.10", port: int = 3333, *, duration: float = 900.0,
         opk: int = 300, rpk: int = 160, obytes: int = 17_000, rbytes: int = 30_000, service: str | None = None,
         ts: float = T0, where: str = "conn.log:1") -> Conn:
    return Conn(ts, client, 51000, server, port, "tcp", service, duration, obytes, rbytes, opk, rpk,
                obytes + 40 * opk, rbytes + 40 * rpk, where)


def alert(det: Detector, payload: bytes | None, *, src: str = "10.0.0.5", dst: str = "203.0.113.10",
          sport: int = 51000, dport: int = 3333, signature: str = "MINESWEEP Stratum mining.subscribe",
          category: str | None = "Crypto Currency Mining Activity Detected", direction: str | None = "to_server",
          app_proto: str | None = "failed", names: tuple[str, ...] = (), flow: int = 1) -> None:
    det.alert(T0, "eve.json:1", signature=signature, signature_id=1496001, category=category, mitre=[],
              payload=payload, src=src, src_port=sport, dest=dst, dest_port=dport, direction=direction,
              app_proto=app_proto, flow_key=("eve", flow), dns_names=names)


def only(det: Detector) -> dict[str, Any]:
    (rec,) = det.records()
    return rec


def kinds(rec: dict[str, Any]) -> list[str]:
    return [e.split(":", 1)[0] for e in rec["evidence"]]


# --------------------------------------------------------------------------- names and addresses


def test_dns_answer_then_connection_is_strong() -> None:
    det = Detector("zeek")
    det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.10"], "dns.log:3")
    det.conn(conn(service="ssh"))  # a service the sensor identified: no shape, but the address counts
    rec = only(det)
    assert rec["confidence"] == "strong" and rec["pool"] == "btc.f2pool.com" and rec["pool_operator"] == "F2Pool"
    assert kinds(rec) == ["dns-query", "pool-address"]
    assert rec["server_port"] == 3333 and rec["bytes_c2s"] == 17_000 + 40 * 300
    assert rec["hashrate"]["value"] is None
    assert rec["hashrate"]["basis"] == ("not observable: sensor logs hold connection summaries and names, "
                                        "not the mining messages")


def test_a_connection_logged_before_the_dns_answer_is_linked_later() -> None:
    det = Detector("zeek")
    det.conn(conn(service="ssh"))
    assert det.records() == []
    det.dns(T0 + 5, "10.0.0.9", ["btc.f2pool.com"], ["203.0.113.10"], "dns.log:3")  # another host asked
    recs = {r["client"]: r for r in det.records()}
    assert (recs["10.0.0.5"]["confidence"], kinds(recs["10.0.0.5"])) == ("strong", ["pool-address"])
    assert (recs["10.0.0.9"]["confidence"], kinds(recs["10.0.0.9"])) == ("suspected", ["dns-query"])


@pytest.mark.parametrize("obytes, rbytes", [(0, 0), (120, 0), (0, 60)])
def test_a_connection_without_payload_both_ways_is_no_evidence(obytes: int, rbytes: int) -> None:
    det = Detector("zeek")
    det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.10"], "dns.log:3")
    det.conn(conn("10.0.0.7", port=22, duration=0.1, opk=1, rpk=1, obytes=obytes, rbytes=rbytes))
    assert {r["client"] for r in det.records()} == {"10.0.0.5"}  # only the DNS lookup itself


def test_dns_lookup_alone_is_suspected_and_merged_into_the_connection() -> None:
    det = Detector("zeek")
    det.dns(T0, "10.0.0.5", ["xmr-eu1.nanopool.org"], ["2001:db8:feed::14"], "dns.log:9")
    rec = only(det)
    assert (rec["confidence"], rec["server"], rec["server_port"]) == ("suspected", "2001:db8:feed::14", None)
    assert rec["notes"][-1] == "no connection to the pool was logged: the finding rests on a DNS lookup"
    det.conn(conn(server="2001:db8:feed::14", port=14444, service="ssh"))
    rec = only(det)
    assert (rec["server_port"], rec["confidence"]) == (14444, "strong")
    assert kinds(rec) == ["dns-query", "pool-address"]


@pytest.mark.parametrize("name", ["api.binance.com", "www.coinbase.com", "downloads.getmonero.org", "mycelium.com"])
def test_allowlisted_exchanges_and_wallets_are_not_pools(name: str) -> None:
    det = Detector("zeek")
    det.dns(T0, "10.0.0.5", [name], ["198.51.100.1"], "dns.log:1")
    det.tls(T0, "10.0.0.5", 50000, "198.51.100.1", 443, name, "ssl.log:1")
    assert det.records() == [] and sum(det.allowlisted.values()) == 2


def test_longest_suffix_wins_between_the_allowlist_and_the_pools() -> None:
    rules = load_rules()
    entry = AllowEntry("btc.com", "suffix", "explorer", "explorer and wallet", ("test",))
    www = AllowEntry("www.f2pool.com", "exact", "pool-website", "the pool's web site", ("test",))
    intel = PoolIntel(rules, AllowList({"www.f2pool.com": www}, {"btc.com": entry}))
    assert intel.pool("eu.ss.btc.com").pool.name == "BTC.com pool"  # pool suffix ss.btc.com is longer
    assert intel.pool("btc.com") is None and intel.classify("www.btc.com").allowed is entry
    assert intel.pool("www.f2pool.com") is None and intel.pool("btc.f2pool.com").pool.name == "F2Pool"
    assert intel.pool("notf2pool.com") is None and intel.pool("BTC.F2POOL.COM.") is not None


def test_tls_sni_and_certificate_names() -> None:
    det = Detector("zeek")
    det.tls(T0, "10.0.0.5", 50000, "192.0.2.141", 443, "pool.supportxmr.com", "ssl.log:4")
    det.tls(T0, "10.0.0.6", 50001, "192.0.2.141", 443, None, "ssl.log:5", cert_names=["pool.supportxmr.com"])
    recs = {r["client"]: r for r in det.records()}
    assert kinds(recs["10.0.0.5"]) == ["tls-sni"] and kinds(recs["10.0.0.6"]) == ["x509"]
    assert all(r["confidence"] == "strong" and r["dialect"] == "tls" and r["coin"] == "XMR" for r in recs.values())


@pytest.mark.parametrize("x509_first", [True, False])
def test_certificates_are_linked_whichever_log_comes_first(x509_first: bool) -> None:
    det = Detector("zeek")
    fp = "d10f2f1253fb2df85d0022d9eae7680513cbb1cf97d9414f4201fed104914583"
    steps = [lambda: det.x509(T0, fp, ["pool.supportxmr.com", "supportxmr.com"], "x509.log:2"),
             lambda: det.tls(T0, "10.0.0.5", 50000, "192.0.2.141", 443, None, "ssl.log:3", cert_ids=[fp, "ca"])]
    for step in steps if x509_first else steps[::-1]:
        step()
    rec = only(det)
    assert kinds(rec) == ["x509"] and rec["pool"] == "pool.supportxmr.com"


def test_intel_hits_count_only_for_mining_indicators() -> None:
    det = Detector("zeek")
    det.intel(T0, "intel.log:1", indicator="evil.example", indicator_type="Intel::DOMAIN",
              seen_where="SSL::IN_SERVER_NAME", sources=["abuse.ch"], orig_h="10.0.0.5", orig_p=1, resp_h="198.51.100.9",
              resp_p=443)
    assert det.records() == []
    det.intel(T0, "intel.log:2", indicator="authedmine.com", indicator_type="Intel::DOMAIN",
              seen_where="SSL::IN_SERVER_NAME", sources=["minesweep"], orig_h="10.0.0.5", orig_p=1,
              resp_h="198.51.100.9", resp_p=443)
    det.intel(T0, "intel.log:3", indicator="authedmine.com", indicator_type="Intel::DOMAIN",
              seen_where="DNS::IN_REQUEST", sources=["minesweep"], orig_h="10.0.0.6", orig_p=5353,
              resp_h="10.0.0.1", resp_p=53)
    recs = {r["client"]: r for r in det.records()}
    assert recs["10.0.0.5"]["confidence"] == "strong" and kinds(recs["10.0.0.5"]) == ["intel"]
    assert recs["10.0.0.6"]["confidence"] == "suspected" and recs["10.0.0.6"]["server_port"] is None


# --------------------------------------------------------------------------- flow shape, ports


@pytest.mark.parametrize("overrides, passes", [
    ({}, True),  # a stratum session of the samples: 900 s, 300/160 packets, 57/188 bytes per packet
    ({"duration": 2595.0, "opk": 114, "rpk": 60, "obytes": 3722, "rbytes": 3952}, False),  # Electrum, 4/min
    ({"duration": 300.0}, False),  # too short
    ({"opk": 29}, False),  # too few packets one way
    ({"opk": 600, "rpk": 150, "obytes": 30_000}, False),  # 4:1 asymmetric
    ({"obytes": 300 * 1200}, False),  # bulk transfer
    ({"duration": 100_000.0, "opk": 400, "rpk": 300}, False),  # under 6 packets per minute
    ({"service": "ssl"}, False), ({"service": "http"}, False), ({"service": "ssh"}, False),
])
def test_flow_shape_is_weak_evidence(overrides: dict[str, Any], passes: bool) -> None:
    det = Detector("zeek")
    det.conn(conn(**overrides))
    recs = det.records()
    if passes:
        (rec,) = recs
        assert rec["confidence"] == "suspected" and kinds(rec) == ["flow-shape"]
        assert rec["algorithm"] == "unknown" and rec["dialect"] == "unknown"
    else:
        assert recs == []
    off = Detector("zeek", flow_shape=False)
    off.conn(conn(**overrides))
    assert off.records() == []


@pytest.mark.parametrize("port", [25, 443, 3333, 4444, 5555, 7777, 14444, 45700])
def test_ports_are_never_evidence(port: int) -> None:
    det = Detector("suricata")
    det.conn(conn("45.143.203.12", "192.168.1.129", port, duration=0.5, opk=3, rpk=2, obytes=0, rbytes=0))
    det.conn(conn("192.168.1.129", "45.143.203.12", port, duration=30.0, opk=40, rpk=40))
    assert det.records() == []


# --------------------------------------------------------------------------- payloads and alerts


@pytest.mark.parametrize("payload, dialect, expect", [
    (EWBF, "stratum", {"agent": "EWBF 0.3.4b", "pool": "eu1-zcash.flypool.org", "coin": "ZEC", "algorithm": "equihash"}),
    (NBMINER, "ethstratum", {"agent": "NBMiner/39.5", "algorithm": "ethash"}),
    (CLAYMORE, "ethproxy", {"wallet": "0xa0f58072b5303ccb97da69928f897b85adc6cf8c", "worker": "rig2",
                            "wallet_coin": "ETH"}),
    (XMRIG_213, "monero", {"agent": "XMRig/2.13.1 (Windows NT 10.0; Win64; x64) libuv/1.24.0 msvc/2017",
                           "account": "accounting-pc7@example.org", "wallet": None}),
    (MIDSESSION, "stratum", {"worker": "s19pro-3", "login": "corpfarm.s19pro-3", "submits": 1}),
    (GBT_POST, "gbt", {"agent": "bfgminer/5.5.0", "pool": "mining.eligius.st", "pool_source": "http-host",
                       "wallet": "1LQYaAZif8aPEmHTafstJvX4ufhYdSQ6Kd"}),
])
def test_alert_payloads_decode_like_a_packet_scan(payload: bytes, dialect: str, expect: dict[str, Any]) -> None:
    det = Detector("suricata")
    alert(det, payload)
    rec = only(det)
    assert (rec["confidence"], rec["dialect"]) == ("confirmed", dialect)
    assert (rec["client"], rec["server"], rec["server_port"]) == ("10.0.0.5", "203.0.113.10", 3333)
    for key, value in expect.items():
        assert rec[key] == value, key
    assert kinds(rec)[:2] == ["decoded", "alert"] and rec["evidence"][-1].startswith("payload: ")
    assert rec["hashrate"]["value"] is None


def test_a_pool_message_orients_the_session_by_its_role() -> None:
    det = Detector("suricata")
    alert(det, NOTIFY, src="203.0.113.10", sport=3333, dst="10.0.0.5", dport=51662, direction="to_client",
          signature="ET COINMINER W32/BitCoinMiner.MultiThreat Stratum Protocol Mining.Notify Work Server Response")
    rec = only(det)
    assert (rec["client"], rec["client_port"], rec["server"], rec["server_port"]) == ("10.0.0.5", 51662, "203.0.113.10", 3333)
    assert rec["methods"] == {"mining.notify": 1, "mining.set_difficulty": 1}
    assert rec["difficulty"]["current"] == {"kind": "diff", "value": 16384.0}


def test_hashrate_is_never_estimated_from_payloads_only_reported() -> None:
    det = Detector("suricata")
    alert(det, CLAYMORE + HASHRATE)
    rec = only(det)
    assert rec["hashrate"]["value"] is None and rec["hashrate"]["low"] is None and rec["hashrate"]["high"] is None
    assert rec["hashrate"]["basis"].endswith("the miner's own claim is in reported_hashrate")
    assert rec["reported_hashrate"]["mean"] == 0x1DCD6500


def test_payloads_of_one_flow_add_up() -> None:
    det = Detector("suricata")
    alert(det, b'{"id": 0, "method": "mining.subscribe", "params": ["cgminer/4.9.0"]}\n', flow=7)
    alert(det, b'{"id": 1, "method": "mining.authorize", "params": ["ltcfarm.l3plus-17", "x"]}\n', flow=7)
    rec = only(det)
    assert (rec["agent"], rec["worker"]) == ("cgminer/4.9.0", "l3plus-17")
    assert rec["methods"] == {"mining.authorize": 1, "mining.subscribe": 1}


def test_a_mining_alert_without_payload_is_strong() -> None:
    det = Detector("suricata")
    alert(det, None, signature="ET POLICY Cryptocurrency Miner Checkin", category="Potential Corporate Privacy Violation")
    rec = only(det)
    assert rec["confidence"] == "strong" and kinds(rec) == ["alert"] and rec["dialect"] == "unknown"


def test_a_mining_alert_on_dns_names_the_pool_never_the_resolver() -> None:
    det = Detector("suricata")
    alert(det, None, dst="10.0.0.1", dport=53, app_proto="dns", names=("eth.2miners.com",),
          signature="MINESWEEP DNS query for mining pool 2Miners (2miners.com)")
    rec = only(det)
    assert (rec["server"], rec["server_port"], rec["pool"]) == ("eth.2miners.com", None, "eth.2miners.com")
    assert rec["confidence"] == "suspected"


@pytest.mark.parametrize("payload", [
    b"", b"\x00" * 5000, b"{" * 100_000, b'{"method": "login", "params": "x"}\n', b"GET / HTTP/1.1\r\n\r\n",
    b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":83}', bytes(random.Random(7).randbytes(4096)),
])
def test_non_mining_alerts_and_hostile_payloads_give_nothing(payload: bytes) -> None:
    det = Detector("suricata")
    alert(det, payload, signature="ET SCAN Suspicious inbound to MSSQL port 1433", category="Potential Corporate Privacy Violation")
    assert det.records() == []


# --------------------------------------------------------------------------- notices


def test_zeek_cryptomining_notice_with_a_decodable_sub_is_confirmed() -> None:
    det = Detector("zeek")
    det.notice(T0, "notice.log:9", note="Bitcoin::Miner", msg="Cryptominer at 10.0.0.5, using Stratum protocol",
               sub=EWBF.decode(), orig_h="10.0.0.5", orig_p=49822, resp_h="198.51.100.23", resp_p=3333, uid="C1")
    rec = only(det)
    assert rec["confidence"] == "confirmed" and kinds(rec)[:2] == ["decoded", "notice"]
    assert rec["agent"] == "EWBF 0.3.4b"


def test_a_notice_naming_the_responder_as_miner_swaps_the_roles() -> None:
    det = Detector("zeek")
    det.notice(T0, "notice.log:2", note="Bitcoin::Miner", msg="Cryptominer at 10.0.0.5, using Stratum protocol",
               sub=None, orig_h="198.51.100.23", orig_p=3333, resp_h="10.0.0.5", resp_p=49822, uid="C2")
    rec = only(det)
    assert (rec["client"], rec["server"], rec["server_port"], rec["confidence"]) == ("10.0.0.5", "198.51.100.23", 3333, "strong")
    assert rec["dialect"] == "stratum"  # zeek-cryptomining's protocol name, as a hint


@pytest.mark.parametrize("note, msg, confidence", [
    ("Bitcoin::Possible_Mining", "Possible Bitcoin mining over Stratum", "suspected"),
    ("Bitcoin::Mining_Pool_Server", "Cryptomining pool server at 198.51.100.23:3333/tcp, using Stratum protocol", "strong"),
    ("Signatures::Sensitive_Signature", "10.0.0.5: MINESWEEP Stratum mining.submit (miner submits a share) [sid 1496003]", "strong"),
    ("Signatures::Sensitive_Signature", "10.0.0.5: some other signature", None),
    ("Scan::Port_Scan", "10.0.0.5 scanned 20 ports", None),
])
def test_notice_types(note: str, msg: str, confidence: str | None) -> None:
    det = Detector("zeek")
    det.notice(T0, "notice.log:1", note=note, msg=msg, sub=None, orig_h="10.0.0.5", orig_p=49822,
               resp_h="198.51.100.23", resp_p=3333, uid="C3")
    recs = det.records()
    assert [r["confidence"] for r in recs] == ([confidence] if confidence else [])
    if confidence:
        assert recs[0]["client"] == "10.0.0.5"


# --------------------------------------------------------------------------- output, limits, state


def test_min_confidence_filters_records_and_hosts_carry_the_best_confidence() -> None:
    det = Detector("zeek")
    det.conn(conn())  # shape: suspected
    det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.99"], "dns.log:1")
    det.conn(conn(server="203.0.113.99", service="ssh"))  # strong
    assert len(det.records("suspected")) == 2 and len(det.records("strong")) == 1 and det.records("confirmed") == []
    doc = findings_document(det, [], ScanOptions())
    (host,) = doc["hosts"]
    assert host["confidence"] == "strong" and doc["sensor"]["evidence"]["flow-shape"] == 1


def _tight_rules(tmp_path: Path, **limits: int) -> Path:
    d = tmp_path / "rules"
    shutil.copytree(REPO / "rules", d)
    text = (d / "sidecar.toml").read_text("utf-8")
    for key, value in limits.items():
        text = text.replace(f"{key} = ", f"{key} = {value}  # ", 1)
    (d / "sidecar.toml").write_text(text, "utf-8")
    clear_rules_cache()
    return d


def test_memory_is_bounded_by_the_limits(tmp_path: Path) -> None:
    d = _tight_rules(tmp_path, max_findings=50, max_pool_addresses=20, max_recent_connections=30,
                     max_evidence=3)
    try:
        assert load_sidecar_rules(d).limits.max_findings == 50
        det = Detector("zeek", rules_dir=d)
        for i in range(500):
            det.dns(T0 + i, f"10.1.{i // 250}.{i % 250}", [f"h{i}.f2pool.com"], [f"198.51.{i // 250}.{i % 250}"], "dns.log")
            det.conn(conn(f"10.2.{i // 250}.{i % 250}", f"192.0.2.{i % 250}", 1000 + i, service="ssh"))
        for i in range(10):
            det.dns(T0, "10.9.9.9", ["btc.f2pool.com"], [], f"dns.log:{i}")
        assert len(det.findings) <= 50 and len(det.pool_addrs) <= 20 and len(det.recent) <= 30
        assert all(len(f.evidence) <= 3 for f in det.findings.values())
    finally:
        clear_rules_cache()


def test_state_round_trip_resumes_exactly() -> None:
    def first(det: Detector) -> None:
        det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.10"], "dns.log:3")
        det.conn(conn("10.0.0.8", "203.0.113.77", service="ssh"))
        alert(det, b'{"id": 0, "method": "mining.subscribe", "params": ["cgminer/4.9.0"]}\n', flow=9)

    def second(det: Detector) -> None:
        det.conn(conn(service="ssh", ts=T0 + 10))
        det.dns(T0 + 20, "10.0.0.8", ["eth.2miners.com"], ["203.0.113.77"], "dns.log:9")
        det.conn(conn(duration=1200.0, ts=T0 + 30))

    one = Detector("suricata")
    first(one)
    second(one)
    a = Detector("suricata")
    first(a)
    doc = json.loads(json.dumps(a.state()))
    b = Detector("suricata")
    b.restore(doc)
    second(b)
    assert one.records() == b.records()
    assert one.state()["findings"] == b.state()["findings"]


def test_a_state_of_another_sensor_is_refused() -> None:
    from detector.errors import InputError

    with pytest.raises(InputError, match="does not fit"):
        Detector("zeek").restore(Detector("suricata").state())


def test_lookups_repeated_after_a_connection_join_that_finding() -> None:
    det = Detector("suricata")
    det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.10"], "eve.json:1")
    det.conn(conn(service="ssh"))
    det.dns(T0 + 3600, "10.0.0.5", ["btc.f2pool.com"], [], "eve.json:2")  # the miner resolves again
    alert(det, None, dst="10.0.0.1", dport=53, app_proto="dns", names=("btc.f2pool.com",),
          signature="MINESWEEP DNS query for mining pool F2Pool (f2pool.com)")
    rec = only(det)
    assert rec["server_port"] == 3333 and kinds(rec).count("dns-query") == 3


def test_a_host_with_connections_keeps_other_lookups_as_evidence() -> None:
    det = Detector("zeek")
    det.dns(T0, "10.0.0.5", ["btc.f2pool.com"], ["203.0.113.10"], "dns.log:1")
    det.conn(conn(service="ssh"))
    det.dns(T0 + 60, "10.0.0.5", ["eu1.ethermine.org"], ["203.0.113.44"], "dns.log:2")  # never connected
    assert len(det.records()) == 2
    doc = findings_document(det, [], ScanOptions())
    (s,) = doc["sessions"]
    assert s["server_port"] == 3333 and any("eu1.ethermine.org" in e for e in s["evidence"])
    assert s["notes"][-1] == "the host also looked up eu1.ethermine.org (no connection to it logged)"


@pytest.mark.parametrize("file, old, new, message", [
    ("allowlist.toml", 'name = "binance.com"', 'name = "Binance.com"', "'name' must be a lower-case DNS name"),
    ("allowlist.toml", 'kind = "wallet"', 'kind = "bank"', "'kind' must be one of"),
    ("allowlist.toml", '"binance.com"\nmatch = "suffix"', '"binance.com"\nmatch = "prefix"', "'match' must be"),
    ("allowlist.toml", 'reason = "Coinlocally exchange"', 'reason = ""', "'reason' must be"),
    ("sidecar.toml", "signatures = ['\\bCOINMINER\\b'", "signatures = ['(COINMINER'", "bad regular expression"),
    ("sidecar.toml", "min_duration_s = 600.0", 'min_duration_s = "long"', "'min_duration_s' must be"),
    ("sidecar.toml", "[limits]", "[limitz]", "[limits] must be a table"),
])
def test_bad_sidecar_rules_files_are_registry_errors(tmp_path: Path, file: str, old: str, new: str, message: str) -> None:
    from detector.errors import RegistryError
    from detector.sidecar.intel import load_allowlist

    d = tmp_path / "rules"
    shutil.copytree(REPO / "rules", d)
    text = (d / file).read_text("utf-8")
    assert old in text
    (d / file).write_text(text.replace(old, new, 1), "utf-8")
    loader = load_allowlist if file == "allowlist.toml" else load_sidecar_rules
    with pytest.raises(RegistryError, match=re.escape(message)) as exc:
        loader(d)
    assert str(d / file) in str(exc.value)


@pytest.mark.parametrize("opk, rpk, ob, rb, exchanged", [
    (1, 1, 74, 60, False),  # SYN refused with RST (EVE counts link-layer bytes)
    (3, 1, 200, 74, False),  # connect scan: SYN, ACK, RST
    (2, 0, 148, 0, False),  # SYN retried, no answer
    (238, 129, 21_741, 33_802, True),  # the L3+ stratum session of the samples
])
def test_eve_flows_carry_data_only_with_packets_both_ways(opk: int, rpk: int, ob: int, rb: int, exchanged: bool) -> None:
    c = Conn(T0, "10.0.0.5", 5000, "203.0.113.10", 3333, "tcp", None, 10.0, None, None, opk, rpk, ob, rb, "eve.json:1")
    assert c.exchanged_data is exchanged
    det = Detector("suricata")
    det.dns(T0, "10.0.0.9", ["btc.f2pool.com"], ["203.0.113.10"], "eve.json:0")
    det.conn(c)
    assert any(r["client"] == "10.0.0.5" for r in det.records()) is exchanged
