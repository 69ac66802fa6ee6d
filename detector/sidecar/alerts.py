"""Alerts for a SIEM: ECS JSON lines, and a Zeek-style TSV ``mining.log``.

Every finding (a session record of ``Detector.record``) becomes

* one JSON object per line in Elastic Common Schema layout: ``@timestamp`` (when the evidence
  was logged), ``event.kind: alert``, ``event.category: network``, ``source.ip``/``.port``,
  ``destination.ip``/``.port``/``.domain``, ``rule.name``, ``threat.framework: MITRE ATT&CK``,
  ``threat.tactic`` TA0040 Impact, ``threat.technique.id: T1496`` (Resource Hijacking) and
  ``threat.technique.subtechnique.id: T1496.001`` (Compute Hijacking), and minesweep's own
  namespace ``minesweep.{confidence, dialect, pool, coin, worker, wallet, agent, evidence, ...}``.
  A host id that is not an IP address (a sensor may redact it) goes to ``source.address``.
  ``event.id`` is ``<finding id>-<confidence>``: a finding is alerted when it is new and again
  when its confidence rises, never twice at one confidence.
* one line of ``mining.log``, a Zeek TSV log (``#separator``, ``#fields``, ``#types``, ``-`` for
  unset) that Zeek tooling (``zeek-cut``) and ``detector.sensors.zeek`` read back.

Public API

``ecs_alert(record, finding_id, sensor, created, action) -> dict``
``mining_log_values(record, finding_id, sensor) -> list``; ``MINING_FIELDS``, ``MINING_TYPES``
``AlertStream(fh)``            ``.write(doc)``: one JSON line, flushed
``MiningLog(path, clock)``     appends rows (a header first when the file is new or was closed),
                               ``.close()`` writes ``#close``
``emitted_ids(path, offset)``  event ids of the alerts written after ``offset`` (restart dedupe)
``mining_log_ids(path, offset)`` the same for mining.log rows
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from detector.sensors import MAX_LINE
from detector.sidecar.intel import is_ip_text
from detector.sidecar.zeek_ascii import ZeekTsvWriter, zeek_time

__all__ = [
    "MINING_FIELDS",
    "MINING_TYPES",
    "AlertStream",
    "MiningLog",
    "ecs_alert",
    "emitted_ids",
    "mining_log_ids",
    "mining_log_values",
]

ECS_VERSION = "8.11.0"
TECHNIQUE = {"id": "T1496", "name": "Resource Hijacking", "reference": "https://attack.mitre.org/techniques/T1496/"}
SUBTECHNIQUE = {"id": "T1496.001", "name": "Compute Hijacking",
                "reference": "https://attack.mitre.org/techniques/T1496/001/"}
TACTIC = {"id": "TA0040", "name": "Impact", "reference": "https://attack.mitre.org/tactics/TA0040/"}
SEVERITY = {"confirmed": 73, "strong": 47, "suspected": 21}  #: ECS event.severity (0-100 scale)
PRODUCTS = {"zeek": ("Zeek", "Zeek Project"), "suricata": ("Suricata", "OISF")}

MINING_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host", "confidence",
                 "rule", "dialect", "pool", "pool_operator", "coin", "algorithm", "worker", "wallet",
                 "agent", "hashrate", "hashrate_unit", "hashrate_basis", "technique", "sensor", "evidence")
MINING_TYPES = ("time", "string", "addr", "port", "addr", "port", "string", "string", "string", "string",
                "string", "string", "string", "string", "string", "string", "string", "double", "string",
                "string", "string", "string", "vector[string]")


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rule_name(record: dict[str, Any]) -> str:
    """"MINESWEEP mining (confirmed): monero to pool.example (XMR)"."""
    target = record.get("pool") or f"{record.get('server')}:{record.get('server_port')}"
    coin = f" ({record['coin']})" if record.get("coin") else ""
    return f"MINESWEEP mining ({record['confidence']}): {record.get('dialect') or 'unknown'} to {target}{coin}"


def ecs_alert(record: dict[str, Any], finding_id: str, sensor: str, created: _dt.datetime,
              action: str = "mining-found") -> dict[str, Any]:
    """The ECS alert document of one finding's session record."""
    confidence = record["confidence"]
    source: dict[str, Any] = {"ip": record["client"]} if is_ip_text(record["client"]) else {"address": record["client"]}
    if record.get("client_port") is not None:
        source["port"] = record["client_port"]
    dest: dict[str, Any] = {}
    if is_ip_text(record.get("server")):
        dest["ip"] = record["server"]
    elif record.get("server"):
        dest["address"] = record["server"]
    if record.get("server_port") is not None:
        dest["port"] = record["server_port"]
    if record.get("pool"):
        dest["domain"] = record["pool"]
    product, vendor = PRODUCTS.get(sensor, (sensor, sensor))
    h = record.get("hashrate") or {}
    evidence = list(record.get("evidence") or [])
    return {
        "@timestamp": _iso(float(record["first_seen"])),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert", "category": "network", "type": ["connection"], "module": "minesweep",
            "dataset": f"minesweep.{sensor}", "id": f"{finding_id}-{confidence}", "action": action,
            "created": created.astimezone(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "severity": SEVERITY[confidence], "reason": evidence[0] if evidence else confidence,
            "start": _iso(float(record["first_seen"])), "end": _iso(float(record["last_seen"])),
        },
        "source": source,
        "destination": dest,
        "network": {"transport": "tcp", "protocol": record.get("dialect")},
        "rule": {"name": rule_name(record), "ruleset": "minesweep", "category": "coin-mining"},
        "threat": {"framework": "MITRE ATT&CK", "tactic": dict(TACTIC),
                   "technique": {**TECHNIQUE, "subtechnique": dict(SUBTECHNIQUE)}},
        "observer": {"type": "ids", "product": product, "vendor": vendor},
        "minesweep": {
            "finding_id": finding_id, "confidence": confidence, "dialect": record.get("dialect"),
            "pool": record.get("pool"), "pool_source": record.get("pool_source"),
            "pool_operator": record.get("pool_operator"), "coin": record.get("coin"),
            "algorithm": record.get("algorithm"), "worker": record.get("worker"),
            "wallet": record.get("wallet"), "login": record.get("login"), "agent": record.get("agent"),
            "hashrate": {"value": h.get("value"), "unit": h.get("unit"), "basis": h.get("basis")},
            "reported_hashrate": record.get("reported_hashrate"), "evidence": evidence,
            "notes": list(record.get("notes") or []),
        },
    }


