#!/usr/bin/env python3
"""Time ``minesweep scan`` against its peers on one capture, in one run, one tool at a time.

    python benchmarks/run.py CAPTURE [--minesweep PATH] [--peers all|ndpi,tshark,dpkt,scapy,pyshark,rawloop]
                             [--pyshark-slice 2000] [--out benchmarks/results] [--truth CAPTURE.truth.json]

Each tool runs as its own process under ``/usr/bin/time -v`` (peak RSS = "Maximum resident set
size"; user+sys CPU), strictly sequentially, after the capture has been read once so every tool
starts with a warm page cache. Wall time is measured around the process with a monotonic clock.
Rows: wall s, CPU s, packets/s, MB/s (capture file bytes / wall), peak RSS, the speed ratio
(peer wall / minesweep wall: > 1 means minesweep is faster), and what each tool flagged compared
with the generator's truth (``<capture>.truth.json``). For minesweep the check is exact: the set
of confirmed sessions (client, server, server_port) in its findings.json must equal the truth set.

Tools (see README.md for why each command is the fair one):
  minesweep  MINESWEEP scan CAPTURE --out TMPDIR          (skipped with a note if not installed)
  ndpi       ndpiReader -i CAPTURE                         (Debian libndpi-bin; prints only its summary)
  tshark     tshark -n -r CAPTURE -Y FILTER -T fields ...  (FILTER = peers.TSHARK_FILTER)
  dpkt, scapy, rawloop   python benchmarks/peers.py NAME CAPTURE
  pyshark    python benchmarks/peers.py pyshark CAPTURE --limit N   (rate extrapolated)

Writes OUT/results.json and OUT/results.md. Public: ``run(args) -> dict``, ``main(argv) -> int``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402

TIME_BIN = "/usr/bin/time"
ALL_PEERS = ("ndpi", "tshark", "dpkt", "scapy", "pyshark", "rawloop")
Session = tuple[str, str, int]


class BenchError(Exception):
    """The benchmark cannot run at all (bad capture path, unreadable truth file, ...)."""


@dataclass
class Row:
    """One tool's measurement."""

    tool: str
    command: list[str]
    version: str = ""
    status: str = "ok"  #: ok | skipped | failed | timeout
    note: str = ""
    packets: int | None = None  #: records the tool went through (a slice for pyshark)
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    pps: float | None = None
    mb_s: float | None = None
    extrapolated: bool = False  #: pps/wall come from a slice, scaled to the whole capture
    full_wall_s: float | None = None  #: wall for the whole capture (measured, or extrapolated)
    speed_ratio: float | None = None  #: this tool's wall / minesweep's wall
    flagged_flows: int | None = None
    truth_miners_flagged: int | None = None
    sessions_equal_truth: bool | None = None  #: minesweep only
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    runs_s: list[float] = field(default_factory=list)  #: wall of every timed run (--repeat); wall_s is their median


# ---------------------------------------------------------------------------------------------
def _parse_time_v(text: str) -> dict[str, float]:
    """Fields of GNU time -v output we use: max RSS (kB), user and system seconds, exit status."""
    out: dict[str, float] = {}
    for key, pat in (("rss_kb", r"Maximum resident set size \(kbytes\): (\d+)"),
                     ("user", r"User time \(seconds\): ([\d.]+)"),
                     ("sys", r"System time \(seconds\): ([\d.]+)"),
                     ("exit", r"Exit status: (\d+)")):
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out


