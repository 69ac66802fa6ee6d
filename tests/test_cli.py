"""The command line: exit codes, one-line errors, hostile and damaged inputs, outputs written."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO

MINING = CORPUS / "ndpi" / "mining.pcapng"
ETH = CORPUS / "ndpi" / "old" / "ethereum.pcap"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


def test_scan_writes_all_outputs(tmp_path):
    r = run("scan", str(MINING), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    findings = json.loads((out / "findings.json").read_text())
    assert findings["schema"] == "minesweep/findings/1"
    assert findings["summary"]["mining_ips"] == 3
    assert "# minesweep report" in (out / "report.md").read_text()
    header = (out / "hosts.csv").read_text().splitlines()[0]
    assert header.startswith("ip,sessions,pools,coins,algorithm,hashrate,hashrate_low,hashrate_high")
    assert "3 mining IPs" in r.stdout


def test_console_script_is_installed_or_module_runs():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("minesweep ")


def test_console_exit_writes_all_of_standard_output_and_keeps_the_code(tmp_path):
    """``console`` ends the process without Python's teardown: what ``main`` printed must all be
    there, through a pipe, and its exit code kept."""
    r = run("rules", "export", "--format", "suricata", "--out", "-")
    kept = subprocess.run([sys.executable, "-c", "import sys; from detector.cli import main; "
                           "sys.exit(main(['rules', 'export', '--format', 'suricata', '--out', '-']))"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == kept.returncode == 0 and len(r.stdout) > 10_000
    assert r.stdout == kept.stdout and r.stderr == kept.stderr == ""
    assert run("scan", str(tmp_path / "missing.pcap"), "--out", str(tmp_path)).returncode == 2


def test_standard_output_on_a_full_disk_is_one_line_exit_1():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "detector", "rules", "export", "--format", "zeek-intel", "--out", "-"],
                           stdout=full, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 1
    assert r.stderr == "minesweep: error: No space left on device\n"


def test_a_closed_pipe_on_standard_output_is_success():
    proc = subprocess.Popen([sys.executable, "-m", "detector", "rules", "export", "--format", "suricata", "--out", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0 and err == b""


LOADED = """
import json, sys
from detector import cli
from detector.output import forked
cli.build_parser({argv!r})
loaded = sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("detector.commands."))
code = cli.main({argv!r}) if {run!r} else None
print(json.dumps({{"commands": loaded, "page": "detector.output.page" in sys.modules, "forks": forked.enabled(), "code": code,
                  "parallel": "detector.parallel" in sys.modules, "tls": "detector.dialects.tls" in sys.modules}}))
