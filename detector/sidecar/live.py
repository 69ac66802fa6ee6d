"""Follow mode: tail the sensor's logs, alert on each new finding at once, roll the reports up.

``LiveRunner(options).run()`` follows the files (``detector.sensors.follow.Follower``: partial
lines wait, rotation by rename or copy-truncate, gzip archives recognised by content) and feeds
every complete line to the detector. After each poll, every finding that is new or whose
confidence rose is written at once as an ECS JSON line (``--alerts FILE`` or stdout) and a
``mining.log`` row (in the output directory). Every ``report_every`` seconds of the injectable
clock, and when the run stops, findings.json / report.md / hosts.csv / report.html / the CSVs are
rewritten from the detector's state.

Restart without loss or double counting: the checkpoint file (``--checkpoint FILE``) holds, in
one atomically replaced JSON document, the follower's offsets *and* the detector state that
results from exactly the lines before them, plus the sizes of the alert outputs at that moment.
The follower keeps its own checkpoint beside it (``FILE.follow``); on start it is rewritten from
the copy inside FILE, so the two can never disagree. Lines after the last checkpoint are read
again and rebuild the same state; alerts already written for them (a crash between writing an
alert and the next checkpoint) are recognised by their ``event.id`` in the output files and not
written twice. Alerts written to stdout cannot be read back: there, a crash can repeat them. Without a checkpoint
(first start, or a crash before the first one) every alert already in the output files counts as
written: remove them as well to alert afresh.

Memory is bounded: the follower reads at most 8 MiB per poll and skips over-long lines, the
detector's tables are capped (rules/sidecar.toml [limits]), at most ``MAX_FILES`` input files
are described individually (older ones are summed into one entry).

SIGTERM / SIGINT stop the loop after the current poll; the checkpoint and the reports are
written before ``run`` returns.

Public API: ``LiveOptions``, ``LiveRunner(options).run() -> int``, ``follow_patterns(kind, inputs)``,
``MAX_FILES``.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import glob
import json
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from detector.errors import InputError
from detector.sensors import ReadStats
from detector.sensors.follow import FollowedLine, Follower, install_stop_handlers, write_checkpoint
from detector.sensors.suricata import parse_eve_line
from detector.sensors.zeek import ZeekLineParser, log_type_from_name
from detector.sidecar.alerts import (
    AlertStream,
    MiningLog,
    ecs_alert,
    emitted_ids,
    mining_log_ids,
    mining_log_values,
)
from detector.sidecar.logs import RANK, Detector, Finding, findings_document
from detector.sidecar.run import SidecarOptions, stats_warnings, write_reports
from detector.sidecar.suricata_cmd import feed_eve
from detector.sidecar.zeek_cmd import feed_zeek

__all__ = ["LiveOptions", "LiveRunner", "MAX_FILES", "follow_patterns"]

STATE_VERSION = 1
MAX_FILES = 512


def follow_patterns(kind: str, inputs: list[str]) -> list[str]:
    """Glob patterns the follower watches: files and globs as given; a Zeek directory's ``*.log``
    and ``current/*.log``; a Suricata directory's ``eve*.json``."""
    out: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            if kind == "zeek":
                out += [str(p / "*.log"), str(p / "current" / "*.log")]
            else:
                out.append(str(p / "eve*.json"))
        elif p.exists() or glob.has_magic(raw):
            out.append(raw)
        else:
            raise InputError(f"{raw}: no such file, directory or matching glob")
    return out


@dataclass
class LiveOptions:
    kind: str  #: "zeek" or "suricata"
    inputs: list[str]
    out: Path
    checkpoint: Path
    alerts: Path | None = None  #: None: alerts go to ``stdout``
    report_every: float | None = None  #: seconds between report rollups (None: only at stop)
    sidecar: SidecarOptions = field(default_factory=SidecarOptions)
    lang: str = "en"
    poll_interval: float = 1.0
    commit_every: float = 15.0  #: seconds between checkpoints while lines keep coming
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stdout: TextIO | None = None
    install_signals: bool = True
    max_polls: int | None = None  #: stop after this many polls (tests)


class _Input:
    """What was read from one followed file (becomes an inputs[] record)."""

    __slots__ = ("path", "stats", "first_ts", "last_ts", "no_time", "lines")

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.lines = 0  #: physical lines received (line numbers of warnings)
        self.stats = ReadStats(path, format=fmt)
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.no_time = 0

    def saw(self, ts: object) -> None:
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            t = float(ts)
            self.first_ts = t if self.first_ts is None else min(self.first_ts, t)
            self.last_ts = t if self.last_ts is None else max(self.last_ts, t)

    def record(self) -> dict[str, Any]:
        s = self.stats
        return {"path": self.path, "sha256": "", "format": s.format, "size": 0, "packets": s.records,
                "bytes": 0, "first_ts": self.first_ts, "last_ts": self.last_ts, "linktypes": [],
                "warnings": stats_warnings(s, self.no_time), "records": s.records, "malformed": s.malformed,
                "skipped": dict(sorted(s.skipped.items()))}

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {"path": self.path, "format": s.format, "records": s.records, "malformed": s.malformed,
                "skipped": s.skipped, "warnings": s.warnings, "first_ts": self.first_ts,
                "last_ts": self.last_ts, "no_time": self.no_time, "lines": self.lines}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Input:
        i = cls(str(d["path"]), str(d["format"]))
        i.stats.records, i.stats.malformed = int(d["records"]), int(d["malformed"])
        i.stats.skipped = {str(k): int(v) for k, v in d["skipped"].items()}
        i.stats.warnings = [str(w) for w in d["warnings"]]
        i.first_ts, i.last_ts, i.no_time = d["first_ts"], d["last_ts"], int(d["no_time"])
        i.lines = int(d.get("lines", 0))
        return i


class LiveRunner:
    """One follow-mode run; see the module docstring."""

    def __init__(self, options: LiveOptions) -> None:
        self.o = options
        self.stdout = options.stdout or sys.stdout
        self.det = Detector(options.kind, rules_dir=options.sidecar.rules_dir,
                            flow_shape=options.sidecar.flow_shape)
        self.inputs: OrderedDict[str, _Input] = OrderedDict()
        self.earlier: _Input | None = None
        self.parsers: dict[str, ZeekLineParser] = {}
        self.seen_alerts: set[str] = set()
        self.seen_rows: set[str] = set()
        self.follow_cp = options.checkpoint.with_name(options.checkpoint.name + ".follow")
        self.mining_path = options.out / "mining.log"
        patterns = follow_patterns(options.kind, options.inputs)
        for own in (options.alerts, self.mining_path, options.checkpoint):
            if own is not None and any(fnmatch.fnmatch(os.path.abspath(own), os.path.abspath(p)) for p in patterns):
                raise InputError(f"{own}: an output of this run would be followed as input; write it elsewhere")
        self._load_state()
        self.follower = Follower(patterns, self.follow_cp,
                                 clock=time.monotonic, sleep=lambda s: None,
                                 poll_interval=options.poll_interval)
        self.alert_fh: TextIO | None = None
        self.mining: MiningLog | None = None

    # -- state ----------------------------------------------------------------------------------

    def _load_state(self) -> None:
        cp = self.o.checkpoint
        try:
            text = cp.read_text("utf-8")
        except FileNotFoundError:
            # a first start, or a crash before the first checkpoint: start from the beginning, and
            # do not repeat what the output files already hold (remove them to alert afresh)
            self.follow_cp.unlink(missing_ok=True)  # without our state its offsets mean nothing
            self.alerts_size = self.rows_size = 0
            if self.o.alerts is not None:
                self.seen_alerts = emitted_ids(self.o.alerts, 0)
            self.seen_rows = mining_log_ids(self.mining_path, 0)
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{cp}: cannot read checkpoint ({exc})") from None
        try:
            doc = json.loads(text)
            if doc.get("version") != STATE_VERSION or doc.get("kind") != self.o.kind:
                raise ValueError(f"version {doc.get('version')!r}, kind {doc.get('kind')!r}")
            write_checkpoint(self.follow_cp, json.dumps(doc["follower"], sort_keys=True))
            self.det.restore(doc["detector"])
            for item in doc["inputs"]:
                entry = _Input.from_json(item)
                self.inputs[entry.path] = entry
            self.earlier = _Input.from_json(doc["earlier"]) if doc.get("earlier") else None
            self.alerts_size, self.rows_size = int(doc["alerts_size"]), int(doc["rows_size"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{cp}: corrupt checkpoint ({exc}); remove it (and {self.follow_cp.name}) "
                             "to start over") from None
        if self.o.alerts is not None:
            self.seen_alerts = emitted_ids(self.o.alerts, self.alerts_size)
        self.seen_rows = mining_log_ids(self.mining_path, self.rows_size)

    def _commit(self) -> None:
        self.follower.commit()
        try:
            follower_doc = json.loads(self.follow_cp.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.follow_cp}: cannot read back the follower checkpoint ({exc})") from None
        if self.alert_fh is not None:
            self.alert_fh.flush()
            os.fsync(self.alert_fh.fileno())
        doc = {
            "version": STATE_VERSION, "kind": self.o.kind, "follower": follower_doc,
            "detector": self.det.state(), "inputs": [i.to_json() for i in self.inputs.values()],
            "earlier": self.earlier.to_json() if self.earlier else None,
            "alerts_size": os.fstat(self.alert_fh.fileno()).st_size if self.alert_fh is not None else 0,
            "rows_size": self.mining.size() if self.mining is not None else 0,
        }
        write_checkpoint(self.o.checkpoint, json.dumps(doc, separators=(",", ":")))

    # -- lines ----------------------------------------------------------------------------------

    def _input(self, path: str, fmt: str) -> _Input:
        entry = self.inputs.get(path)
        if entry is None:
            entry = self.inputs[path] = _Input(path, fmt)
            while len(self.inputs) > MAX_FILES:
                _, old = self.inputs.popitem(last=False)
                self._fold(old)
        return entry

    def _fold(self, old: _Input) -> None:
        if self.earlier is None:
            self.earlier = _Input("(earlier files)", old.stats.format)
        e = self.earlier
        e.stats.records += old.stats.records
        e.stats.malformed += old.stats.malformed
        for k, v in old.stats.skipped.items():
            e.stats.skipped[k] = e.stats.skipped.get(k, 0) + v
        e.saw(old.first_ts)
        e.saw(old.last_ts)
        e.no_time += old.no_time

    def _line(self, fl: FollowedLine) -> None:
        path = self.follower.path_of(fl.file_id) or fl.file_id
        name = os.path.basename(path)
        where = f"{name}@{fl.position}"
        if self.o.kind == "suricata":
            entry = self._input(path, "eve-json")
            entry.lines += 1
            ev = parse_eve_line(fl.line, entry.lines, path, entry.stats)
            if ev is not None:
                feed_eve(self.det, ev, where)
                entry.saw(ev.timestamp)
            return
        parser = self.parsers.get(fl.file_id)
        if parser is None:
            entry = self._input(path, "zeek")
            parser = ZeekLineParser(path, log_type=log_type_from_name(name), stats=entry.stats)
            if fl.position > 0:
                try:
                    parser.load_header(path)
                except InputError as exc:
                    entry.stats.warn(f"cannot re-read the header of {name}: {exc}")
            self.parsers[fl.file_id] = parser
            while len(self.parsers) > MAX_FILES:
                self.parsers.pop(next(iter(self.parsers)))
        entry = self._input(parser.source, "zeek")
        entry.lines += 1
        rec = parser.feed(fl.line, entry.lines)
        if rec is None:
            return
        entry.stats.format = f"zeek-{parser.format}" if parser.format else "zeek"
        if feed_zeek(self.det, rec, where):
            entry.saw(rec.fields.get("ts"))
        else:
            entry.no_time += 1

    # -- outputs --------------------------------------------------------------------------------

    def _emit(self, findings: list[Finding]) -> int:
        floor = RANK[self.o.sidecar.min_confidence]
        created = _dt.datetime.fromtimestamp(self.o.clock(), _dt.UTC)
        written = 0
        for f in findings:
            if RANK[f.confidence] < floor:
                continue
            record = self.det.record(f)
            action = "mining-found" if f.emitted is None else "confidence-raised"
            doc = ecs_alert(record, f.id, self.o.kind, created, action)
            if doc["event"]["id"] not in self.seen_alerts:
                if self.alert_fh is not None:
                    AlertStream(self.alert_fh).write(doc)
                else:
                    AlertStream(self.stdout).write(doc)
            row = mining_log_values(record, f.id, self.o.kind)
            if row[1] not in self.seen_rows and self.mining is not None:
                self.mining.write(row)
            f.emitted = f.confidence
            written += 1
        return written

    def _rollup(self) -> None:
        inputs = [i.record() for i in self.inputs.values()]
        if self.earlier is not None:
            inputs.insert(0, self.earlier.record())
        fs = self.follower.stats
        if fs.skipped or fs.warnings:  # rotation, truncation, over-long lines: the follower's notes
            inputs.append({"path": fs.path, "sha256": "", "format": "follow", "size": 0, "packets": 0,
                           "bytes": 0, "first_ts": None, "last_ts": None, "linktypes": [],
                           "warnings": stats_warnings(fs)[:50], "records": 0, "malformed": 0,
                           "skipped": dict(sorted(fs.skipped.items()))})
        doc = findings_document(self.det, inputs, self.o.sidecar.scan, self.o.sidecar.min_confidence)
        write_reports(doc, self.o.out, self.o.lang)

    # -- loop -----------------------------------------------------------------------------------

    def run(self) -> int:
        o = self.o
        for directory in (o.out, o.checkpoint.parent):
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{directory}: cannot create directory ({exc.strerror})") from None
        restore: Callable[[], None] | None = None
        clean = False
        try:
            if o.alerts is not None:
                self.alert_fh = open(o.alerts, "a", encoding="utf-8")  # noqa: SIM115 - closed below
            self.mining = MiningLog(self.mining_path, o.clock)
            if o.install_signals:
                restore = install_stop_handlers(self.follower)
            self._loop()
            self._commit()  # only after a clean stop: an error leaves the last good checkpoint
            self._rollup()
            clean = True
        finally:
            if restore is not None:
                restore()
            if self.mining is not None:
                if clean:
                    self.mining.close()
                else:
                    self.mining.fh.close()
            if self.alert_fh is not None:
                self.alert_fh.close()
            self.follower.close()
        return 0

    def _loop(self) -> None:
        o = self.o
        last_commit = last_report = o.clock()
        dirty = False
        polls = 0
        while not self.follower.stopped:
            lines = self.follower.poll()
            for fl in lines:
                self._line(fl)
            self._emit(self.det.take_changes())
            dirty = dirty or bool(lines)
            now = o.clock()
            if dirty and now - last_commit >= o.commit_every:
                self._commit()
                last_commit, dirty = now, False
            if o.report_every is not None and now - last_report >= o.report_every:
                self._rollup()
                last_report = now
            polls += 1
            if o.max_polls is not None and polls >= o.max_polls:
                break
            if not lines and not self.follower.stopped:
                o.sleep(o.poll_interval)