def _measure(cmd: list[str], stdout_path: Path, timeout: float) -> tuple[float, dict[str, float], str, int]:
    """Run ``cmd`` under /usr/bin/time -v; returns wall seconds, time -v fields, stderr, rc."""
    wrapped = [TIME_BIN, "-v", *cmd] if os.access(TIME_BIN, os.X_OK) else cmd
    with open(stdout_path, "wb") as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(wrapped, stdout=out, stderr=err)
        # a blocking wait, with a watchdog for the timeout: Popen.wait(timeout) (and so
        # subprocess.run(timeout=...)) polls with sleeps growing to 50 ms, and saw a tool end up to
        # 50 ms late — every wall time was rounded up to that grid
        watchdog = threading.Timer(timeout, p.kill)
        watchdog.start()
        try:
            rc = p.wait()
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - t0
        if rc == -signal.SIGKILL and wall >= timeout:
            rc = -9  # timed out
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return wall, _parse_time_v(stderr), stderr, rc


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("\t")
             and not ln.startswith("Command exited with non-zero status") and "Running as user" not in ln]
    return lines[-1].strip()[:200] if lines else ""


def _version(cmd: list[str], pattern: str, env: dict[str, str] | None = None) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(0) if m else ""


def _py_version(mod: str) -> str:
    try:
        from importlib.metadata import version
        return f"{mod} {version(mod)}"
    except Exception:  # not installed
        return ""


