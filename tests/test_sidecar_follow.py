"""Follow mode: alerts at once, rotation, copy-truncate, restarts and crashes from the checkpoint,
periodic rollups on an injectable clock, a clean stop on SIGTERM.

Each run is driven by a scripted ``sleep``: every time the runner has nothing left to read it
calls sleep, which performs the next step (append, rotate, truncate, advance the clock, send a
signal, crash) or stops the follower when the script is done. The end state is compared with a
batch run over the same lines: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detector.errors import InputError
from detector.sensors import ReadStats
from detector.sensors.zeek import read_zeek_file
from detector.sidecar.live import LiveOptions, LiveRunner, follow_patterns
from detector.sidecar.run import SidecarOptions, parse_duration
from detector.sidecar.suricata_cmd import analyze_eve
from detector.sidecar.zeek_cmd import analyze_zeek

REPO = Path(__file__).resolve().parents[1]
SENSORS = REPO / "pcaps" / "sensors"
EVE_LINES = gzip.decompress((SENSORS / "eve.json.gz").read_bytes()).decode("utf-8").splitlines(keepends=True)


class Script:
    """The steps a run performs whenever it sleeps; stops the run when they are done."""

    def __init__(self, steps: list[Callable[[], None]]) -> None:
        self.steps = list(steps)
        self.runner: LiveRunner | None = None
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.steps:
            self.steps.pop(0)()
        else:
            assert self.runner is not None
            self.runner.follower.stop()


def run(tmp: Path, kind: str, inputs: list[str], steps: list[Callable[[], None]], **kw: Any) -> Script:
    script = Script(steps)
    opts = LiveOptions(kind, inputs, tmp / "out", tmp / "state" / "checkpoint.json", alerts=tmp / "alerts.jsonl",
                       clock=script.clock, sleep=script.sleep, install_signals=kw.pop("install_signals", False),
                       commit_every=kw.pop("commit_every", 0.0), **kw)
    (tmp / "state").mkdir(exist_ok=True)
    runner = LiveRunner(opts)
    script.runner = runner
    runner.run()
    return script


def append(path: Path, lines: list[str]) -> Callable[[], None]:
    def step() -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(lines)
    return step


def comparable(doc: dict[str, Any]) -> list[tuple]:
    """Session records without the parts that name lines (line numbers vs byte offsets)."""
    out = []
    for s in doc["sessions"]:
        out.append((s["client"], s["client_port"], s["server"], s["server_port"], s["confidence"], s["dialect"],
                    s["pool"], s["agent"], s["worker"], s["wallet"], s["bytes_c2s"], s["bytes_s2c"], s["packets_c2s"],
                    s["packets_s2c"], s["first_seen"], s["last_seen"], json.dumps(s["methods"]),
                    tuple(sorted(Counter(e.split(":", 1)[0] for e in s["evidence"]).items())), s["notes"][-1][:40]))
    return sorted(out)


def alert_ids(path: Path) -> list[str]:
    return [json.loads(line)["event"]["id"] for line in path.read_text("utf-8").splitlines()]


def batch(tmp: Path, lines: list[str]) -> dict[str, Any]:
    path = tmp / "all-eve.json"
    path.write_text("".join(lines), "utf-8")
    doc, _ = analyze_eve([path], SidecarOptions())
    return doc


def check_outputs(tmp: Path, expected: dict[str, Any]) -> None:
    doc = json.loads((tmp / "out" / "findings.json").read_text("utf-8"))
    assert comparable(doc) == comparable(expected)
    ids = alert_ids(tmp / "alerts.jsonl")
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)  # never twice
    final = {f"{s['client']}|{s['server']}|{s['server_port']}": s["confidence"] for s in expected["sessions"]}
    alerted = {}
    for line in (tmp / "alerts.jsonl").read_text("utf-8").splitlines():
        a = json.loads(line)
        key = f"{a['source'].get('ip', a['source'].get('address'))}|{a['destination'].get('ip', a['destination'].get('address'))}|{a['destination'].get('port')}"
        alerted[key] = a["minesweep"]["confidence"]
    assert alerted == final  # every finding alerted, its last alert at its final confidence
    stats = ReadStats("mining.log")
    rows = list(read_zeek_file(tmp / "out" / "mining.log", stats))
    assert stats.malformed == 0 and sorted(r.fields["uid"] for r in rows) == sorted(ids)


# --------------------------------------------------------------------------- Suricata


def test_rotation_truncation_and_restart_lose_nothing_and_count_nothing_twice(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    L = EVE_LINES
    eve.write_text("".join(L[:500]), "utf-8")
    partial = L[700]
    cut = len(partial) // 2

    def rotate() -> None:
        os.rename(eve, tmp_path / "eve.json.1")  # logrotate: rename, then the sensor reopens
        eve.write_text("".join(L[701:900]), "utf-8")

    first = [append(eve, L[500:700]), append(eve, [partial[:cut]]), append(eve, [partial[cut:]]), rotate]
    run(tmp_path, "suricata", [str(eve)], first)
    assert (tmp_path / "out" / "findings.json").exists() and (tmp_path / "state" / "checkpoint.json").exists()
    assert (tmp_path / "state" / "checkpoint.json.follow").exists()

    def copy_truncate() -> None:
        (tmp_path / "eve.json.2").write_bytes(eve.read_bytes())  # logrotate copytruncate
        with open(eve, "r+", encoding="utf-8") as fh:
            fh.truncate(0)

    second = [append(eve, L[900:1200]), copy_truncate, append(eve, L[1200:])]
    run(tmp_path, "suricata", [str(eve)], second)
    check_outputs(tmp_path, batch(tmp_path, L))


def test_a_crash_after_alerts_before_the_checkpoint_repeats_no_alert(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    L = EVE_LINES
    eve.write_text("".join(L[:800]), "utf-8")

    def crash() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):  # alerts written, no checkpoint since the start
        run(tmp_path, "suricata", [str(eve)], [crash], commit_every=1e12)
    written = alert_ids(tmp_path / "alerts.jsonl")
    assert written and not (tmp_path / "state" / "checkpoint.json").exists()
    run(tmp_path, "suricata", [str(eve)], [append(eve, L[800:])])
    check_outputs(tmp_path, batch(tmp_path, L))


def test_a_crash_after_a_checkpoint_resumes_there(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    L = EVE_LINES
    eve.write_text("".join(L[:400]), "utf-8")

    def crash() -> None:
        raise RuntimeError("killed")

    run(tmp_path, "suricata", [str(eve)], [])  # clean run: checkpoint at line 400
    with pytest.raises(RuntimeError):
        run(tmp_path, "suricata", [str(eve)], [append(eve, L[400:1000]), crash], commit_every=1e12)
    run(tmp_path, "suricata", [str(eve)], [append(eve, L[1000:])])
    check_outputs(tmp_path, batch(tmp_path, L))


def test_each_new_finding_is_alerted_at_once(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    xmrig = next(i for i, line in enumerate(EVE_LINES) if '"alert"' in line and '"signature_id":2024792' in line
                 and "192.168.77.20" in line)
    eve.write_text("", "utf-8")
    seen: list[int] = []
    alerts = tmp_path / "alerts.jsonl"

    def count() -> None:
        seen.append(len(alerts.read_text("utf-8").splitlines()) if alerts.exists() else 0)

    run(tmp_path, "suricata", [str(eve)], [append(eve, [EVE_LINES[xmrig]]), count])
    assert seen == [1]  # written in the poll that read the line, before any rollup or stop
    (doc,) = [json.loads(line) for line in alerts.read_text("utf-8").splitlines()]
    assert doc["minesweep"]["agent"] == "XMRig/2.13.1 (Windows NT 10.0; Win64; x64) libuv/1.24.0 msvc/2017"
    assert doc["event"]["action"] == "mining-found" and doc["source"]["ip"] == "192.168.77.20"


def test_reports_roll_up_on_the_injectable_clock(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_text("".join(EVE_LINES[:600]), "utf-8")
    out = tmp_path / "out" / "findings.json"
    observed: list[bool] = []
    script_ref: list[Script] = []

    def advance(seconds: float) -> Callable[[], None]:
        def step() -> None:
            script_ref[0].now += seconds
        return step

    def look() -> None:
        observed.append(out.exists())

    steps = [look, advance(1700), look, advance(1900), append(eve, EVE_LINES[600:700]), look]
    script = Script(steps)
    script_ref.append(script)
    opts = LiveOptions("suricata", [str(eve)], tmp_path / "out", tmp_path / "cp.json", alerts=tmp_path / "a.jsonl",
                       report_every=parse_duration("1h"), clock=script.clock, sleep=script.sleep,
                       install_signals=False)
    runner = LiveRunner(opts)
    script.runner = runner
    runner.run()
    assert observed == [False, False, True]  # first rollup after one hour of the injected clock
    stats_events = sum('"event_type":"stats"' in line for line in EVE_LINES[:700])
    assert json.loads(out.read_text("utf-8"))["sensor"]["records"] == 700 - stats_events


def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_text("".join(EVE_LINES[:300]), "utf-8")
    before = signal.getsignal(signal.SIGTERM)

    def term() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    run(tmp_path, "suricata", [str(eve)], [term, append(eve, EVE_LINES[300:310])], install_signals=True)
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored
    state = json.loads((tmp_path / "state" / "checkpoint.json").read_text("utf-8"))
    stats_events = sum('"event_type":"stats"' in line for line in EVE_LINES[:300])
    assert state["detector"]["records_seen"] == 300 - stats_events  # stopped before the next step ran
    assert (tmp_path / "out" / "report.md").exists()


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_text("", "utf-8")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "checkpoint.json").write_text("{not json", "utf-8")
    with pytest.raises(InputError, match="corrupt checkpoint"):
        run(tmp_path, "suricata", [str(eve)], [])


def test_damaged_lines_while_following_are_counted(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_text("".join(EVE_LINES[:50]) + "{broken\n" + '{"event_type":"stats","timestamp":"2024-01-01T00:00:00+0000"}\n'
                   + "x" * (2 << 20) + "\n" + "".join(EVE_LINES[50:60]), "utf-8")
    run(tmp_path, "suricata", [str(eve)], [])
    doc = json.loads((tmp_path / "out" / "findings.json").read_text("utf-8"))
    entry, follow = doc["inputs"]
    stats_events = sum('"event_type":"stats"' in line for line in EVE_LINES[:60])
    assert entry["records"] == 60 - stats_events and entry["malformed"] == 1
    assert entry["skipped"]["event_type:stats"] == stats_events + 1
    assert any("bad_json" in w for w in entry["warnings"])
    assert follow["format"] == "follow" and follow["skipped"] == {"too_long": 1}
    assert any("skipped (longer than" in w for w in follow["warnings"])


# --------------------------------------------------------------------------- Zeek


def _split(src: Path) -> tuple[list[str], list[str]]:
    lines = src.read_text("utf-8").splitlines(keepends=True)
    return [x for x in lines if x.startswith("#") and not x.startswith("#close")], [x for x in lines if not x.startswith("#")]


def test_zeek_current_directory_with_rotation_and_restart_mid_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    current = logs / "current"
    current.mkdir(parents=True)
    parts = {kind: _split(SENSORS / "zeek" / f"{kind}.log") for kind in ("conn", "dns", "ssl", "x509", "notice")}
    for kind, (header, data) in parts.items():
        (current / f"{kind}.log").write_text("".join(header + data[: len(data) // 3]), "utf-8")
    conn_h, conn_d = parts["conn"]

    def rotate_conn() -> None:  # ZeekControl: the hour's file moves to an archive, a new one starts
        (logs / "2024-05-01").mkdir()
        os.rename(current / "conn.log", logs / "2024-05-01" / "conn.00:00:00-01:00:00.log")
        (current / "conn.log").write_text("".join(conn_h + conn_d[len(conn_d) // 3: 2 * len(conn_d) // 3]), "utf-8")

    run(tmp_path, "zeek", [str(logs)], [rotate_conn])
    rest = [append(current / f"{kind}.log", data[len(data) // 3:]) for kind, (_, data) in parts.items() if kind != "conn"]
    rest.append(append(current / "conn.log", conn_d[2 * len(conn_d) // 3:]))
    run(tmp_path, "zeek", [str(logs)], rest)  # restart: every file resumed mid-file needs its header again
    expected, _ = analyze_zeek([SENSORS / "zeek"], SidecarOptions())
    doc = json.loads((tmp_path / "out" / "findings.json").read_text("utf-8"))
    got = {(s["client"], s["server"], s["server_port"]): s for s in doc["sessions"]}
    want = {(s["client"], s["server"], s["server_port"]): s for s in expected["sessions"]}
    assert got.keys() == want.keys()
    for key, s in want.items():
        assert (got[key]["confidence"], got[key]["bytes_c2s"], got[key]["dialect"]) == (
            s["confidence"], s["bytes_c2s"], s["dialect"]), key
    assert all(i["malformed"] == 0 for i in doc["inputs"])
    ids = alert_ids(tmp_path / "alerts.jsonl")
    assert len(ids) == len(set(ids))


def test_follow_patterns() -> None:
    assert follow_patterns("zeek", [str(SENSORS / "zeek")]) == [str(SENSORS / "zeek" / "*.log"),
                                                              str(SENSORS / "zeek" / "current" / "*.log")]
    assert follow_patterns("suricata", ["/var/log/suricata/eve*.json"]) == ["/var/log/suricata/eve*.json"]
    with pytest.raises(InputError, match="no such file"):
        follow_patterns("suricata", ["/nonexistent/eve.json"])


@pytest.mark.parametrize("text, seconds", [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1d", 86400.0),
                                           ("90", 90.0), ("1.5h", 5400.0), (" 2 min ", 120.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-5m", "0s", "1w", "1h30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text)


def test_an_output_inside_the_followed_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "eve.json").write_text("", "utf-8")
    opts = LiveOptions("suricata", [str(tmp_path / "eve*.json")], tmp_path / "out", tmp_path / "cp.json",
                       alerts=tmp_path / "eve-alerts.json", install_signals=False)
    with pytest.raises(InputError, match="would be followed as input"):
        LiveRunner(opts)
