"""The bundled sample captures: reproducible, readable by scapy and tshark, and true to truth.json.

Everything here is checked independently of minesweep: the captures are read with scapy and
tshark, TCP streams are reassembled by ``tshark -z follow,tcp,raw`` (which handles the
retransmitted, out-of-order, overlapping and fragmented segments the generator plants), and the
mining messages are decoded with ``json`` right here. The campus sample is checked against its
registry (a longest-prefix match written here with ``ipaddress``) and every signal truth.json
claims for a mining host is re-derived from the packets. The encrypted sample is checked for its
SNIs, certificates, TLS record framing, DNS answers and Stratum V2 handshake sizes.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import importlib.util
import ipaddress
import json
import math
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PCAPS = ROOT / "pcaps"
TRUTH: dict[str, Any] = json.loads((PCAPS / "truth.json").read_text())
FILES = sorted(TRUTH["files"])
CAMPUS: dict[str, Any] = TRUTH["campus"]
ENCRYPTED: dict[str, Any] = TRUTH["encrypted_evasive"]
EXTRA_FILES = [CAMPUS["registry"]]
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")

SESSIONS = [(name, i) for name in FILES for i in range(len(TRUTH["files"][name]["sessions"]))]
SESSION_IDS = [f"{name}#{i}:{TRUTH['files'][name]['sessions'][i]['server_port']}" for name, i in SESSIONS]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", PCAPS / "make_samples.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = mod
    spec.loader.exec_module(mod)
    return mod


def tshark(path: Path, *args: str) -> str:
    proc = subprocess.run([TSHARK or "tshark", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    assert errors == [], errors
    return proc.stdout


def endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def follow(path: Path, flows: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[bytes, bytes]]:
    """Reassembled (client->server, server->client) bytes per (client, client_port), via tshark."""
    args = ["-q"]
    for f in flows:
        args += ["-z", f"follow,tcp,raw,{endpoint(f['client'], f['client_port'])},{endpoint(f['server'], f['server_port'])}"]
    out = tshark(path, *args)
    result: dict[tuple[str, int], tuple[bytes, bytes]] = {}
    for section in out.split("=" * 67):
        nodes = re.findall(r"^Node ([01]): (.+):(\d+)$", section, re.M)
        if len(nodes) != 2:
            continue
        addr = {n: (ip.strip("[]"), int(port)) for n, ip, port in nodes}
        chunks: dict[str, list[bytes]] = {"0": [], "1": []}
        for ln in section.splitlines():
            if re.fullmatch(r"\t?[0-9a-f]+", ln):
                chunks["1" if ln.startswith("\t") else "0"].append(bytes.fromhex(ln.strip()))
        data = {n: b"".join(c) for n, c in chunks.items()}
        client_node = next(n for n in "01" if any(addr[n] == (f["client"], f["client_port"]) for f in flows))
        server_node = "1" if client_node == "0" else "0"
        result[addr[client_node]] = (data[client_node], data[server_node])
    return result


@functools.cache
def file_streams(name: str) -> dict[tuple[str, int], tuple[bytes, bytes]]:
    """All mining sessions of one file, reassembled in a single tshark pass."""
    return follow(PCAPS / name, TRUTH["files"][name]["sessions"])


def json_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in data.replace(b"\r\n", b"\n").split(b"\n") if ln.strip()]


def http_messages(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """Split an HTTP/1.1 byte stream into (start line, headers, body) by Content-Length."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n\r\n", pos)
        head = data[pos:end].decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((head[0], headers, data[end + 4 : end + 4 + n]))
        pos = end + 4 + n
    return out


def decode_session(dialect: str, c2s: bytes, s2c: bytes) -> dict[str, Any]:
    """Count submits and their accept/reject answers the way a reader of the protocol would."""
    if dialect == "gbt":
        reqs = [json.loads(b) for _, _, b in http_messages(c2s)]
        resps = http_messages(s2c)
        bodies = [json.loads(b) for _, _, b in resps]
        submits = accepted = 0
        x_stratum = {h.get("x-stratum") for _, h, _ in resps} - {None}
        for req, resp in zip(reqs, bodies, strict=True):  # HTTP/1.1 answers in request order
            if req["method"] == "submitblock" or (req["method"] == "getwork" and req["params"]):
                submits += 1
                accepted += resp["result"] is None if req["method"] == "submitblock" else resp["result"] is True
        agent = http_messages(c2s)[0][1].get("user-agent")
        login = base64.b64decode(http_messages(c2s)[0][1]["authorization"].split()[1]).decode().split(":")[0]
        return {"submits": submits, "accepted": accepted, "agent": agent, "login": login, "x_stratum": x_stratum}
    c_msgs, s_msgs = json_lines(c2s), json_lines(s2c)
    submit_method = {"stratum": "mining.submit", "ethstratum": "mining.submit", "ethproxy": "eth_submitWork",
                     "monero": "submit"}[dialect]
    submits = [m for m in c_msgs if m.get("method") == submit_method]
    responses = [m for m in s_msgs if "method" not in m]
    if dialect == "ethproxy":  # Claymore reuses id 4 for every submitWork: answers come in order
        answers = [m for m in responses if m.get("id") == 4]
        ok = [a["result"] is True for a in answers]
    else:
        by_id = {m["id"]: m for m in responses}
        answers = [by_id[m["id"]] for m in submits]
        if dialect == "monero":
            ok = [a.get("error") is None and a["result"]["status"] == "OK" for a in answers]
        else:
            ok = [a.get("result") is True for a in answers]
    assert len(answers) == len(submits)
    diffs = [m["params"][0] for m in s_msgs if m.get("method") in ("mining.set_difficulty", "mining.set_target")]
    login = next((m for m in c_msgs if m.get("method") in ("mining.authorize", "login", "eth_submitLogin")), None)
    return {"submits": len(submits), "accepted": sum(ok), "difficulties": diffs, "login_msg": login,
            "client_methods": Counter(m.get("method") for m in c_msgs)}