def load_truth(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        truth = json.loads(path.read_text())
        truth["miners"] = list(truth["miners"])
        return truth
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError(f"{path}: not a truth file written by gen_capture.py ({e})") from e


def truth_sessions(truth: dict[str, Any]) -> set[Session]:
    return {(m["client"], m["server"], int(m["server_port"])) for m in truth["miners"]}


def truth_flows(truth: dict[str, Any]) -> set[str]:
    return {peers.flow_key(m["client"], m["client_port"], m["server"], m["server_port"]) for m in truth["miners"]}


def findings_sessions(path: Path) -> set[Session]:
    """Confirmed sessions of a findings.json (same reading as ../shared/tools/corpus_check.py)."""
    doc = json.loads(path.read_text())
    return {(s["client"], s["server"], int(s["server_port"])) for s in doc.get("sessions", [])
            if s.get("confidence", "confirmed") == "confirmed"}


def _fmt_session(s: Session) -> str:
    return f"{s[0]} -> {s[1]}:{s[2]}"


# ---------------------------------------------------------------------------------------------
def _find_minesweep(given: str | None) -> str | None:
    if given:
        return given if os.access(given, os.X_OK) and Path(given).is_file() else None
    for cand in (HERE.parent / ".venv" / "bin" / "minesweep", shutil.which("minesweep")):
        if cand and os.access(cand, os.X_OK):
            return str(cand)
    return None


def _cpu(tv: dict[str, float]) -> float | None:
    """User + system seconds of a run, from time -v (None without it)."""
    return round(tv["user"] + tv.get("sys", 0.0), 2) if "user" in tv else None


def _rates(row: Row, wall: float, total: int, size: int) -> None:
    """The row's whole-capture wall, packets/s and MB/s for a run of ``wall`` seconds."""
    row.full_wall_s = round(wall, 3)
    row.pps = round(total / wall, 1)
    row.mb_s = round(size / wall / 1e6, 2)


def _finish(row: Row, wall: float, tv: dict[str, float], stderr: str, rc: int, total: int,
            size: int) -> None:
    row.wall_s = round(wall, 3)
    row.runs_s = [row.wall_s]
    row.cpu_s = _cpu(tv)
    if "rss_kb" in tv:
        row.peak_rss_mb = round(tv["rss_kb"] / 1024, 1)
    if rc == -9:
        row.status, row.note = "timeout", "killed at the time limit"
    elif rc != 0:
        row.status, row.note = "failed", f"exit {rc}: {_last_line(stderr)}"
    if row.status == "ok" and row.packets is None:
        row.packets = total
    if row.status == "ok" and not row.extrapolated:
        _rates(row, wall, total, size)


def bench_minesweep(exe: str | None, cap: Path, truth: dict[str, Any] | None, total: int, size: int,
                    timeout: float, work: Path) -> Row:
    row = Row("minesweep", [exe or "minesweep", "scan", str(cap), "--out", "TMPDIR"])
    if exe is None:
        row.status, row.note = "skipped", "minesweep executable not found (pip install -e . or --minesweep PATH)"
        return row
    # `--version` imports every command: run it so that their bytecode is written, as an installed
    # package has it (a PYTHONDONTWRITEBYTECODE environment would otherwise compile the modules
    # changed since the last write on every run, inside the measured time)
    compiling = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    row.version = _version([exe, "--version"], r"\S*\s*\d+\.\d+\S*", compiling)
    outdir = work / "minesweep-out"
    outdir.mkdir()
    row.command[-1] = str(outdir)
    wall, tv, err, rc = _measure(row.command, work / "minesweep.stdout", timeout)
    fj = outdir / "findings.json"
    if rc > 0 and fj.is_file():  # a non-zero exit that still wrote findings (e.g. "mining found")
        _finish(row, wall, tv, err, 0, total, size)
        row.note = f"exit {rc}"
    else:
        _finish(row, wall, tv, err, rc, total, size)
    if row.status == "ok":
        if not fj.is_file():
            row.status, row.note = "failed", "no findings.json written"
        elif truth is not None:
            try:
                got = findings_sessions(fj)
            except (OSError, ValueError, KeyError, TypeError) as e:
                row.status, row.note = "failed", f"findings.json unreadable: {e}"
                return row
            want = truth_sessions(truth)
            row.flagged_flows = len(got)
            row.truth_miners_flagged = len(want & got)
            row.sessions_equal_truth = got == want
            row.missing = sorted(_fmt_session(s) for s in want - got)[:50]
            row.extra = sorted(_fmt_session(s) for s in got - want)[:50]
    return row


def _repeat(rows: list[Row], rounds: int, under: float, total: int, size: int, timeout: float, work: Path) -> None:
    """``rounds`` more timed runs of each tool whose first run took under ``under`` seconds, in
    rounds over those tools (so that a drift of the machine touches them alike); each such row
    then shows the median wall (CPU of that run) and the highest peak RSS of its runs."""
    quick = [r for r in rows if r.status == "ok" and not r.extrapolated and r.wall_s is not None and r.wall_s < under]
    cpu = {id(r): [r.cpu_s] for r in quick}  # of each run, beside r.runs_s
    for _ in range(rounds):
        for r in quick:
            wall, tv, _err, rc = _measure(r.command, work / "repeat.stdout", timeout)
            if rc != 0 and not (r.tool == "minesweep" and rc > 0):
                continue  # a failed repeat is not a time
            r.runs_s.append(round(wall, 3))
            cpu[id(r)].append(_cpu(tv))
            if "rss_kb" in tv:
                r.peak_rss_mb = max(r.peak_rss_mb or 0.0, round(tv["rss_kb"] / 1024, 1))
    for r in quick:
        median = sorted(range(len(r.runs_s)), key=r.runs_s.__getitem__)[(len(r.runs_s) - 1) // 2]
        r.wall_s = r.runs_s[median]  # (the lower middle of an even count)
        r.cpu_s = cpu[id(r)][median]
        _rates(r, r.wall_s, total, size)


def _tshark_flows(stdout: Path) -> set[str]:
    flows: set[str] = set()
    with open(stdout, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) != 6:
                continue
            src, dst = f[0] or f[1], f[3] or f[4]
            if src and dst and f[2] and f[5]:
                flows.add(peers.flow_key(src.split(",")[0], int(f[2].split(",")[0]),
                                         dst.split(",")[0], int(f[5].split(",")[0])))
    return flows


def _ndpi_flows(csv_path: Path) -> set[str]:
    flows: set[str] = set()
    if not csv_path.is_file():
        return flows
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
        rd = csv.reader(fh)
        head = next(rd, None)
        if not head:
            return flows
        col = {name.lstrip("#"): i for i, name in enumerate(head)}
        need = ("src_ip", "src_port", "dst_ip", "dst_port", "ndpi_proto")
        if not all(k in col for k in need):
            return flows
        for r in rd:
            if len(r) > col["ndpi_proto"] and "Mining" in r[col["ndpi_proto"]]:
                flows.add(peers.flow_key(r[col["src_ip"]], int(r[col["src_port"]]),
                                         r[col["dst_ip"]], int(r[col["dst_port"]])))
    return flows


def bench_peer(name: str, cap: Path, truth: dict[str, Any] | None, total: int, size: int,
               timeout: float, work: Path, pyshark_slice: int) -> Row:
    py = [sys.executable, str(HERE / "peers.py")]
    stdout = work / f"{name}.stdout"
    if name == "ndpi":
        exe = shutil.which("ndpiReader")
        row = Row("ndpiReader", ["ndpiReader", "-i", str(cap)])
        if exe is None:
            row.status, row.note = "skipped", "ndpiReader not installed (Debian package libndpi-bin)"
            return row
        if _head(cap, 2) == b"\x1f\x8b":
            row.status, row.note = "skipped", "libpcap cannot read gzip captures"
            return row
        row.version = _version([exe, "-h"], r"nDPI \(?[\d.]+")
    elif name == "tshark":
        exe = shutil.which("tshark")
        row = Row("tshark", ["tshark", "-n", "-r", str(cap), "-Y", peers.TSHARK_FILTER, "-T", "fields",
                             "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                             "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport"])
        if exe is None:
            row.status, row.note = "skipped", "tshark not installed"
            return row
        row.version = _version([exe, "--version"], r"TShark \(Wireshark\) [\d.]+")
    elif name in ("dpkt", "scapy", "rawloop", "pyshark"):
        row = Row(name if name != "rawloop" else "python loop (rawloop)", [*py, name, str(cap)])
        if name != "rawloop":
            row.version = _py_version(name)
            if not row.version:
                row.status, row.note = "skipped", f"{name} not installed"
                return row
        else:
            row.version = f"Python {platform.python_version()}"
        if name == "pyshark":
            if shutil.which("tshark") is None:
                row.status, row.note = "skipped", "pyshark needs tshark"
                return row
            n = min(pyshark_slice, total)
            row.command += ["--limit", str(n)]
            row.extrapolated = True
    else:
        raise BenchError(f"unknown peer {name!r} (choose from {', '.join(ALL_PEERS)})")
    row.command[0] = shutil.which(row.command[0]) or row.command[0]
    wall, tv, err, rc = _measure(row.command, stdout, timeout)
    _finish(row, wall, tv, err, rc, total, size)
    if row.status != "ok":
        return row
    flows: set[str] | None = None
    if name == "ndpi":
        # flows need the per-flow CSV; writing it is not part of the timed run (it adds ~5 %)
        subprocess.run([row.command[0], "-i", str(cap), "-C", str(work / "ndpi.csv")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        flows = _ndpi_flows(work / "ndpi.csv")
        row.note = "flagged = flows nDPI labels Mining (its own detection; from an untimed second run with -C)"
    elif name == "tshark":
        flows = _tshark_flows(stdout)
    else:
        try:
            res = json.loads(stdout.read_text())
        except ValueError:
            row.status, row.note = "failed", "peer printed no result"
            return row
        flows = set(res["flows"])
        row.packets = int(res["packets"])
        if name == "pyshark":
            loop = float(res["loop_seconds"])
            rate = row.packets / loop if loop > 0 else 0.0
            row.pps = round(rate, 1)
            row.full_wall_s = round(total / rate + (wall - loop), 1) if rate else None
            row.mb_s = round(size / row.full_wall_s / 1e6, 3) if row.full_wall_s else None
            row.note = (f"slice of the first {row.packets} records ({wall:.1f} s wall incl. start-up, CPU and RSS "
                        f"of the slice); packets/s from the loop; whole-capture wall extrapolated")
            flows = None  # a slice cannot be compared with the whole capture's truth
    if flows is not None and truth is not None:
        want = truth_flows(truth)
        row.flagged_flows = len(flows)
        row.truth_miners_flagged = len(want & flows)
    return row


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


# ---------------------------------------------------------------------------------------------
def _warm(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass
    return time.perf_counter() - t0


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_at_start": list(os.getloadavg())}


def run(a: argparse.Namespace) -> dict[str, Any]:
    cap = Path(a.capture)
    if not cap.is_file():
        raise BenchError(f"{cap}: no such capture file")
    if _head(cap, 4) not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                            b"\xa1\xb2\x3c\x4d") and _head(cap, 2) != b"\x1f\x8b":
        raise BenchError(f"{cap}: not a classic pcap (gen_capture.py output) or gzip of one")
    names = list(ALL_PEERS) if a.peers == "all" else [] if a.peers == "none" else [
        p.strip() for p in a.peers.split(",") if p.strip()]
    for n in names:
        if n not in ALL_PEERS:
            raise BenchError(f"unknown peer {n!r} (choose from all or {', '.join(ALL_PEERS)})")
    truth = load_truth(Path(a.truth) if a.truth else Path(str(cap) + ".truth.json"))
    size = cap.stat().st_size
    warm_s = _warm(cap)
    try:
        total = int(truth["packets"]) if truth else peers.count_records(str(cap))
    except (OSError, ValueError, EOFError) as e:
        raise BenchError(f"{cap}: cannot count records ({e})") from e
    notes = []
    if not os.access(TIME_BIN, os.X_OK):
        notes.append("/usr/bin/time missing (install Debian package 'time'): no peak RSS or CPU figures")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="msbench-") as tmp:
        work = Path(tmp)
        rows.append(bench_minesweep(_find_minesweep(a.minesweep), cap, truth, total, size, a.timeout, work))
        for n in names:
            rows.append(bench_peer(n, cap, truth, total, size, a.timeout, work, a.pyshark_slice))
        if a.repeat > 1:
            _repeat(rows, a.repeat - 1, a.repeat_under, total, size, a.timeout, work)
    ms = rows[0]
    for r in rows[1:]:
        if ms.status == "ok" and ms.full_wall_s and r.full_wall_s:
            r.speed_ratio = round(r.full_wall_s / ms.full_wall_s, 2)
    if ms.status == "ok":
        ms.speed_ratio = 1.0
    return {
        "capture": str(cap), "capture_bytes": size, "packets": total,
        "truth": {"file": str(cap) + ".truth.json", "miners": len(truth["miners"]), "flows": truth.get("flows")}
        if truth else None,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(), "page_cache_warmup_s": round(warm_s, 2),
        "tshark_filter": peers.TSHARK_FILTER, "method_regex": peers.METHOD_PATTERN,
        "repeat": a.repeat, "repeat_under_s": a.repeat_under,
        "notes": notes, "rows": [asdict(r) for r in rows],
    }


def _cell(v: Any, fmt: str = "{}") -> str:
    return "—" if v is None else fmt.format(v)


def render_md(res: dict[str, Any]) -> str:
    t = res["truth"]
    lines = [
        "# minesweep speed benchmark",
        "",
        f"Capture `{res['capture']}`: {res['packets']:,} packets, {res['capture_bytes'] / 1e6:,.1f} MB"
        + (f", {t['flows']:,} flows, {t['miners']} miners (truth file)" if t and t.get("flows") else ""),
        f"Run {res['date']} on {res['machine']['cpus']} CPUs ({res['machine']['cpu_model']}), "
        f"load average at start {', '.join(f'{x:.2f}' for x in res['machine']['loadavg_at_start'])}; "
        "tools run one at a time on a warm page cache."
        + (f" Tools that took under {res['repeat_under_s']:g} s were run {res['repeat']} times, in rounds over"
           " them: their wall time is the median run's (see *runs*)." if res.get("repeat", 1) > 1 else ""),
        "",
        "| tool | version | wall s | CPU s | packets/s | MB/s | peak RSS MB | minesweep speed × | flagged flows | truth miners flagged | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    nm = t["miners"] if t else None
    for r in res["rows"]:
        wall = _cell(r["full_wall_s"], "{:,.2f}")
        if r["extrapolated"] and r["full_wall_s"] is not None:
            wall = f"~{r['full_wall_s']:,.0f} (extrapolated)"
        note = r["note"] if r["status"] in ("ok",) else f"**{r['status']}**: {r['note']}"
        if r["tool"] == "minesweep" and r["sessions_equal_truth"] is not None:
            verdict = "equal to truth" if r["sessions_equal_truth"] else (
                f"NOT equal to truth: {len(r['missing'])} missing, {len(r['extra'])} extra")
            note = f"confirmed sessions {verdict}" + (f"; {note}" if note else "")
        miners = _cell(r["truth_miners_flagged"]) + (f" / {nm}" if nm is not None and r["truth_miners_flagged"] is not None else "")
        lines.append("| " + " | ".join([
            r["tool"], r["version"] or "—", wall,
            _cell(r["cpu_s"], "{:,.2f}") + (" (slice)" if r["extrapolated"] else ""), _cell(r["pps"], "{:,.0f}"),
            _cell(r["mb_s"], "{:,.2f}"), _cell(r["peak_rss_mb"], "{:,.1f}") + (" (slice)" if r["extrapolated"] else ""),
            _cell(r["speed_ratio"], "{:,.2f}"), _cell(r["flagged_flows"]), miners, note.replace("|", "/"),
        ]) + " |")
    lines += [
        "",
        "*minesweep speed ×* = the tool's wall time / minesweep's wall time (> 1: minesweep is faster).",
        "*flagged flows*: flows where the tool found a mining method (dpkt, scapy, pyshark, the Python loop and",
        "tshark all search TCP payloads with the same regex; ndpiReader uses its own Mining detection;",
        "minesweep: confirmed sessions in findings.json).",
        "",
        f"tshark display filter: `{res['tshark_filter']}`",
        "",
    ]
    repeated = [r for r in res["rows"] if len(r.get("runs_s") or []) > 1]
    if repeated:
        lines.append("*runs* (wall s of each timed run, in order):")
        lines.append("")
        lines += [f"- {r['tool']}: {', '.join(f'{w:.3f}' for w in r['runs_s'])}" for r in repeated]
        lines.append("")
    lines += [f"- {n}" for n in res["notes"]]
    lines.append("Commands:")
    lines.append("")
    for r in res["rows"]:
        lines.append(f"- {r['tool']}: `{' '.join(_shorten(c) for c in r['command'])}`")
    return "\n".join(lines) + "\n"


def _shorten(arg: str) -> str:
    if arg == peers.TSHARK_FILTER:
        return "'FILTER'"
    return arg if " " not in arg else f"'{arg}'"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="run.py", description="Time minesweep scan and its peers on one capture.")
    p.add_argument("capture")
    p.add_argument("--minesweep", default=None, help="minesweep executable (default: .venv/bin/minesweep, then PATH)")
    p.add_argument("--peers", default="all", help=f"all, none (minesweep only), or a comma list of {','.join(ALL_PEERS)}")
    p.add_argument("--pyshark-slice", type=int, default=2000, help="records pyshark reads (rate extrapolated)")
    p.add_argument("--out", default=str(HERE / "results"), help="directory for results.json / results.md")
    p.add_argument("--truth", default=None, help="truth file (default CAPTURE.truth.json)")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds allowed per tool")
    p.add_argument("--repeat", type=int, default=1,
                   help="timed runs of each quick tool, in rounds over them; the table shows the median (default 1)")
    p.add_argument("--repeat-under", type=float, default=20.0, metavar="SECONDS",
                   help="a tool is repeated when its first run took less than this (default 20)")
    a = p.parse_args(argv)
    if a.pyshark_slice < 1:
        p.error("--pyshark-slice must be >= 1")
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    try:
        res = run(a)
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
        md = render_md(res)
        (out / "results.md").write_text(md)
    except (BenchError, OSError) as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
