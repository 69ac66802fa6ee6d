"""`minesweep zeek` / `minesweep suricata` on the command line: outputs, options, hostile input."""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

import pytest

from detector.commands import rules_export, suricata, zeek
from detector.errors import InputError, UnreadableInputError

REPO = Path(__file__).resolve().parents[1]
SENSORS = REPO / "pcaps" / "sensors"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minesweep")
    sub = p.add_subparsers(dest="command", required=True)
    for module in (zeek, suricata, rules_export):
        module.register(sub)
    return p


def main(argv: list[str], stdout: io.StringIO | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = ["minesweep", *argv]
    return args.run(args, stdout=stdout or io.StringIO())


def test_zeek_batch_writes_the_reports_mining_log_and_alerts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    buf = io.StringIO()
    assert main(["zeek", str(SENSORS / "zeek"), "--out", str(out), "--alerts", str(tmp_path / "a.jsonl")], buf) == 0
    for name in ("findings.json", "report.md", "hosts.csv", "report.html", "sessions.csv", "iocs.csv", "mining.log"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "findings.json").read_text("utf-8"))
    alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text("utf-8").splitlines()]
    assert len(alerts) == len(doc["sessions"]) == 21
    assert doc["command"][:2] == ["minesweep", "zeek"]
    assert "21 mining IPs" in buf.getvalue()


def test_suricata_batch_alerts_to_stdout_with_min_confidence(tmp_path: Path) -> None:
    buf = io.StringIO()
    assert main(["suricata", str(SENSORS / "eve.json.gz"), "--out", str(tmp_path), "--alerts", "-", "--quiet",
                 "--min-confidence", "confirmed"], buf) == 0
    alerts = [json.loads(line) for line in buf.getvalue().splitlines()]
    doc = json.loads((tmp_path / "findings.json").read_text("utf-8"))
    assert alerts and all(a["minesweep"]["confidence"] == "confirmed" for a in alerts)
    assert len(alerts) == len(doc["sessions"]) and doc["sensor"]["findings_below_min_confidence"] > 0


def test_suricata_follow_from_the_command_line_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import threading

    eve = tmp_path / "eve.json"
    eve.write_bytes(gzip.decompress((SENSORS / "eve.json.gz").read_bytes()))
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert main(["suricata", str(eve), "--out", str(tmp_path / "out"), "--follow", "--report-every", "5m",
                     "--alerts", str(tmp_path / "a.jsonl")]) == 0
    finally:
        timer.cancel()
    assert (tmp_path / "out" / "checkpoint.json").is_file() and (tmp_path / "out" / "mining.log").is_file()
    alerts = (tmp_path / "a.jsonl").read_text("utf-8").splitlines()
    assert len(alerts) >= 21 and (tmp_path / "out" / "findings.json").is_file()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("argv", [
    ["suricata", "x.json", "--out", "o", "--report-every", "soon"],
    ["suricata", "x.json", "--out", "o", "--min-confidence", "certain"],
    ["zeek", "x", "--out", "o", "--subnet-v4", "40"],
])
def test_bad_options_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv)
    assert exc.value.code == 2


def test_checkpoint_needs_follow(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="need --follow"):
        main(["suricata", str(SENSORS / "eve.json.gz"), "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c")])


def test_hostile_inputs_give_one_line_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "eve.json"
    garbage.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError, match="not Suricata EVE JSON") as exc:
        main(["suricata", str(garbage), "--out", str(tmp_path / "o")])
    assert "\n" not in str(exc.value)
    with pytest.raises(UnreadableInputError, match="no such file"):
        main(["zeek", str(tmp_path / "missing.log"), "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match="Suricata EVE JSON, not a Zeek log"):
        main(["zeek", str(SENSORS / "eve.json.gz"), "--out", str(tmp_path / "o")])
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(UnreadableInputError, match="no eve"):
        main(["suricata", str(empty_dir), "--out", str(tmp_path / "o")])


def test_damage_inside_usable_files_is_counted_not_fatal(tmp_path: Path) -> None:
    data = gzip.decompress((SENSORS / "eve.json.gz").read_bytes())
    lines = data.splitlines(keepends=True)
    damaged = b"".join(lines[:100]) + b"{not json\n\xff\xfe\n" + b'{"event_type": "flow"}\n' + b"".join(lines[100:200])
    path = tmp_path / "eve.json.gz"
    path.write_bytes(gzip.compress(damaged)[:-30])  # truncated gzip stream
    assert main(["suricata", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "o" / "findings.json").read_text("utf-8"))
    (entry,) = doc["inputs"]
    assert entry["malformed"] == 3 and entry["format"] == "eve-json+gzip"
    assert any("gzip stream truncated" in w for w in entry["warnings"])
    tsv = tmp_path / "conn.log"
    text = (SENSORS / "zeek" / "conn.log").read_text("utf-8").splitlines(keepends=True)
    tsv.write_text("".join(text[:20]) + "1.0\tnot\tenough\tfields\n" + "".join(text[20:40]), "utf-8")
    assert main(["zeek", str(tsv), "--out", str(tmp_path / "z"), "--quiet"]) == 0
    (entry,) = json.loads((tmp_path / "z" / "findings.json").read_text("utf-8"))["inputs"]
    assert entry["malformed"] == 1 and any("field_count" in w for w in entry["warnings"])
