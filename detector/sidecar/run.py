"""What the sidecar's batch and follow runs share: options, input records, writing the reports.

Public API

``SidecarOptions``                 scan options (subnets, PUE, attribution, ...) plus the sidecar's
``InputTracker`` / ``InputEntry``  one findings.json ``inputs[]`` record per file read
``write_reports(findings, out_dir, lang) -> list[Path]``
    findings.json, report.md, hosts.csv and ``detector.commands.report.write_outputs`` (report.html,
    iocs.csv, sessions.csv, subnets.csv): the same files ``minesweep scan`` writes.
``parse_duration(text) -> float``  "30s", "5m", "1h", "1d", "90" (seconds) -> seconds
``add_arguments(parser, kind)`` / ``run_command(kind, args, stdout=None) -> int``
    the command line shared by ``minesweep zeek`` and ``minesweep suricata`` (batch and follow)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from detector.argtypes import add_findings_options
from detector.errors import InputError, UnreadableInputError
from detector.scan import ScanOptions
from detector.sensors import ReadStats

__all__ = ["InputEntry", "InputTracker", "SidecarOptions", "parse_duration", "write_reports"]

MAX_INPUT_WARNINGS = 200
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*\Z", re.IGNORECASE)
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass
class SidecarOptions:
    scan: ScanOptions = field(default_factory=ScanOptions)
    min_confidence: str = "suspected"
    flow_shape: bool = True
    rules_dir: Path | None = None


def parse_duration(text: str) -> float:
    """Seconds in "30s", "5m", "1h", "1d" or a bare number of seconds; InputError otherwise."""
    m = _DURATION.match(text or "")
    if not m:
        raise InputError(f"{text!r}: not a duration (use e.g. 30s, 5m, 1h, 1d)")
    value = float(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None]
    if value <= 0:
        raise InputError(f"{text!r}: a duration must be positive")
    return value


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


@dataclass
class InputEntry:
    path: Path
    stats: ReadStats
    first_ts: float | None = None
    last_ts: float | None = None
    no_time: int = 0

    def saw_time(self, ts: object) -> None:
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            t = float(ts)
            self.first_ts = t if self.first_ts is None else min(self.first_ts, t)
            self.last_ts = t if self.last_ts is None else max(self.last_ts, t)


def stats_warnings(stats: ReadStats, no_time: int = 0) -> list[str]:
    """The reader's warnings plus one line per skip reason (unknown event types included)."""
    out = list(stats.warnings)
    if stats.warnings_dropped:
        out.append(f"{stats.warnings_dropped} more warnings not kept")
    for reason, n in sorted(stats.skipped.items()):
        if reason == "comment":
            continue
        if reason.startswith("event_type:"):
            out.append(f"skipped {n} events of type {reason.split(':', 1)[1]} (not used)")
        else:
            out.append(f"{reason}: {n}")
    if no_time:
        out.append(f"skipped: {no_time} records without a usable ts")
    return out[:MAX_INPUT_WARNINGS]


class InputTracker:
    """Builds findings.json ``inputs[]`` for the files a run reads."""

    def __init__(self) -> None:
        self.entries: list[InputEntry] = []

    def start(self, path: Path, stats: ReadStats) -> InputEntry:
        entry = InputEntry(path, stats)
        self.entries.append(entry)
        return entry

    def records(self, hash_files: bool = True) -> list[dict[str, Any]]:
        out = []
        for e in self.entries:
            try:
                size = os.path.getsize(e.path)
            except OSError:
                size = 0
            s = e.stats
            out.append({
                "path": str(e.path), "sha256": sha256_of(e.path) if hash_files else "",
                "format": s.format, "size": size, "packets": s.records, "bytes": size,
                "first_ts": e.first_ts, "last_ts": e.last_ts, "linktypes": [],
                "warnings": stats_warnings(s, e.no_time),
                "records": s.records, "malformed": s.malformed, "skipped": dict(sorted(s.skipped.items())),
            })
        return out


def write_reports(findings: dict[str, Any], out_dir: Path, lang: str = "en") -> list[Path]:
    """The files ``minesweep scan`` writes, from the same writers."""
    from detector.commands.report import write_outputs
    from detector.output.findings import write_findings
    from detector.output.markdown import write_markdown
    from detector.output.tables import write_hosts_csv

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_outputs(findings, out_dir, lang, first=(
            lambda: write_findings(findings, out_dir), lambda: write_markdown(findings, out_dir),
            lambda: write_hosts_csv(findings, out_dir)))
    except OSError as exc:
        raise UnreadableInputError(f"{out_dir}: cannot write the reports ({exc.strerror or exc})") from None
    return paths


