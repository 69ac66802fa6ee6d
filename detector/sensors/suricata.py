"""Read Suricata EVE JSON (``eve.json``: one JSON object per line, plain or gzip).

Each line becomes an ``EveEvent`` with the common fields typed (``timestamp`` as epoch seconds,
``flow_id``, ``event_type``, addresses, ports, ``proto``, ``app_proto``) and the sub-objects the
detector uses parsed into small frozen records: ``alert``, ``tls`` (SNI, JA3/JA3S, subject,
issuer), ``dns`` (every EVE DNS format, see below), ``flow``, ``fileinfo``, ``anomaly`` and
``http``. A sub-object is parsed whatever the event type (alerts carry ``flow``, ``http``, ``tls``
and ``dns`` too). ``payload`` (base64) is decoded to bytes; so is ``payload_hex`` (an extension
written by some EVE producers, e.g. iqiyi/qnsm); ``payload_printable`` is kept as text. The whole
object stays available as ``raw``.

DNS formats (Suricata user guide, "Eve JSON Format" and "DNS EVE Logging Changes for 8.0"):

* v1 (Suricata < 4.1): one event per query (``type: query``) and one per answer record
  (``type: answer`` with ``rrname``/``rrtype``/``ttl``/``rdata`` at the top);
* v2 (4.1 - 7.x): ``type: answer`` with the question's ``rrname``/``rrtype`` at the top and the
  records in ``answers`` (detailed) and/or ``grouped`` (``{"A": ["1.2.3.4"], ...}``);
* v3 (8.x): ``type: request`` / ``response`` with a ``queries`` array and ``answers``;
* v2 alerts: ``dns: {"query": [...]}`` or ``dns: {"answer": {...}}``.

All are normalised to ``EveDns(queries, answers)``.

Events of types not in ``event_types`` (``stats``, ``ssh``, ...) and damaged lines (bad JSON, bad
UTF-8, no ``event_type``, unparseable ``timestamp``, over-long) are counted in the file's
``ReadStats`` and skipped. A file that is not EVE JSON at all raises ``InputError``.

Public API
    iter_eve(paths, *, event_types=EVENT_TYPES, stats=None, max_line=MAX_LINE)
        -> Iterator[EveEvent]
    read_eve_file(path, stats, *, event_types=EVENT_TYPES, max_line=MAX_LINE)
        -> Iterator[EveEvent]
    parse_eve_line(line, line_no, source, stats, *, event_types=EVENT_TYPES) -> EveEvent | None
    EveEvent, EveAlert, EveTls, EveJa3, EveDns, EveDnsQuery, EveDnsAnswer, EveFlow, EveFileinfo,
    EveAnomaly, EveHttp
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.errors import InputError, UnreadableInputError
from detector.sensors import MAX_LINE, ReadStats, iter_lines, open_input

__all__ = [
    "EVENT_TYPES",
    "EveAlert",
    "EveAnomaly",
    "EveDns",
    "EveDnsAnswer",
    "EveDnsQuery",
    "EveEvent",
    "EveFileinfo",
    "EveFlow",
    "EveHttp",
    "EveJa3",
    "EveTls",
    "expand_eve",
    "iter_eve",
    "parse_eve_line",
    "read_eve_file",
]

#: event types read by default; others are counted as skipped
EVENT_TYPES = frozenset({"alert", "anomaly", "dns", "fileinfo", "flow", "http", "tls"})
PROBE_LINES = 5
MAX_SKIP_REASONS = 64  #: distinct "event_type:X" skip reasons kept before lumping the rest
_TYPE_NAME = re.compile(r"[a-z0-9_]{1,32}\Z")


# --------------------------------------------------------------------------- value helpers


def _epoch(value: Any) -> float | None:
    """EVE timestamp ("2021-06-06T16:26:27.431769+0200") -> epoch seconds; None if absent/bad."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _int(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def _bool(d: dict[str, Any], key: str) -> bool | None:
    v = d.get(key)
    return v if isinstance(v, bool) else None


def _obj(d: dict[str, Any], key: str) -> dict[str, Any] | None:
    v = d.get(key)
    return v if isinstance(v, dict) else None


# --------------------------------------------------------------------------- sub-objects