# ---------------------------------------------------------------------------------------------
# reproducibility and size


def test_regenerating_gives_byte_identical_files(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(PCAPS / "make_samples.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    produced = sorted(p.name for p in tmp_path.iterdir())
    assert produced == sorted([*FILES, *EXTRA_FILES, "truth.json"])
    for name in produced:
        assert (tmp_path / name).read_bytes() == (PCAPS / name).read_bytes(), f"{name} differs from the committed file"


def test_sample_set_is_small_and_documented() -> None:
    total = sum(p.stat().st_size for p in PCAPS.iterdir() if p.is_file())
    assert total < 4 * 1024 * 1024  # the whole pcaps/ directory
    assert 6 <= len(FILES) <= 8
    readme = (PCAPS / "README.md").read_text()
    assert "make_samples.py" in readme
    for name in [*FILES, *EXTRA_FILES]:
        assert f"`{name}`" in readme, f"README does not describe {name}"


@pytest.mark.parametrize("name", FILES)
def test_truth_records_the_file_as_committed(name: str) -> None:
    data = (PCAPS / name).read_bytes()
    meta = TRUTH["files"][name]
    assert meta["bytes"] == len(data)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# readable by scapy and tshark


@pytest.mark.parametrize("name", FILES)
def test_scapy_reads_every_packet_down_to_ip(name: str) -> None:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapNgReader, PcapReader

    meta = TRUTH["files"][name]
    reader_cls = PcapNgReader if meta["format"] == "pcapng" else PcapReader
    with reader_cls(str(PCAPS / name)) as reader:
        pkts = list(reader)
    assert len(pkts) == meta["packets"]
    undecoded = [i for i, p in enumerate(pkts) if not (p.haslayer(IP) or p.haslayer(IPv6))]
    assert undecoded == []


@needs_tshark
@pytest.mark.parametrize("name", FILES)
def test_tshark_reads_the_file_without_malformed_frames(name: str) -> None:
    meta = TRUTH["files"][name]
    out = tshark(PCAPS / name, "-T", "fields", "-e", "frame.number", "-e", "frame.interface_id",
                 "-e", "frame.encap_type", "-e", "_ws.malformed")
    rows = [ln.split("\t") for ln in out.splitlines()]
    assert len(rows) == meta["packets"]
    assert [r for r in rows if r[3]] == []
    if meta["format"] == "pcapng":
        assert {int(r[1]) for r in rows} == set(range(len(meta["interfaces"])))
    assert len({r[2] for r in rows}) == len({i["linktype"] for i in meta["interfaces"]})


# ---------------------------------------------------------------------------------------------
# truth.json against the packets


@functools.cache
def tcp_tuples(name: str) -> dict[tuple[str, int, str, int], list[float]]:
    out = tshark(PCAPS / name, "-Y", "tcp", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                 "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "frame.time_epoch")
    seen: dict[tuple[str, int, str, int], list[float]] = {}
    for ln in out.splitlines():
        s4, s6, sp, d4, d6, dp, ts = ln.split("\t")
        key = (s4 or s6, int(sp), d4 or d6, int(dp))
        seen.setdefault(key, []).append(float(ts))
    return seen


@needs_tshark
@pytest.mark.parametrize("name", FILES)
def test_truth_5_tuples_exist_in_the_capture(name: str) -> None:
    meta = TRUTH["files"][name]
    seen = tcp_tuples(name)
    flows = meta["sessions"] + [n for n in meta["negatives"] if n["proto"] == "tcp"]
    for f in flows:
        fwd = (f["client"], f["client_port"], f["server"], f["server_port"])
        rev = (f["server"], f["server_port"], f["client"], f["client_port"])
        assert fwd in seen and rev in seen, f"{fwd} not in {name}"
        times = seen[fwd] + seen[rev]
        assert min(times) == pytest.approx(f["first_ts"], abs=2e-6)
        assert max(times) == pytest.approx(f["last_ts"], abs=2e-6)
    for s in meta["sessions"]:
        if "ipv4_fragmented" not in s:  # a fragmented segment's leading fragments carry no ports
            n = len(seen[(s["client"], s["client_port"], s["server"], s["server_port"])])
            n += len(seen[(s["server"], s["server_port"], s["client"], s["client_port"])])
            assert n == s["packets"]
    udp = tshark(PCAPS / name, "-Y", "dns", "-T", "fields", "-e", "dns.qry.name", "-e", "dns.flags.response")
    dns = {tuple(ln.split("\t")) for ln in udp.splitlines()}
    for n in meta["negatives"]:
        if n["kind"] == "dns":
            assert {(n["query"], "False"), (n["query"], "True")} <= dns or {(n["query"], "0"), (n["query"], "1")} <= dns


@needs_tshark
@pytest.mark.parametrize(("name", "idx"), SESSIONS, ids=SESSION_IDS)
def test_share_counts_match_the_submits_on_the_wire(name: str, idx: int) -> None:
    sess = TRUTH["files"][name]["sessions"][idx]
    c2s, s2c = file_streams(name)[(sess["client"], sess["client_port"])]
    got = decode_session(sess["dialect"], c2s, s2c)
    assert got["submits"] == sess["shares_submitted"]
    assert got["accepted"] == sess["accepted"]
    assert got["submits"] - got["accepted"] == sess["rejected"]
    if sess["dialect"] == "gbt":
        assert got["agent"] == sess["agent"]
        assert got["login"] == sess["login"]
        if "x_stratum" in sess:
            assert got["x_stratum"] == {sess["x_stratum"]}
        return
    observed = [d for d in sess["difficulty_history"] if d["observed"] and d["message"] in
                ("mining.set_difficulty", "mining.set_target")]
    assert got["difficulties"] == [d["difficulty"] if d["difficulty"] is not None else d["target"] for d in observed]
    if sess["starts_mid_session"]:
        assert set(got["client_methods"]) == {"mining.submit"}
        assert got["login_msg"] is None
    else:
        assert got["login_msg"] is not None
        params = got["login_msg"]["params"]
        assert sess["login"] in (params["login"] if isinstance(params, dict) else params[0])


@needs_tshark
@pytest.mark.parametrize("name", FILES)
def test_retransmitted_submits_are_flagged_by_tshark(name: str) -> None:
    meta = TRUTH["files"][name]
    out = tshark(PCAPS / name, "-Y", "tcp.analysis.retransmission", "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport")
    retx = Counter(tuple(map(int, ln.split("\t"))) for ln in out.splitlines())
    for s in meta["sessions"]:
        assert retx[(s["client_port"], s["server_port"])] == s["retransmitted_submits"]


# ---------------------------------------------------------------------------------------------
# the truth itself is coherent and covers what the samples promise


def all_sessions() -> list[dict[str, Any]]:
    return [s for name in FILES for s in TRUTH["files"][name]["sessions"]]


@pytest.mark.parametrize(("name", "idx"), SESSIONS, ids=SESSION_IDS)
def test_session_truth_is_coherent(name: str, idx: int) -> None:
    s = TRUTH["files"][name]["sessions"][idx]
    assert s["dialect"] in TRUTH["dialects"]
    assert s["accepted"] + s["rejected"] == s["shares_submitted"]
    assert 60 <= s["shares_submitted"] <= 200
    assert s["rejected"] >= 1
    assert s["first_ts"] <= s["first_share_ts"] <= s["last_share_ts"] <= s["last_ts"]
    assert 600 <= s["last_ts"] - s["first_ts"] <= (2760 if name == CAMPUS["file"] else 1260)
    assert s["unit"] == ("Sol/s" if s["algorithm"].startswith("equihash") else "H/s")
    # the shares were drawn from a Poisson process of rate H / work: the sample estimate lies
    # within 4 standard errors (1/sqrt(n)) of the true hashrate
    n = s["shares_submitted"]
    estimate = s["submitted_work"] / (s["last_share_ts"] - s["first_share_ts"])
    assert abs(estimate / s["true_hashrate"] - 1) < 4 / math.sqrt(n)
    if "claimed_hashrate_mean" in s:
        assert s["claimed_hashrate_mean"] == pytest.approx(s["true_hashrate"], rel=0.02)


def test_work_per_share_conventions() -> None:
    gen = load_generator()
    assert gen.monero_diff("b88d0600") == 10000
    assert gen.monero_target(10000) == "b88d0600"
    for s in all_sessions():
        for d in s["difficulty_history"]:
            if s["dialect"] == "monero":
                assert d["work_per_share"] == gen.monero_diff(d["target"]) == d["difficulty"]
            elif s["algorithm"] == "sha256d" and s["dialect"] == "stratum":
                assert d["work_per_share"] == d["difficulty"] * 2 ** 32
            elif s["algorithm"] == "scrypt":
                assert d["work_per_share"] == d["difficulty"] * 2 ** 16
            elif s["dialect"] == "ethstratum":
                assert d["work_per_share"] == d["difficulty"] * 2 ** 32
            elif s["dialect"] == "ethproxy" or s["algorithm"].startswith("equihash"):
                assert d["work_per_share"] == pytest.approx(2 ** 256 / int(d["target"], 16), rel=1e-12)


def test_samples_cover_the_promised_variety() -> None:
    sessions = all_sessions()
    assert {s["dialect"] for s in sessions} == set(TRUTH["dialects"])
    assert {25, 80, 443, 5222, 45700, 3333, 4444, 14444} <= {s["server_port"] for s in sessions}
    assert {s["algorithm"] for s in sessions} >= {"sha256d", "scrypt", "equihash_200_9", "ethash", "rx/0"}
    assert any(len([d for d in s["difficulty_history"] if d["observed"]]) >= 2 for s in sessions)
    assert any(s["starts_mid_session"] for s in sessions)
    assert any(s["retransmitted_submits"] for s in sessions)
    assert any(s["ip_version"] == 6 for s in sessions)
    assert any("\\/" in s.get("agent_on_wire", "") for s in sessions)
    assert any(s["agent"] == "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0" for s in sessions)
    metas = TRUTH["files"].values()
    linktypes = {i["linktype"] for m in metas for i in m["interfaces"]}
    assert linktypes == {0, 1, 101, 113, 276}
    assert any(m["format"] == "pcapng" and len({i["linktype"] for i in m["interfaces"]}) == 2 for m in metas)
    assert {(m["format"], m["endianness"], m["ts_resolution"], m["gzip"]) for m in metas} >= {
        ("pcap", "little", "us", False), ("pcap", "big", "us", False), ("pcap", "little", "ns", False),
        ("pcap", "little", "us", True), ("pcapng", "little", "ns", False)}
    kinds = {n["kind"] for m in metas for n in m["negatives"]}
    assert {"dns", "http", "tls", "jsonrpc-echo", "jsonrpc-http", "web3-jsonrpc-http", "wallet-rpc", "websocket-chat"} <= kinds
    features = {f for m in metas for f in m["features"]}
    assert {"802.1Q", "QinQ", "ipv4-fragments", "ipv6-hop-by-hop", "out-of-order", "overlapping-retransmission",
            "messages-per-segment", "message-split", "crlf", "starts-mid-session", "x-stratum"} <= features


@needs_tshark
def test_planted_transport_features_are_visible_to_tshark() -> None:
    vlan = TRUTH["files"]["stratum-btc-ltc-vlan.pcap"]
    path = PCAPS / "stratum-btc-ltc-vlan.pcap"
    tags = Counter(tshark(path, "-T", "fields", "-e", "ieee8021ad.id", "-e", "vlan.id").splitlines())
    assert set(tags) == {"\t120", "300\t31"}  # 802.1Q VLAN 120 and QinQ S-VLAN 300 / C-VLAN 31
    assert tshark(path, "-Y", "tcp.analysis.out_of_order", "-T", "fields", "-e", "frame.number").split()
    assert vlan["sessions"][1]["line_ending"].startswith("\r\n")
    mon = PCAPS / "monero-xmrig-ipv6.pcapng"
    assert tshark(mon, "-Y", "ip.flags.mf == 1", "-T", "fields", "-e", "frame.number").split()
    hbh = tshark(mon, "-Y", "ipv6.hopopts", "-T", "fields", "-e", "tcp.srcport").split()
    assert set(hbh) == {"45872"}
    gbt = PCAPS / "bitcoin-gbt-getwork-null-ns.pcap"
    headers = tshark(gbt, "-Y", "http.request", "-T", "fields", "-e", "http.request.line")
    assert "X-Mining-Extensions: longpoll midstate rollntime submitold" in headers


# ---------------------------------------------------------------------------------------------
# the campus sample: registry, attribution and the signals behind each verdict

CATEGORIES = ["government", "education", "research", "soe", "healthcare", "enterprise", "residential", "hosting",
              "unknown"]
PUBLIC = {"government", "education", "research", "soe", "healthcare"}
INTRUSION_SIGNALS = {"scanned_into", "outbound_scan", "fetched_script", "fetched_elf", "shared_wallet_cross_unit"}
RIG_SOFTWARE = re.compile(r"^(PhoenixMiner|T-Rex|lolMiner|NBMiner|bmminer|cgminer|bfgminer|TeamRedMiner|GMiner|EWBF)\b",
                          re.I)
GPU_ASIC_ALGORITHMS = {"ethash", "etchash", "sha256d", "scrypt", "equihash_200_9", "kawpow"}
RIG_LEVEL = {"ethash": 100e6, "sha256d": 10e12}  # H/s a multi-GPU rig / one ASIC reaches; a single card does not
CAMPUS_PATH = PCAPS / CAMPUS["file"]
CAMPUS_SESSIONS: list[dict[str, Any]] = TRUTH["files"][CAMPUS["file"]]["sessions"]
HOST_IDS = [h["ip"] for h in CAMPUS["hosts"]]


def registry_rows() -> list[dict[str, str]]:
    with open(PCAPS / CAMPUS["registry"], newline="") as fh:
        return list(csv.DictReader(fh))


def longest_prefix(rows: list[dict[str, str]], ip: str) -> dict[str, str] | None:
    addr = ipaddress.ip_address(ip)
    hits = [r for r in rows if addr in ipaddress.ip_network(r["cidr"])]
    return max(hits, key=lambda r: ipaddress.ip_network(r["cidr"]).prefixlen) if hits else None


def test_registry_csv_parses_with_every_kind_of_unit() -> None:
    text = (PCAPS / CAMPUS["registry"]).read_text()
    assert text.splitlines()[0] == "cidr,unit,category,region,contact"
    assert hashlib.sha256(text.encode()).hexdigest() == CAMPUS["registry_sha256"]
    rows = registry_rows()
    assert len(rows) == CAMPUS["registry_rows"]
    nets = [ipaddress.ip_network(r["cidr"]) for r in rows]  # strict: no host bits set
    assert len(set(nets)) == len(nets)
    assert all(r["unit"].strip() and r["category"] in CATEGORIES for r in rows)
    units = defaultdict(set)
    for r in rows:
        units[r["category"]].add(r["unit"])
    assert {c: len(u) >= 2 for c, u in units.items()} == {c: True for c in CATEGORIES}
    assert {n.version for n in nets} == {4, 6}
    assert {r["category"] for r, n in zip(rows, nets) if n.version == 6} >= {"government", "education", "residential"}
    nested = [(a, b) for (ra, a) in zip(rows, nets) for (rb, b) in zip(rows, nets)
              if a != b and a.version == b.version and a.subnet_of(b) and ra["unit"] != rb["unit"]]
    assert any(a.prefixlen == 26 and b.prefixlen == 16 for a, b in nested)  # the lab /26 inside the university /16
    assert all(n.is_private for n in nets)  # RFC 1918, RFC 5737 and RFC 3849 space only


@pytest.mark.parametrize("ip", HOST_IDS)
def test_mining_host_falls_in_its_expected_block(ip: str) -> None:
    host = next(h for h in CAMPUS["hosts"] if h["ip"] == ip)
    row = longest_prefix(registry_rows(), ip)
    assert row is not None
    assert (row["cidr"], row["unit"], row["category"]) == (host["registry_cidr"], host["unit"], host["category"])
    assert host["public_institution"] == (host["category"] in PUBLIC)
    assert sorted(CAMPUS["public_categories"]) == sorted(PUBLIC)
    assert [CAMPUS_SESSIONS[i]["client"] for i in host["sessions"]] == [ip] * len(host["sessions"])
    assert ipaddress.ip_address(ip).is_private


def test_campus_covers_every_verdict_and_the_promised_hosts() -> None:
    hosts = CAMPUS["hosts"]
    assert {h["ip"] for h in hosts} == {s["client"] for s in CAMPUS_SESSIONS}
    assert {h["verdict"] for h in hosts} == set(CAMPUS["verdicts"]) == {"institution_misuse", "compromised", "private"}
    assert {h["category"] for h in hosts} >= {"government", "education", "soe", "healthcare", "residential"}
    assert any(":" in h["ip"] for h in hosts)
    farm = CAMPUS["accounts"][0]
    assert farm["workers"] == ["rig01", "rig02", "rig03"] and len(farm["hosts"]) == 3
    rigs = [s for s in CAMPUS_SESSIONS if s["client"] in farm["hosts"]]
    assert {s["login"].split(".")[0] for s in rigs} == {farm["login_prefix"]}
    assert all(100e6 <= s["true_hashrate"] <= 500e6 and s["algorithm"] == "ethash" for s in rigs)
    assert len({s["agent"] for s in rigs}) == 3
    asic = next(s for s in CAMPUS_SESSIONS if s["algorithm"] == "sha256d")
    assert 14e12 <= asic["true_hashrate"] <= 100e12 and asic["worker"]
    (shared,) = CAMPUS["shared_wallets"]
    bots = [s for s in CAMPUS_SESSIONS if s["wallet"] == shared["wallet"]]
    assert sorted(s["client"] for s in bots) == sorted(shared["hosts"])
    assert all(s["agent"].startswith("XMRig/6.") and s["algorithm"] == "rx/0" for s in bots)
    assert len(set(shared["units"])) == 2
    gen = load_generator()
    assert gen.monero_address("minesweep sample campus botnet wallet") == shared["wallet"]
    benign = {h["ip"] for h in CAMPUS["benign_hosts"]}
    assert benign.isdisjoint({s["client"] for s in CAMPUS_SESSIONS})
    assert all(longest_prefix(registry_rows(), ip) is not None for ip in benign)


@functools.cache
def campus_wire() -> dict[str, Any]:
    """Facts read off the campus capture: SYN fan-out, payload pairs, DNS answers, HTTP downloads."""
    out = tshark(CAMPUS_PATH, "-Y", "tcp.flags.syn == 1", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst",
                 "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.ack")
    fanout: dict[str, set[str]] = defaultdict(set)
    accepted: dict[str, set[tuple[str, int]]] = defaultdict(set)  # server -> (peer, peer port) it SYN-ACKed
    for ln in out.splitlines():
        s4, s6, d4, d6, sp, dp, ack = ln.split("\t")
        src, dst = s4 or s6, d4 or d6
        if ack in ("0", "False"):
            fanout[src].add(dst)
        else:
            accepted[src].add((dst, int(dp)))
    out = tshark(CAMPUS_PATH, "-Y", "tcp.len > 0", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst",
                 "-e", "ipv6.dst")
    talked = {(a or b, c or d) for a, b, c, d in (ln.split("\t") for ln in out.splitlines())}
    out = tshark(CAMPUS_PATH, "-Y", "dns.flags.response == 1", "-T", "fields", "-e", "ip.dst", "-e", "ipv6.dst",
                 "-e", "dns.qry.name", "-e", "dns.a", "-e", "dns.aaaa")
    answers = {(a or b, name, addr) for a, b, name, v4, v6 in (ln.split("\t") for ln in out.splitlines())
               for addr in (v4 + "," + v6).split(",") if addr}
    out = tshark(CAMPUS_PATH, "-Y", "http.request", "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst",
                 "-e", "tcp.dstport")
    http_flows = [{"client": c, "client_port": int(cp), "server": srv, "server_port": int(sp)}
                  for c, cp, srv, sp in (ln.split("\t") for ln in out.splitlines()) if c in HOST_IDS]
    bodies: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for (client, _), (_, s2c) in follow(CAMPUS_PATH, http_flows).items():
        for _, headers, body in http_messages(s2c):
            bodies[client].append((headers.get("content-type", ""), body))
    return {"fanout": fanout, "accepted": accepted, "talked": talked, "answers": answers, "bodies": bodies}


def wire_identity(sess: dict[str, Any]) -> dict[str, Any]:
    """Agent, login and algorithms of one campus session, decoded from its reassembled stream."""
    c2s, s2c = file_streams(CAMPUS["file"])[(sess["client"], sess["client_port"])]
    c_msgs, s_msgs = json_lines(c2s), json_lines(s2c)
    agent = login = None
    algos: set[str] = set()
    for m in c_msgs:
        if m.get("method") == "mining.subscribe" and m["params"]:
            agent = m["params"][0]
        elif m.get("method") in ("mining.authorize", "eth_submitLogin"):
            login = m["params"][0]
        elif m.get("method") == "login":
            agent, login = m["params"]["agent"], m["params"]["login"]
    for m in s_msgs:
        if m.get("method") == "job":
            algos.add(m["params"]["algo"])
        elif isinstance(m.get("result"), dict) and "job" in m["result"]:
            algos.add(m["result"]["job"]["algo"])
    return {"agent": agent, "login": login, "algos": algos, "plaintext_json": c2s[:1] == b"{"}


def derive_signals(host: dict[str, Any]) -> set[str]:
    """Every signal name of the campus vocabulary that the packets (and the registry) support for a host."""
    ip, wire, rows = host["ip"], campus_wire(), registry_rows()
    sessions = [CAMPUS_SESSIONS[i] for i in host["sessions"]]
    idents = [wire_identity(s) for s in sessions]
    scanners = {src for src, dsts in wire["fanout"].items() if len(dsts) >= 100}
    unit_of = lambda a: longest_prefix(rows, a)["unit"]  # noqa: E731
    sig: set[str] = set()
    if len({peer for peer, port in wire["accepted"][ip]}) >= 10:
        sig.add("inbound_server")
    if any(ip in wire["fanout"][s] and (s, ip) in wire["talked"] for s in scanners if s != ip):
        sig.add("scanned_into")
    if ip in scanners:
        sig.add("outbound_scan")
    for ctype, body in wire["bodies"][ip]:
        if body.startswith(b"#!/bin/sh") and b"curl" in body and ctype in ("text/x-sh", "application/octet-stream"):
            sig.add("fetched_script")
        if body.startswith(b"\x7fELF"):
            sig.add("fetched_elf")
    for s, ident in zip(sessions, idents):
        if (ip, s["pool"], s["server"]) in wire["answers"]:
            sig.add("pool_dns")
        if s["server_port"] in (80, 443) and ident["plaintext_json"]:
            sig.add("disguised_port")
        if (ident["agent"] or "").startswith("XMRig/"):
            sig.add("xmrig_agent")
        if any(a.startswith(("rx/", "cn", "argon2", "ghostrider")) for a in ident["algos"]):
            sig.add("cpu_algorithm")
        if RIG_SOFTWARE.match(ident["agent"] or ""):
            sig.add("rig_software")
        if s["algorithm"] in GPU_ASIC_ALGORITHMS:
            sig.add("gpu_or_asic_algorithm")
        prefix, _, worker = ident["login"].partition(".")
        if worker:
            sig.add("named_workers")
        same_prefix = [o for o in CAMPUS_SESSIONS if o["client"] != ip and o["login"].partition(".")[0] == prefix]
        if len([o for o in same_prefix if unit_of(o["client"]) == unit_of(ip) and o["pool"] == s["pool"]]) >= 1:
            sig.add("farm_same_account")
        if any(unit_of(o["client"]) != unit_of(ip) for o in same_prefix):
            sig.add("shared_wallet_cross_unit")
        if s["true_hashrate"] >= RIG_LEVEL.get(s["algorithm"], math.inf):
            sig.add("rig_hashrate")
    return sig


@needs_tshark
@pytest.mark.parametrize("ip", HOST_IDS)
def test_each_claimed_signal_is_on_the_wire_and_no_other(ip: str) -> None:
    host = next(h for h in CAMPUS["hosts"] if h["ip"] == ip)
    assert set(host["signals"]) <= set(CAMPUS["signal_vocabulary"])
    assert derive_signals(host) == set(host["signals"])
    # the verdict follows from the category and the intrusion signals
    if not host["public_institution"]:
        assert host["verdict"] == "private"
    elif INTRUSION_SIGNALS & set(host["signals"]):
        assert host["verdict"] == "compromised"
    else:
        assert host["verdict"] == "institution_misuse"


@needs_tshark
def test_campus_scans_and_downloads_match_the_truth() -> None:
    wire = campus_wire()
    for scan in CAMPUS["scans"]:
        assert len(wire["fanout"][scan["scanner"]]) >= (scan["distinct_addresses"] if scan["direction"] == "outbound"
                                                        else 200)
    inbound = next(s for s in CAMPUS["scans"] if s["direction"] == "inbound")
    assert set(inbound["hits_hosts"]) <= wire["fanout"][inbound["scanner"]]
    syns = tshark(CAMPUS_PATH, "-Y", f"tcp.flags == 0x002 && tcp.srcport == {inbound['source_port']}", "-T", "fields",
                  "-e", "tcp.dstport", "-e", "tcp.window_size_value").splitlines()
    assert len(syns) == inbound["syns"] and set(syns) == {f"{p}\t1024" for p in inbound["ports"]}
    gov = next(h for h in CAMPUS["hosts"] if "fetched_elf" in h["signals"])
    got = sorted((ct, len(b), b[:16].decode("latin-1")) for ct, b in wire["bodies"][gov["ip"]])
    assert got == sorted((d["content_type"], d["body_bytes"], d["body_prefix"]) for d in gov["downloads"])
    exploit = tshark(CAMPUS_PATH, "-Y", f"http.request && ip.src == {gov['exploit']['client']}", "-T", "fields",
                     "-e", "http.request.uri")
    assert "/x.sh" in exploit and "invokefunction" in exploit


# ---------------------------------------------------------------------------------------------
# the encrypted and evasive sample

ENC_PATH = PCAPS / ENCRYPTED["file"]
ENC_TCP = [f for f in ENCRYPTED["flows"] if f["proto"] == "tcp"]
ENC_IDS = [f["name"] for f in ENC_TCP]


def test_encrypted_truth_is_coherent() -> None:
    assert set(ENCRYPTED["confidence_levels"]) == {"strong", "none"}
    assert TRUTH["files"][ENCRYPTED["file"]]["sessions"] == []  # nothing readable
    for f in ENCRYPTED["flows"]:
        assert f["expected_confidence"] == ("strong" if f["mining"] else "none"), f["name"]
        assert bool(f["identified_by"]) == f["mining"]
    mining = [f for f in ENC_TCP if f["mining"]]
    assert {f["transport"] for f in mining} == {"tls1.2", "tls1.3", "sv2"}
    assert {f["server_port"] for f in mining} >= {443, 34254} and any(f["server_port"] not in (443, 34254) for f in mining)
    assert any(f["sni"] is None and f["dns_name"] for f in mining)
    xmr = next(f for f in mining if f["server_port"] == 443)
    assert xmr["last_ts"] - xmr["first_ts"] >= 20 * 60
    for f in mining:
        h = f["hidden"]
        assert h["accepted"] + h["rejected"] == h["shares_submitted"] > 0
        est = h["submitted_work"] / (h["last_share_ts"] - h["first_share_ts"])
        assert abs(est / h["true_hashrate"] - 1) < 4 / math.sqrt(h["shares_submitted"])
    benign_sni = {f["sni"] for f in ENC_TCP if not f["mining"]}
    assert {"chat.example.org", "api.binance.com"} <= benign_sni and len(benign_sni) >= 5


@needs_tshark
@pytest.mark.parametrize("name", ENC_IDS)
def test_encrypted_flow_5_tuples_exist(name: str) -> None:
    f = next(x for x in ENC_TCP if x["name"] == name)
    seen = tcp_tuples(ENCRYPTED["file"])
    fwd = (f["client"], f["client_port"], f["server"], f["server_port"])
    rev = (f["server"], f["server_port"], f["client"], f["client_port"])
    times = seen[fwd] + seen[rev]
    assert min(times) == pytest.approx(f["first_ts"], abs=2e-6)
    assert max(times) == pytest.approx(f["last_ts"], abs=2e-6)
    assert len(times) == f["packets"]


@needs_tshark
def test_snis_certificates_and_versions_per_tshark() -> None:
    out = tshark(ENC_PATH, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tcp.srcport",
                 "-e", "tls.handshake.extensions_server_name")
    sni = {int(p): n for p, n in (ln.split("\t") for ln in out.splitlines())}
    tls_flows = [f for f in ENC_TCP if f["transport"].startswith("tls")]
    assert sni == {f["client_port"]: f["sni"] or "" for f in tls_flows}
    out = tshark(ENC_PATH, "-Y", "tls.handshake.type == 11", "-T", "fields", "-e", "tcp.dstport", "-e", "x509ce.dNSName")
    names = {int(p): n.split(",") for p, n in (ln.split("\t") for ln in out.splitlines())}
    assert names == {f["client_port"]: f["certificate_names"] for f in tls_flows if f["transport"] == "tls1.2"}
    out = tshark(ENC_PATH, "-Y", "tls.handshake.type == 2", "-T", "fields", "-e", "tcp.dstport",
                 "-e", "tls.handshake.extensions.supported_version")
    chosen = {int(p): v for p, v in (ln.split("\t") for ln in out.splitlines())}
    assert chosen == {f["client_port"]: ("0x0304" if f["transport"] == "tls1.3" else "") for f in tls_flows}


@needs_tshark
def test_dns_answers_map_the_servers_before_they_are_contacted() -> None:
    out = tshark(ENC_PATH, "-Y", "dns.flags.response == 1", "-T", "fields", "-e", "ip.dst", "-e", "dns.qry.name",
                 "-e", "dns.a", "-e", "frame.time_epoch")
    answers = [(c, n, a, float(ts)) for c, n, a, ts in (ln.split("\t") for ln in out.splitlines())]
    for f in ENC_TCP:
        if f["dns_name"]:
            assert any((c, n, a) == (f["client"], f["dns_name"], f["server"]) and ts < f["first_ts"]
                       for c, n, a, ts in answers), f["name"]


def tls_records(data: bytes) -> list[tuple[int, int]]:
    """(content type, length) of every record; the stream must be nothing but whole TLS records."""
    out, pos = [], 0
    while pos < len(data):
        ctype, version, n = struct.unpack_from(">BHH", data, pos)
        assert ctype in (20, 21, 22, 23) and version in (0x0301, 0x0303) and n <= 16384 + 256
        out.append((ctype, n))
        pos += 5 + n
    assert pos == len(data)
    return out


@needs_tshark
def test_encrypted_streams_are_whole_records_with_a_mining_rhythm() -> None:
    streams = follow(ENC_PATH, ENC_TCP)
    for f in ENC_TCP:
        c2s, s2c = streams[(f["client"], f["client_port"])]
        if f["transport"] == "sv2":
            continue
        c_recs, s_recs = tls_records(c2s), tls_records(s2c)
        assert c_recs[0][0] == 22 and s_recs[0][0] == 22
        assert b"mining" not in c2s and b"login" not in c2s  # nothing readable
        if f["mining"]:
            # one client record per plaintext request: login + submits (+ keepalived / getWork / hashrate)
            app = [n for t, n in c_recs if t == 23]
            assert len(app) >= f["hidden"]["shares_submitted"] + 1
    # the TLS XMRig flow: small client records every few seconds, server pushes every ~30-60 s, 20+ minutes
    xmr = next(f for f in ENC_TCP if f["mining"] and f["server_port"] == 443)
    out = tshark(ENC_PATH, "-Y", f"tcp.port == {xmr['client_port']} && tls.record.content_type == 23", "-T", "fields",
                 "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tls.record.length")
    rows = [(float(t), int(p), [int(x) for x in n.split(",")]) for t, p, n in (ln.split("\t") for ln in out.splitlines())]
    client = [t for t, p, _ in rows if p == xmr["client_port"]]
    gaps = sorted(b - a for a, b in zip(client, client[1:]))
    assert 2 <= gaps[len(gaps) // 2] <= 15
    sizes = sorted(n for _, p, ns in rows if p == xmr["client_port"] for n in ns)
    assert sizes[len(sizes) // 2] < 300  # submits and keepalives are small; only the login is larger
    assert client[-1] - client[0] >= 20 * 60


@needs_tshark
def test_stratum_v2_handshake_sizes() -> None:
    (f,) = [x for x in ENC_TCP if x["transport"] == "sv2"]
    out = tshark(ENC_PATH, "-Y", f"tcp.port == {f['client_port']} && tcp.len > 0", "-T", "fields", "-e", "tcp.srcport",
                 "-e", "tcp.len")
    turns: list[list[int]] = []  # consecutive payloads of one side form a turn
    last = None
    for ln in out.splitlines():
        port, n = map(int, ln.split("\t"))
        side = "c" if port == f["client_port"] else "s"
        if side != last:
            turns.append([0])
            last = side
        turns[-1][0] += n
    sizes = [t[0] for t in turns]
    assert sizes[:2] == f["handshake_sizes"] == [64, 234]
    assert sizes[2:4] == f["setup_sizes"]
    assert 54 <= sizes[2] <= 1329 and 43 <= sizes[3] <= 298  # SetupConnection and its Success (sv2-spec §3.6)
    assert all(n == 22 or n >= 39 for n in sizes[4:])
    assert len(sizes) > 100  # periodic encrypted frames for the rest of the connection