def mining_log_values(record: dict[str, Any], finding_id: str, sensor: str) -> list[Any]:
    """One mining.log row (``MINING_FIELDS`` order)."""
    h = record.get("hashrate") or {}
    client, server = record.get("client"), record.get("server")
    return [
        float(record["first_seen"]), f"{finding_id}-{record['confidence']}",
        client if is_ip_text(client) else None, record.get("client_port"),
        server if is_ip_text(server) else None, record.get("server_port"), client, record["confidence"],
        rule_name(record), record.get("dialect"), record.get("pool"), record.get("pool_operator"),
        record.get("coin"), record.get("algorithm"), record.get("worker"), record.get("wallet"),
        record.get("agent"), h.get("value"), h.get("unit"), h.get("basis"), SUBTECHNIQUE["id"], sensor,
        list(record.get("evidence") or []),
    ]


class AlertStream:
    """ECS alerts as JSON lines on an open text stream (a file or stdout)."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh

    def write(self, doc: dict[str, Any]) -> None:
        self.fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
        self.fh.flush()


def _closed(path: Path) -> bool:
    """True when the file is empty or its last line is ``#close`` (a new header block is due)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return True
    if size == 0:
        return True
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 4096))
        tail = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return tail.startswith(b"#close")


class MiningLog:
    """mining.log, appended to; the header is written when the file is new or was closed."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self.clock = clock
        fresh = _closed(path)
        self.fh = open(path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()
        self.writer = ZeekTsvWriter(self.fh, "mining", MINING_FIELDS, MINING_TYPES, clock())
        if fresh:
            self.writer.header()
            self.fh.flush()

    def write(self, values: list[Any]) -> None:
        self.writer.write(values)
        self.fh.flush()

    def size(self) -> int:
        self.fh.flush()
        return os.fstat(self.fh.fileno()).st_size

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.write(f"#close\t{zeek_time(self.clock())}\n")
            self.fh.close()


def _tail_lines(path: Path, offset: int) -> list[bytes]:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            out = []
            while True:
                line = fh.readline(MAX_LINE + 1)
                if not line:
                    return out
                out.append(line)
    except OSError:
        return []


def emitted_ids(path: Path, offset: int) -> set[str]:
    """``event.id`` of every alert written to ``path`` after byte ``offset``."""
    ids: set[str] = set()
    for line in _tail_lines(path, offset):
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            continue
        event = doc.get("event") if isinstance(doc, dict) else None
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            ids.add(event["id"])
    return ids


def mining_log_ids(path: Path, offset: int) -> set[str]:
    """``uid`` of every mining.log row written after byte ``offset``."""
    ids: set[str] = set()
    for line in _tail_lines(path, offset):
        if line.startswith(b"#"):
            continue
        parts = line.split(b"\t", 2)
        if len(parts) > 1:
            ids.add(parts[1].decode("utf-8", "replace"))
    return ids
