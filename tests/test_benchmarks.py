"""Tests of the speed-benchmark harness in benchmarks/: the capture generator, the peers, run.py.

Small captures are generated into tmp dirs (20,000 packets for the generator checks, 5,000 for
the run.py ones, so the scapy peer stays around a second). tshark is the independent oracle for
the capture's validity: record count, checksums, TCP sequence analysis, miners' 5-tuples.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PY = sys.executable
N = 20_000
sys.path.insert(0, str(BENCH))
import peers  # noqa: E402

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _gen(out: Path, packets: int = N, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(BENCH / "gen_capture.py"), "--packets", str(packets), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, check=False)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _truth(cap: Path) -> dict[str, Any]:
    return json.loads(Path(str(cap) + ".truth.json").read_text())


def _tshark(cap: Path, *args: str) -> list[list[str]]:
    r = subprocess.run(["tshark", "-n", "-r", str(cap), *args], capture_output=True, text=True, timeout=300,
                       check=True)
    return [line.split("\t") for line in r.stdout.splitlines()]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "small.pcap"
    r = _gen(out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "tiny.pcap"
    r = _gen(out, 5000, "--miners", "3", "--seed", "7")
    assert r.returncode == 0, r.stderr
    return out


# ---- generator ---------------------------------------------------------------------------------
def test_same_seed_gives_same_bytes(capture: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.pcap"
    assert _gen(again).returncode == 0
    assert _sha(again) == _sha(capture) == _truth(capture)["sha256"]
    other = tmp_path / "other.pcap"
    assert _gen(other, N, "--seed", "2").returncode == 0
    assert _sha(other) != _sha(capture)


def test_gzip_output_is_the_same_capture(capture: Path, tmp_path: Path) -> None:
    gz = tmp_path / "small.pcap.gz"
    assert _gen(gz, N, "--gzip").returncode == 0
    assert gzip.decompress(gz.read_bytes()) == capture.read_bytes()
    t = _truth(gz)
    assert t["gzip"] is True and t["sha256"] == _sha(gz) and t["file_bytes"] == gz.stat().st_size


def test_truth_counts_are_consistent(capture: Path) -> None:
    t = _truth(capture)
    assert t["packets"] == N
    assert peers.count_records(str(capture)) == N
    assert t["file_bytes"] == capture.stat().st_size == 24 + 16 * N + t["frame_bytes"]
    assert sum(t["flows_by_kind"].values()) == t["flows"] == t["flows_tcp"] + t["flows_udp"]
    assert sum(t["packets_by_kind"].values()) == N
    assert len(t["miners"]) == 4  # 200 per million
    assert {m["dialect"] for m in t["miners"]} == {"stratum", "monero", "ethproxy"}
    for kind in ("tls", "http", "dns", "web3", "zabbix", "jsonrpc_echo", "bitcoind"):
        assert t["flows_by_kind"][kind] > 0, kind
    assert 0 < t["flows_ipv6"] < t["flows"]


@pytest.mark.parametrize("args, message", [
    (["--packets", "10"], "at least 1000"),
    (["--packets", "1000", "--miners", "400"], "too small"),
    (["--packets", "1000", "--miners", "-1"], "--miners"),
])
def test_generator_rejects_bad_arguments_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run([PY, str(BENCH / "gen_capture.py"), *args, "--out", str(tmp_path / "x.pcap")],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_generator_unwritable_output_is_one_line(tmp_path: Path) -> None:
    r = _gen(tmp_path / "missing-dir" / "x.pcap", 1000)
    assert r.returncode == 2
    assert r.stderr.startswith("gen_capture.py: error:") and len(r.stderr.strip().splitlines()) == 1


# ---- the capture, seen by tshark ---------------------------------------------------------------
@needs_tshark
def test_tshark_reads_every_record_with_valid_checksums_and_no_tcp_anomaly(capture: Path) -> None:
    rows = _tshark(capture, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                   "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "occurrence=a",
                   "-e", "frame.number", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
                   "-e", "udp.checksum.status", "-e", "_ws.expert.group", "-e", "_ws.expert.severity",
                   "-e", "tls.handshake.extensions_server_name", "-e", "ipv6.src")
    assert len(rows) == N
    assert [int(r[0]) for r in rows] == list(range(1, N + 1))
    bad_sum = [r[0] for r in rows if "0" in (r[1], r[2], r[3])]
    assert bad_sum == []
    good = sum(1 for r in rows if r[2] == "1" or r[3] == "1")
    assert good == N  # every record is TCP or UDP with a verified checksum
    sequence, warn = 0x02000000, 0x00600000  # expert group "Sequence" (TCP analysis), severity "Warning"
    tcp_warnings = [r[0] for r in rows if any(
        int(g) == sequence and int(s) >= warn for g, s in zip(r[4].split(",") if r[4] else [], r[5].split(",")))]
    assert tcp_warnings == []
    snis = {r[6] for r in rows if r[6]}
    assert "github.com" in snis and len(snis) > 10
    assert any(r[7] for r in rows)  # some IPv6


@needs_tshark
def test_truth_miners_handshakes_exist(capture: Path) -> None:
    rows = _tshark(capture, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields",
                   "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst",
                   "-e", "tcp.dstport")
    syns = {(r[0] or r[1], int(r[2]), r[3] or r[4], int(r[5])) for r in rows}
    for m in _truth(capture)["miners"]:
        assert (m["client"], m["client_port"], m["server"], m["server_port"]) in syns, m


@needs_tshark
def test_only_miner_flows_carry_mining_methods(capture: Path) -> None:
    """tshark's filter (the benchmark's) matches exactly the truth flows, each with its login."""
    rows = _tshark(capture, "-Y", peers.TSHARK_FILTER, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src",
                   "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.payload")
    text: dict[str, bytes] = {}
    for r in rows:
        key = peers.flow_key(r[0] or r[1], int(r[2]), r[3] or r[4], int(r[5]))
        text[key] = text.get(key, b"") + bytes.fromhex(r[6].replace(":", ""))
    login = {"stratum": b'"mining.authorize"', "monero": b'"method":"login"', "ethproxy": b"eth_submitLogin"}
    miners = _truth(capture)["miners"]
    assert set(text) == {peers.flow_key(m["client"], m["client_port"], m["server"], m["server_port"]) for m in miners}
    for m in miners:
        assert login[m["dialect"]] in text[peers.flow_key(m["client"], m["client_port"], m["server"], m["server_port"])]


# ---- peers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dpkt", "rawloop"])
def test_python_peers_find_exactly_the_truth_flows(capture: Path, name: str) -> None:
    n, hits, flows = peers.PEERS[name](str(capture), None)
    want = {peers.flow_key(m["client"], m["client_port"], m["server"], m["server_port"])
            for m in _truth(capture)["miners"]}
    assert n == N and flows == want and hits >= len(want)


def test_peer_limit_stops_early(capture: Path) -> None:
    assert peers.PEERS["dpkt"](str(capture), 500)[0] == 500


@pytest.mark.parametrize("data", [b"", b"garbage!" * 10, b"\xd4\xc3\xb2"])
def test_count_records_rejects_non_pcap(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "bad.pcap"
    p.write_bytes(data)
    with pytest.raises(ValueError, match="not a classic pcap"):
        peers.count_records(str(p))


def test_peers_cli_error_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.pcap"
    p.write_bytes(b"garbage!" * 10)
    r = subprocess.run([PY, str(BENCH / "peers.py"), "dpkt", str(p)], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "dpkt failed" in r.stderr


# ---- run.py ------------------------------------------------------------------------------------
def _run(cap: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(BENCH / "run.py"), str(cap), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600, check=False)


def _installed() -> list[str]:
    names = [n for n, exe in (("ndpi", "ndpiReader"), ("tshark", "tshark")) if shutil.which(exe)]
    return names + ["dpkt", "scapy", "rawloop"]


def test_run_times_installed_peers_and_skips_missing_minesweep(tiny: Path, tmp_path: Path) -> None:
    names = _installed()
    r = _run(tiny, tmp_path, "--peers", ",".join(names), "--minesweep", str(tmp_path / "no-such-minesweep"))
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    rows = {row["tool"]: row for row in res["rows"]}
    assert rows["minesweep"]["status"] == "skipped" and "not found" in rows["minesweep"]["note"]
    tools = {"ndpi": "ndpiReader", "tshark": "tshark", "dpkt": "dpkt", "scapy": "scapy",
             "rawloop": "python loop (rawloop)"}
    miners = len(_truth(tiny)["miners"])
    for n in names:
        row = rows[tools[n]]
        assert row["status"] == "ok", row
        assert row["packets"] == 5000 and row["wall_s"] > 0 and row["pps"] > 0 and row["mb_s"] > 0
        if os.access("/usr/bin/time", os.X_OK):
            assert row["peak_rss_mb"] > 1 and row["cpu_s"] is not None
        assert row["truth_miners_flagged"] == miners, row
        assert row["speed_ratio"] is None  # no minesweep row to compare with
    for n in ("tshark", "dpkt", "scapy", "rawloop"):
        if n in names:
            assert rows[tools[n]]["flagged_flows"] == miners  # the shared regex: no false flows
    md = (tmp_path / "results.md").read_text()
    assert md.count("\n| ") == len(names) + 2  # header + one row per tool, minesweep included
    for n in names:
        assert f"| {tools[n]} |" in md


@pytest.mark.skipif(shutil.which("tshark") is None, reason="pyshark needs tshark")
def test_run_extrapolates_pyshark_from_a_slice(tiny: Path, tmp_path: Path) -> None:
    r = _run(tiny, tmp_path, "--peers", "pyshark", "--pyshark-slice", "150", "--minesweep", str(tmp_path / "none"))
    assert r.returncode == 0, r.stderr
    row = json.loads((tmp_path / "results.json").read_text())["rows"][1]
    assert row["tool"] == "pyshark" and row["status"] == "ok", row
    assert row["packets"] == 150 and row["extrapolated"] is True
    assert row["full_wall_s"] > 5000 / row["pps"] * 0.99
    assert "extrapolated" in (tmp_path / "results.md").read_text()


FAKE = """#!{py}
import json, pathlib, sys
if sys.argv[1] == "--version":
    print("minesweep 0.0-fake"); sys.exit(0)