"""


def _loaded(argv: list[str], run_it: bool = False, **env: str) -> dict:
    r = subprocess.run([sys.executable, "-c", LOADED.format(argv=argv, run=run_it)], capture_output=True, text=True,
                       cwd=REPO, timeout=300, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_a_command_line_imports_only_the_command_it_names(tmp_path):
    assert _loaded(["scan", "x.pcap", "--out", "o"])["commands"] == ["report", "scan"]  # its writers
    assert _loaded(["rules", "export"])["commands"] == ["rules_export"]
    everything = ["report", "rules_export", "scan", "suricata", "train", "zeek"]
    assert _loaded(["--version"])["commands"] == everything
    assert _loaded(["scna"])["commands"] == everything  # argparse lists the choices
    help_text = run("--help").stdout
    assert all(f"    {name}" in help_text for name in ("scan", "report", "zeek", "suricata", "rules", "train"))
    r = run("scna")
    assert r.returncode == 2 and "invalid choice: 'scna'" in r.stderr


def test_the_command_line_starts_hashing_before_its_heavy_imports(tmp_path):
    """``detector.cli`` imports what ``prehash.start`` needs and little else: the capture stack,
    argparse, typing and threading (~25 ms) are imported once the captures are being hashed."""
    code = ("import json, sys; import detector.cli; "
            "print(json.dumps(sorted(m for m in ('detector.capture', 'argparse', 'typing', 'threading', "
            "'detector.commands') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    code = ("import json, sys; from detector import cli, prehash; real = prehash.start; "
            "prehash.start = lambda argv: (print(json.dumps('detector.capture' in sys.modules)), real(argv)); "
            f"cli.main(['scan', {str(MINING)!r}, '--out', {str(tmp_path / 'o')!r}, '--quiet'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stdout.splitlines()[0])
    assert started is False and (tmp_path / "o" / "findings.json").is_file()


def test_a_scan_renders_report_html_in_the_forked_process_only(tmp_path):
    """The page's renderer is imported where report.html is written: in the forked process,
    or here when forking is off. The page is the same either way. detector.parallel is imported
    for several files only."""
    pages = []
    several = _loaded(["scan", str(MINING), str(ETH), "--out", str(tmp_path / "two"), "--quiet", "--jobs", "1"],
                      run_it=True)
    assert several["code"] == 0 and several["parallel"]  # several files: ordered by their first packet
    for fork in ("1", "0"):
        out = tmp_path / f"fork{fork}"
        seen = _loaded(["scan", str(MINING), "--out", str(out), "--quiet"], run_it=True, MINESWEEP_FORK=fork)
        assert seen["code"] == 0 and seen["forks"] == (fork == "1")
        assert seen["page"] == (fork == "0")
        assert not seen["parallel"]  # one file: no engines, no --watch
        stamp = json.loads((out / "findings.json").read_text())["generated_at"]
        pages.append((out / "report.html").read_text().replace(str(out), "OUT").replace(stamp, "STAMP"))
    assert pages[0] and pages[0] == pages[1]


def test_the_tls_parser_is_imported_by_a_scan_that_inspects_tls(tmp_path):
    """detector.dialects.tls (~5 ms to import) is loaded when a flow the scan inspects is TLS, not
    for a capture with none; the encrypted sample's pool behind TLS is found all the same."""
    plain = _loaded(["scan", str(MINING), "--out", str(tmp_path / "plain"), "--quiet"], run_it=True)
    assert plain["code"] == 0 and not plain["tls"]
    tls = _loaded(["scan", str(REPO / "pcaps" / "encrypted-evasive.pcap"), "--out", str(tmp_path / "tls"), "--quiet"],
                  run_it=True)
    assert tls["code"] == 0 and tls["tls"]
    sessions = json.loads((tmp_path / "tls" / "findings.json").read_text())["sessions"]
    assert any(s["dialect"] == "tls" for s in sessions)