# --------------------------------------------------------------------------- command line


def add_arguments(p: Any, kind: str) -> None:
    """The options ``minesweep zeek`` and ``minesweep suricata`` share."""
    import argparse

    from detector.output import LANGS

    def duration(text: str) -> float:
        try:
            return parse_duration(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    p.add_argument("--follow", action="store_true",
                   help="keep following the files as the sensor writes them (stop with SIGTERM / Ctrl-C)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="follow mode: where to keep offsets and state (default OUT/checkpoint.json)")
    p.add_argument("--alerts", metavar="FILE",
                   help="ECS JSON alert lines: a file, or '-' for stdout (follow mode default: stdout)")
    p.add_argument("--report-every", type=duration, metavar="DURATION",
                   help="follow mode: rewrite the reports this often (30s, 5m, 1h, 1d; default: at stop)")
    p.add_argument("--min-confidence", choices=("suspected", "strong", "confirmed"), default="suspected",
                   help="lowest confidence reported (default suspected: everything)")
    p.add_argument("--no-flow-shape", action="store_true",
                   help="do not use connection shape (long-lived, small, steady) as weak evidence")
    add_findings_options(p)
    p.add_argument("--lang", choices=LANGS, default="en", help="language of report.html (default en)")
    p.add_argument("--quiet", action="store_true", help="no summary table")


def run_command(kind: str, args: Any, stdout: TextIO | None = None) -> int:
    """``minesweep zeek`` / ``minesweep suricata``: batch or follow."""
    import sys

    from detector.commands.scan import print_summary

    stdout = stdout or sys.stdout
    scan_options = ScanOptions(subnet_v4=args.subnet_v4, subnet_v6=args.subnet_v6, pue=args.pue,
                               registries=args.registry, asn_databases=args.asn_db,
                               public_categories=args.public, model=args.model,
                               command=getattr(args, "argv", ()))
    options = SidecarOptions(scan_options, args.min_confidence, not args.no_flow_shape)
    alerts = None if args.alerts in (None, "-") else Path(args.alerts)
    if args.follow:
        from detector.sidecar.live import LiveOptions, LiveRunner

        live = LiveOptions(kind, list(args.inputs), args.out, args.checkpoint or args.out / "checkpoint.json",
                           alerts=alerts, report_every=args.report_every, sidecar=options, lang=args.lang,
                           stdout=stdout)
        return LiveRunner(live).run()
    if args.checkpoint or args.report_every:
        raise InputError("--checkpoint and --report-every need --follow")
    if kind == "zeek":
        from detector.sidecar.zeek_cmd import analyze_zeek as analyze
    else:
        from detector.sidecar.suricata_cmd import analyze_eve as analyze
    doc, det = analyze(args.inputs, options)
    write_reports(doc, args.out, args.lang)
    _batch_alerts(det, kind, args.out, alerts, args.alerts == "-", stdout, options.min_confidence)
    if not args.quiet:
        print_summary(doc, stdout, unit="log records")
        print(f"wrote {args.out / 'findings.json'}, report.md, report.html, hosts.csv, sessions.csv, "
              "subnets.csv, iocs.csv, mining.log", file=stdout)
    return 0


def _batch_alerts(det: Any, kind: str, out: Path, alerts: Path | None, to_stdout: bool, stdout: TextIO,
                  min_confidence: str) -> None:
    """mining.log (always) and the ECS alerts (when asked) of every finding of a batch run."""
    import datetime as _dt
    import time

    from detector.sidecar.alerts import AlertStream, MiningLog, ecs_alert, mining_log_values
    from detector.sidecar.logs import RANK

    (out / "mining.log").unlink(missing_ok=True)
    log = MiningLog(out / "mining.log", time.time)
    created = _dt.datetime.now(_dt.UTC)
    fh = open(alerts, "w", encoding="utf-8") if alerts is not None else None  # noqa: SIM115
    try:
        stream = AlertStream(fh) if fh is not None else AlertStream(stdout) if to_stdout else None
        for f in sorted(det.findings.values(), key=lambda x: (x.first_seen, x.id)):
            if RANK[f.confidence] < RANK[min_confidence]:
                continue
            record = det.record(f)
            log.write(mining_log_values(record, f.id, kind))
            if stream is not None:
                stream.write(ecs_alert(record, f.id, kind, created))
    except OSError as exc:
        raise UnreadableInputError(f"cannot write alerts ({exc.strerror or exc})") from None
    finally:
        log.close()
        if fh is not None:
            fh.close()