@dataclass(frozen=True, slots=True)
class EveAlert:
    signature_id: int | None
    signature: str | None
    category: str | None
    severity: int | None
    action: str | None
    gid: int | None
    rev: int | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveAlert:
        return cls(
            _int(d, "signature_id"), _str(d, "signature"), _str(d, "category"),
            _int(d, "severity"), _str(d, "action"), _int(d, "gid"), _int(d, "rev"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EveJa3:
    hash: str | None
    string: str | None

    @classmethod
    def parse(cls, v: Any) -> EveJa3 | None:
        if isinstance(v, dict):
            return cls(_str(v, "hash"), _str(v, "string"))
        return None


@dataclass(frozen=True, slots=True)
class EveTls:
    sni: str | None
    version: str | None
    subject: str | None
    issuerdn: str | None
    fingerprint: str | None
    serial: str | None
    notbefore: str | None
    notafter: str | None
    ja3: EveJa3 | None
    ja3s: EveJa3 | None
    ja4: str | None  #: Suricata >= 7.0.4 with ja4 enabled

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveTls:
        return cls(
            _str(d, "sni"), _str(d, "version"), _str(d, "subject"), _str(d, "issuerdn"),
            _str(d, "fingerprint"), _str(d, "serial"), _str(d, "notbefore"), _str(d, "notafter"),
            EveJa3.parse(d.get("ja3")), EveJa3.parse(d.get("ja3s")), _str(d, "ja4"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EveDnsQuery:
    rrname: str | None
    rrtype: str | None


@dataclass(frozen=True, slots=True)
class EveDnsAnswer:
    rrname: str | None  #: None for answers that come only from the "grouped" format
    rrtype: str | None
    ttl: int | None
    rdata: str | None  #: None for record types logged as objects (SOA, SRV) in detailed format


def _grouped_answers(grouped: dict[str, Any]) -> tuple[EveDnsAnswer, ...]:
    out: list[EveDnsAnswer] = []
    for rrtype, items in grouped.items():
        for item in items if isinstance(items, list) else [items]:
            rdata = item if isinstance(item, str) else json.dumps(item, sort_keys=True)
            out.append(EveDnsAnswer(None, rrtype, None, rdata))
    return tuple(out)


def _answer(d: dict[str, Any]) -> EveDnsAnswer:
    return EveDnsAnswer(_str(d, "rrname"), _str(d, "rrtype"), _int(d, "ttl"), _str(d, "rdata"))


def _query(d: dict[str, Any]) -> EveDnsQuery:
    return EveDnsQuery(_str(d, "rrname"), _str(d, "rrtype"))


@dataclass(frozen=True, slots=True)
class EveDns:
    """A DNS request or response in any EVE DNS format, normalised."""

    version: int | None  #: 2 or 3 as logged; None for v1 (which has no version field)
    type: str | None  #: "query"/"answer" (v1, v2) or "request"/"response" (v3)
    id: int | None
    rcode: str | None
    queries: tuple[EveDnsQuery, ...]
    answers: tuple[EveDnsAnswer, ...]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveDns:
        inner = d.get("answer")
        if isinstance(inner, dict):  # v2 alert on a response: {"answer": {...}}
            return cls.parse(inner)
        version, typ = _int(d, "version"), _str(d, "type")
        items = d.get("queries") if isinstance(d.get("queries"), list) else d.get("query")
        queries: tuple[EveDnsQuery, ...] = ()
        if isinstance(items, list):  # v3, or v2 alert on a request: {"query": [...]}
            queries = tuple(_query(q) for q in items if isinstance(q, dict))
            first = items[0] if items and isinstance(items[0], dict) else {}
            typ = typ or _str(first, "type")
            d = d if "id" in d else first
        answers: tuple[EveDnsAnswer, ...] = ()
        if isinstance(d.get("answers"), list):
            answers = tuple(_answer(a) for a in d["answers"] if isinstance(a, dict))
        elif isinstance(d.get("grouped"), dict):
            answers = _grouped_answers(d["grouped"])
        v1_record = version is None and typ == "answer" and ("rdata" in d or "ttl" in d)
        if v1_record:  # v1: one event per answer record; the question is not logged
            answers = (_answer(d),)
        elif not queries and "rrname" in d:
            queries = (_query(d),)
        return cls(version, typ, _int(d, "id"), _str(d, "rcode"), queries, answers)


@dataclass(frozen=True, slots=True)
class EveFlow:
    pkts_toserver: int | None
    pkts_toclient: int | None
    bytes_toserver: int | None
    bytes_toclient: int | None
    start: float | None
    end: float | None  #: absent in alert events (the flow is still open)
    age: int | None
    state: str | None
    reason: str | None
    alerted: bool | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveFlow:
        return cls(
            _int(d, "pkts_toserver"), _int(d, "pkts_toclient"), _int(d, "bytes_toserver"),
            _int(d, "bytes_toclient"), _epoch(d.get("start")), _epoch(d.get("end")),
            _int(d, "age"), _str(d, "state"), _str(d, "reason"), _bool(d, "alerted"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EveFileinfo:
    filename: str | None
    size: int | None
    state: str | None
    stored: bool | None
    gaps: bool | None
    magic: str | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    tx_id: int | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveFileinfo:
        return cls(
            _str(d, "filename"), _int(d, "size"), _str(d, "state"), _bool(d, "stored"),
            _bool(d, "gaps"), _str(d, "magic"), _str(d, "md5"), _str(d, "sha1"),
            _str(d, "sha256"), _int(d, "tx_id"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EveAnomaly:
    type: str | None
    event: str | None
    layer: str | None
    app_proto: str | None
    code: int | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveAnomaly:
        return cls(
            _str(d, "type"), _str(d, "event"), _str(d, "layer"), _str(d, "app_proto"),
            _int(d, "code"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EveHttp:
    hostname: str | None
    url: str | None
    http_user_agent: str | None
    http_method: str | None
    protocol: str | None
    status: int | None
    length: int | None
    http_content_type: str | None
    http_port: int | None
    http_refer: str | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> EveHttp:
        status = d.get("status")
        if isinstance(status, str) and status.isdigit():  # some versions log it as a string
            status = int(status)
        return cls(
            _str(d, "hostname"), _str(d, "url"), _str(d, "http_user_agent"),
            _str(d, "http_method"), _str(d, "protocol"),
            status if isinstance(status, int) and not isinstance(status, bool) else None,
            _int(d, "length"), _str(d, "http_content_type"), _int(d, "http_port"),
            _str(d, "http_refer"),
        )  # fmt: skip


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class EveEvent:
    """One EVE record with its common fields typed and the sub-objects the detector uses."""

    timestamp: float  #: epoch seconds
    flow_id: int | None
    event_type: str
    src_ip: str | None
    src_port: int | None
    dest_ip: str | None
    dest_port: int | None
    proto: str | None  #: "TCP", "UDP", "ICMP", ... as logged
    app_proto: str | None
    alert: EveAlert | None
    tls: EveTls | None
    dns: EveDns | None
    flow: EveFlow | None
    fileinfo: EveFileinfo | None
    anomaly: EveAnomaly | None
    http: EveHttp | None
    payload: bytes | None  #: decoded "payload" (base64) or "payload_hex"
    payload_printable: str | None
    raw: dict[str, Any]  #: the whole JSON object, for fields not modelled here
    source: str
    line: int


_SUBOBJECTS: dict[str, Any] = {
    "alert": EveAlert.parse,
    "tls": EveTls.parse,
    "dns": EveDns.parse,
    "flow": EveFlow.parse,
    "fileinfo": EveFileinfo.parse,
    "anomaly": EveAnomaly.parse,
    "http": EveHttp.parse,
}


def _payload(obj: dict[str, Any], stats: ReadStats, line_no: int) -> bytes | None:
    b64, hexed = obj.get("payload"), obj.get("payload_hex")
    try:
        if isinstance(b64, str):
            return base64.b64decode(b64, validate=True)
        if isinstance(hexed, str):
            return bytes.fromhex(hexed)
    except (binascii.Error, ValueError) as e:
        stats.warn(f"line {line_no}: payload not decoded: {e}")
    return None


def _skip_type(stats: ReadStats, event_type: str, line_no: int) -> None:
    reason = f"event_type:{event_type}"
    if reason not in stats.skipped and (
        not _TYPE_NAME.match(event_type) or len(stats.skipped) >= MAX_SKIP_REASONS
    ):
        reason = "event_type:other"
    stats.skip(reason, line_no, malformed=False)


def parse_eve_line(
    line: bytes,
    line_no: int,
    source: str,
    stats: ReadStats,
    *,
    event_types: frozenset[str] = EVENT_TYPES,
) -> EveEvent | None:
    """One EVE line -> ``EveEvent``; ``None`` (counted in ``stats``) when skipped."""
    if not line.strip():
        stats.skip("blank", line_no, malformed=False)
        return None
    try:
        obj = json.loads(line)
    except UnicodeDecodeError as e:
        stats.skip("bad_utf8", line_no, str(e)[:80])
        return None
    except (ValueError, RecursionError) as e:
        stats.skip("bad_json", line_no, str(e)[:80])
        return None
    if not isinstance(obj, dict):
        stats.skip("not_object", line_no, f"JSON {type(obj).__name__}")
        return None
    event_type = obj.get("event_type")
    if not isinstance(event_type, str):
        stats.skip("no_event_type", line_no)
        return None
    if event_type not in event_types:
        _skip_type(stats, event_type, line_no)
        return None
    ts = _epoch(obj.get("timestamp"))
    if ts is None:
        stats.skip("bad_value", line_no, f"timestamp: {str(obj.get('timestamp'))[:40]!r}")
        return None
    subs: dict[str, Any] = {}
    for key, parse in _SUBOBJECTS.items():
        value = obj.get(key)
        if isinstance(value, dict):
            subs[key] = parse(value)
        elif value is not None or key == event_type:
            stats.skip("bad_value", line_no, f"{event_type} event: {key!r} is not an object")
            return None
    stats.records += 1
    return EveEvent(
        ts, _int(obj, "flow_id"), event_type, _str(obj, "src_ip"), _int(obj, "src_port"),
        _str(obj, "dest_ip"), _int(obj, "dest_port"), _str(obj, "proto"), _str(obj, "app_proto"),
        subs.get("alert"), subs.get("tls"), subs.get("dns"), subs.get("flow"),
        subs.get("fileinfo"), subs.get("anomaly"), subs.get("http"),
        _payload(obj, stats, line_no), _str(obj, "payload_printable"), obj, source, line_no,
    )  # fmt: skip


# --------------------------------------------------------------------------- files


def _probe(path: Path, max_line: int) -> bool:
    """True for EVE JSON, False for an empty file; InputError for anything else."""
    fh, _ = open_input(path)
    scratch = ReadStats(str(path))
    seen = 0
    with fh:
        for _, line in iter_lines(fh, scratch, max_line):
            if not line.strip():
                continue
            seen += 1
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                obj = None
            if isinstance(obj, dict):
                if "event_type" in obj:
                    return True
                if "ts" in obj:
                    raise InputError(f"{path}: Zeek JSON log, not Suricata EVE")
            if seen >= PROBE_LINES:
                break
    if seen == 0:
        if scratch.warnings:
            raise InputError(f"{path}: {scratch.warnings[0]}")
        return False
    raise InputError(f"{path}: not Suricata EVE JSON (no JSON objects with an event_type)")


def read_eve_file(
    path: str | os.PathLike[str],
    stats: ReadStats,
    *,
    event_types: frozenset[str] = EVENT_TYPES,
    max_line: int = MAX_LINE,
) -> Iterator[EveEvent]:
    """Events of one eve.json file (plain or gzip); damage is counted in ``stats``."""
    p = Path(path)
    is_eve = _probe(p, max_line)
    fh, gz = open_input(p)
    stats.format = ("eve-json" if is_eve else "empty") + ("+gzip" if gz else "")
    with fh:
        for line_no, line in iter_lines(fh, stats, max_line):
            ev = parse_eve_line(line, line_no, str(p), stats, event_types=event_types)
            if ev is not None:
                yield ev


def expand_eve(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], prefix: str = "") -> list[Path]:
    """Files to read: each file as given; a directory's ``{prefix}*.json*`` files, in name order."""
    items = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    out: list[Path] = []
    for p in items:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.startswith(prefix) and ".json" in f.name)
            if not found:
                raise UnreadableInputError(f"{p}: no {prefix}*.json files in directory")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise UnreadableInputError(f"{p}: no such file or directory")
    return out


def iter_eve(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    event_types: frozenset[str] = EVENT_TYPES,
    stats: list[ReadStats] | None = None,
    max_line: int = MAX_LINE,
) -> Iterator[EveEvent]:
    """Events of every EVE file ``paths`` stand for (files, or directories of ``*.json*``).

    One ``ReadStats`` per file is appended to ``stats`` when given.
    """
    for path in expand_eve(paths):
        st = ReadStats(str(path))
        if stats is not None:
            stats.append(st)
        yield from read_eve_file(path, st, event_types=event_types, max_line=max_line)