@pytest.mark.parametrize("content, expect", [
    (b"", "empty file"),
    (b"hello, this is a text file\n", "not a pcap or pcapng capture"),
    (gzip.compress(b"plain text inside gzip"), "gzip-compressed, but not a pcap"),
])
def test_not_a_capture_is_one_line_exit_2(tmp_path, content, expect):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    r = run("scan", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and expect in lines[0]
    assert "Traceback" not in r.stderr


def test_missing_file_and_empty_directory(tmp_path):
    r = run("scan", str(tmp_path / "nope.pcap"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no such file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    r = run("scan", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "contains no pcap or pcapng capture" in r.stderr


def test_truncated_capture_keeps_what_was_read_and_warns(tmp_path):
    data = ETH.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = run("scan", str(cut), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    (inp,) = findings["inputs"]
    assert any(w.startswith("offset ") and "truncated" in w for w in inp["warnings"])
    assert {s["server"] for s in findings["sessions"]} == {"94.23.36.128", "91.121.222.33"} & {
        s["server"] for s in findings["sessions"]} and findings["sessions"]


def test_garbage_after_valid_records_warns_with_offset(tmp_path):
    data = ETH.read_bytes()
    bad = tmp_path / "garbage.pcap"
    bad.write_bytes(data + struct.pack("<IIII", 1, 2, 0x7FFFFFFF, 0x7FFFFFFF) + b"\x00" * 64)
    r = run("scan", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    (inp,) = json.loads((tmp_path / "out" / "findings.json").read_text())["inputs"]
    assert any(w.startswith(f"offset {len(data)}") for w in inp["warnings"]), inp["warnings"]


def test_directory_and_gzip_inputs(tmp_path):
    d = tmp_path / "caps"
    d.mkdir()
    (d / "a.pcap.gz").write_bytes(gzip.compress(ETH.read_bytes()))
    (d / "notes.txt").write_text("not a capture, skipped when walking a directory")
    r = run("scan", str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert [i["format"] for i in findings["inputs"]] == ["pcap+gzip"]
    assert len(findings["sessions"]) == 2


def test_bad_option_values_are_usage_errors(tmp_path):
    r = run("scan", str(MINING), "--out", str(tmp_path), "--subnet-v4", "40")
    assert r.returncode == 2 and "must be 0..32" in r.stderr


def test_registry_attributes_hosts_to_units(tmp_path):
    registry = tmp_path / "units.csv"
    registry.write_text("cidr,unit,category,contact\n"
                        "192.168.2.0/24,Example Institute of Physics,research,noc@example.org\n"
                        "192.168.2.148/32,Example Physics GPU Lab,research,lab@example.org\n")
    r = run("scan", str(MINING), "--registry", str(registry), "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    hosts = {h["ip"]: h for h in findings["hosts"]}
    assert hosts["192.168.2.148"]["unit"] == "Example Physics GPU Lab"  # longest prefix wins
    assert hosts["192.168.2.92"]["unit"] == "Example Institute of Physics"
    assert hosts["192.168.2.92"]["public_institution"] is True
    assert hosts["192.168.2.92"]["attribution"]["extra"] == {"contact": "noc@example.org"}
    assert hosts["147.229.13.222"]["unit"] is None and hosts["147.229.13.222"]["category"] == "unknown"
    units = {u["unit"]: u for u in findings["units"]}
    assert units["Example Physics GPU Lab"]["ips"] == ["192.168.2.148"]
    assert findings["summary"]["units"] == 2


def test_malformed_registry_is_one_line_with_file_and_line(tmp_path):
    registry = tmp_path / "units.csv"
    registry.write_text("cidr,unit,category\n10.0.0.0/8,Ok,government\n10.1.0.0/33,Bad,government\n")
    r = run("scan", str(MINING), "--registry", str(registry), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert f"{registry}:3" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_assumed_hashrate_is_labelled_everywhere(tmp_path):
    r = run("scan", str(REPO / "pcaps" / "encrypted-evasive.pcap"), "--assume-hashrate", "randomx=5k",
            "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    xmr = [s for s in findings["sessions"] if s["algorithm"] == "randomx"]
    assert xmr and all(s["hashrate"]["assumed"] and s["hashrate"]["value"] == 5000.0 for s in xmr)
    assert all(s["hashrate"]["basis"].startswith("ASSUMED by the user") for s in xmr)
    hosts = [h for h in findings["hosts"] if h["hashrate"]["algorithm"] == "randomx"]
    assert hosts and all(h["hashrate"]["by_algorithm"]["randomx"]["assumed"] for h in hosts)
    others = [s for s in findings["sessions"] if s["algorithm"] != "randomx"]
    assert all(s["hashrate"]["value"] is None for s in others)


@pytest.mark.parametrize("bad", ["randomx", "=5k", "randomx=fast", "randomx=-3"])
def test_bad_assumption_is_a_usage_error(tmp_path, bad):
    r = run("scan", str(MINING), "--assume-hashrate", bad, "--out", str(tmp_path))
    assert r.returncode == 2 and "ALGORITHM=RATE" in r.stderr


def _masked(path: Path) -> dict:
    doc = json.loads(path.read_text())
    for key in ("generated_at", "command"):
        doc.pop(key)
    return doc


def test_jobs_and_serial_scans_agree_on_the_bundled_samples(tmp_path):
    one = run("scan", str(REPO / "pcaps"), "--jobs", "1", "--engine", "pure", "--out", str(tmp_path / "one"), "--quiet")
    two = run("scan", str(REPO / "pcaps"), "--jobs", "2", "--out", str(tmp_path / "two"), "--quiet")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    assert _masked(tmp_path / "one" / "findings.json") == _masked(tmp_path / "two" / "findings.json")


@pytest.mark.parametrize("args, message", [
    (["--engine", "dask"], "needs --scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --engine dask"),
    (["--watch-max-files", "2"], "--watch-max-files is for --watch"),
])
def test_inconsistent_scale_options_are_one_line_errors(tmp_path, args, message):
    r = run("scan", str(MINING), "--out", str(tmp_path), *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