cap, out = sys.argv[2], pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
miners = json.load(open(cap + ".truth.json"))["miners"]
s = [dict(client=m["client"], server=m["server"], server_port=m["server_port"], confidence="confirmed")
     for m in miners][{drop}:]
s.append(dict(client="10.9.9.9", server="192.0.2.1", server_port=3333, confidence="suspected"))
(out / "findings.json").write_text(json.dumps({{"sessions": s}}))
sys.exit({rc})
"""


@pytest.mark.parametrize("drop, rc, equal", [(0, 0, True), (1, 0, False), (0, 1, True)])
def test_run_compares_minesweep_sessions_with_truth(tiny: Path, tmp_path: Path, drop: int, rc: int,
                                                    equal: bool) -> None:
    exe = tmp_path / "minesweep"
    exe.write_text(FAKE.format(py=PY, drop=drop, rc=rc))
    exe.chmod(0o755)
    r = _run(tiny, tmp_path / "res", "--peers", "rawloop", "--minesweep", str(exe))
    assert r.returncode == 0, r.stderr
    ms, loop = json.loads((tmp_path / "res" / "results.json").read_text())["rows"]
    assert ms["status"] == "ok" and ms["version"] == "minesweep 0.0-fake"
    assert ms["sessions_equal_truth"] is equal
    assert len(ms["missing"]) == drop and ms["extra"] == []
    assert loop["speed_ratio"] == pytest.approx(loop["full_wall_s"] / ms["full_wall_s"], rel=0.02)
    md = (tmp_path / "res" / "results.md").read_text()
    assert ("equal to truth" if equal else "NOT equal to truth: 1 missing") in md


def test_run_repeats_quick_tools_and_reports_the_median(tiny: Path, tmp_path: Path) -> None:
    exe = tmp_path / "minesweep"
    exe.write_text(FAKE.format(py=PY, drop=0, rc=0))
    exe.chmod(0o755)
    r = _run(tiny, tmp_path / "res", "--peers", "rawloop,scapy", "--minesweep", str(exe), "--repeat", "3",
             "--repeat-under", "1000")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    assert res["repeat"] == 3
    for row in res["rows"]:
        runs = row["runs_s"]
        assert len(runs) == 3 and row["wall_s"] == sorted(runs)[1]  # the median run
        assert row["pps"] == pytest.approx(5000 / row["wall_s"], rel=0.03)  # (wall_s is rounded to ms)
    ms, loop, _ = res["rows"]
    assert loop["speed_ratio"] == pytest.approx(loop["full_wall_s"] / ms["full_wall_s"], rel=0.02)
    md = (tmp_path / "res" / "results.md").read_text()
    assert "were run 3 times" in md and md.count(", ".join(f"{w:.3f}" for w in loop["runs_s"])) == 1
    once = _run(tiny, tmp_path / "once", "--peers", "rawloop", "--minesweep", str(exe), "--repeat", "3",
                "--repeat-under", "0")  # nothing is quick enough: one run each
    assert once.returncode == 0, once.stderr
    assert all(len(row["runs_s"]) == 1 for row in json.loads((tmp_path / "once" / "results.json").read_text())["rows"])
    bad = _run(tiny, tmp_path / "bad", "--repeat", "0")
    assert bad.returncode == 2 and "--repeat must be >= 1" in bad.stderr


@pytest.mark.parametrize("content, message", [(None, "no such capture"), (b"not a capture at all", "not a classic pcap")])
def test_run_rejects_bad_capture_in_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    cap = tmp_path / "c.pcap"
    if content is not None:
        cap.write_bytes(content)
    r = _run(cap, tmp_path / "res", "--peers", "rawloop")
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_run_rejects_unknown_peer(tiny: Path, tmp_path: Path) -> None:
    r = _run(tiny, tmp_path / "res", "--peers", "wireshark-gui")
    assert r.returncode == 2 and "unknown peer" in r.stderr


def test_run_measures_a_tools_end_without_polling(tmp_path: Path) -> None:
    """A tool's wall time is taken when it ends: a 0.12 s sleep measures ~0.12 s, not the next
    step of a polling wait (subprocess.run(timeout=...) sleeps up to 50 ms between looks, and a
    0.12 s tool measured ~0.16 s); a tool past --timeout is killed and reported as such."""
    import run

    walls = sorted(run._measure([sys.executable, "-c", "import time; time.sleep(0.12)"], tmp_path / "out", 30)[0]
                   for _ in range(3))
    assert 0.12 <= walls[0] < 0.145, walls
    wall, _, _, rc = run._measure([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "out", 0.5)
    assert rc == -9 and 0.5 <= wall < 5
