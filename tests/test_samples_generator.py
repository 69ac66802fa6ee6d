"""The bundled sample captures: reproducible, readable by scapy and tshark, and true to truth.json.

Everything here is checked independently of minesweep: the captures are read with scapy and
tshark, TCP streams are reassembled by ``tshark -z follow,tcp,raw`` (which handles the
retransmitted, out-of-order, overlapping and fragmented segments the generator plants), and the
mining messages are decoded with ``json`` right here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PCAPS = ROOT / "pcaps"
TRUTH: dict[str, Any] = json.loads((PCAPS / "truth.json").read_text())
FILES = sorted(TRUTH["files"])
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


@functools.lru_cache(maxsize=None)
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
    assert produced == sorted([*FILES, "truth.json"])
    for name in produced:
        assert (tmp_path / name).read_bytes() == (PCAPS / name).read_bytes(), f"{name} differs from the committed file"


def test_sample_set_is_small_and_documented() -> None:
    total = sum((PCAPS / name).stat().st_size for name in FILES)
    assert total < 3 * 1024 * 1024
    assert 6 <= len(FILES) <= 8
    readme = (PCAPS / "README.md").read_text()
    assert "make_samples.py" in readme
    for name in FILES:
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


@functools.lru_cache(maxsize=None)
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
    assert 600 <= s["last_ts"] - s["first_ts"] <= 1260
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
