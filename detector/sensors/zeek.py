"""Read Zeek logs (TSV or JSON, plain or gzip, single files or ZeekControl log directories).

TSV logs are read the way Zeek's own ASCII reader does (``threading/formatters/Ascii.cc``):
every header directive is honoured (``#separator`` with its ``\\x09``-style escape,
``#set_separator``, ``#empty_field``, ``#unset_field``, ``#path``, ``#open``/``#start``,
``#fields``, ``#types``, ``#close``/``#end``), a file may hold several header blocks, the unset
marker (``-``) becomes ``None`` and the empty marker (``(empty)``) an empty string or tuple, never
0. Values are converted per ``#types``: time/interval/double -> float, count/int/port -> int,
bool ``T``/``F`` -> bool, addr/subnet -> validated str, set[...]/vector[...] -> tuple split on the
set separator (each element converted, ``-`` elements -> None), strings have their ``\\xHH``
escapes decoded (bytes that are not UTF-8 stay visible as ``\\xHH``).

JSON logs hold one object per line with dotted keys (``"id.orig_h"``); arrays become tuples and an
ISO-8601 ``ts`` becomes epoch seconds. The log type comes from ``#path`` (TSV), ``_path`` (JSON)
or the file name prefix (``conn.log``, ``conn.00:00:00-01:00:00.log.gz`` -> ``conn``).

Damaged lines (wrong field count, values that do not convert, lines over 1 MiB, bad UTF-8, bad
JSON) are counted in the file's ``ReadStats`` and skipped. A file that is not a Zeek log at all
raises ``InputError`` when named explicitly; inside a directory it is skipped with a warning.

Public API
    iter_zeek_records(paths, *, stats=None, max_line=MAX_LINE) -> Iterator[ZeekRecord]
    read_zeek_file(path, stats, *, log_type=None, max_line=MAX_LINE) -> Iterator[ZeekRecord]
    expand_zeek_paths(paths) -> list[(Path, explicit)]   files a path list stands for, in order
    ZeekLineParser(source, *, log_type=None, stats=None)   line-at-a-time parser (for Follower)
    ZeekRecord                                     log_type, fields, source, line
    ZeekConn / ZeekDns / ZeekSsl / ZeekX509 / ZeekNotice   typed views: Cls.from_record(rec)
    typed(rec) -> one of the typed views, or None for other log types
    log_type_from_name(name) -> str
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.errors import InputError, UnreadableInputError
from detector.sensors import MAX_LINE, ReadStats, iter_lines, open_input

__all__ = [
    "ZeekConn",
    "ZeekDns",
    "ZeekLineParser",
    "ZeekNotice",
    "ZeekRecord",
    "ZeekSsl",
    "ZeekX509",
    "expand_zeek_paths",
    "iter_zeek_records",
    "log_type_from_name",
    "read_zeek_file",
    "typed",
]

log = logging.getLogger(__name__)

PROBE_LINES = 5  #: non-blank lines looked at to decide whether a file is a Zeek log
MAX_HEADER_LINES = 64  #: header lines read by ``ZeekLineParser.load_header``

_DATED_DIR = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
_INTEGER = re.compile(r"[-+]?\d+\Z")
_PORT = re.compile(r"(\d+)(?:/(?:tcp|udp|icmp|unknown))?\Z")
_MASKED = re.compile(r"X+(?:\.X+)?\Z")  # btest canonifier output for times
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_DIRECTIVES = frozenset(
    {"set_separator", "empty_field", "unset_field", "path", "open", "close", "start", "end",
     "fields", "types"}
)  # fmt: skip


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ZeekRecord:
    """One log line: its log type, its converted fields and where it came from."""

    log_type: str  #: "conn", "dns", "ssl", "x509", "notice", "intel", "http", "files", ...
    fields: dict[str, Any]  #: Zeek field name ("id.orig_h") -> converted value; unset -> None
    source: str  #: file the record was read from
    line: int  #: physical line number in the (decompressed) file, from 1


class _BadLine(ValueError):
    """A line that cannot become a record (internal; counted in ReadStats, never escapes)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _Masked:
    """Marker returned by converters for values masked by a test canonifier."""


MASKED = _Masked()


# --------------------------------------------------------------------------- TSV value conversion

Converter = Callable[[str], Any]


def _unescape(value: str) -> str:
    """Decode Zeek's ``\\xHH`` escapes; bytes that are not UTF-8 stay visible as ``\\xHH``."""
    if "\\x" not in value:
        return value
    raw = _HEX_ESCAPE.sub(lambda m: bytes((int(m[1], 16),)), value.encode("utf-8"))
    return raw.decode("utf-8", "backslashreplace")


def _to_float(value: str) -> Any:
    if _NUMBER.match(value):
        return float(value)
    if _MASKED.match(value):
        return MASKED
    raise ValueError(f"not a number: {value[:40]!r}")


def _to_int(value: str) -> int:
    if _INTEGER.match(value):
        return int(value)
    raise ValueError(f"not an integer: {value[:40]!r}")


def _to_count(value: str) -> int:
    if value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"not a count: {value[:40]!r}")


def _to_port(value: str) -> int:
    m = _PORT.match(value)
    if m and int(m[1]) <= 65535:
        return int(m[1])
    raise ValueError(f"not a port: {value[:40]!r}")


def _to_bool(value: str) -> bool:
    if value in ("T", "1"):
        return True
    if value in ("F", "0"):
        return False
    raise ValueError(f"not a bool: {value[:40]!r}")


_ADDR_CACHE: dict[str, str] = {}  #: addresses already validated (logs repeat them a lot)
_ADDR_CACHE_MAX = 1 << 16


def _to_addr(value: str) -> str:
    cached = _ADDR_CACHE.get(value)
    if cached is not None:
        return cached
    text = _unescape(value).strip()
    ipaddress.ip_address(text.split("%", 1)[0])  # scoped IPv6 (fe80::1%eth0) is valid in logs
    if len(_ADDR_CACHE) >= _ADDR_CACHE_MAX:
        _ADDR_CACHE.clear()
    _ADDR_CACHE[value] = text
    return text


def _to_subnet(value: str) -> str:
    text = _unescape(value).strip()
    ipaddress.ip_network(text, strict=False)
    return text


_SCALARS: dict[str, Converter] = {
    "time": _to_float,
    "interval": _to_float,
    "double": _to_float,
    "count": _to_count,
    "counter": _to_count,
    "int": _to_int,
    "port": _to_port,
    "bool": _to_bool,
    "addr": _to_addr,
    "subnet": _to_subnet,
}


@dataclass(frozen=True, slots=True)
class _Schema:
    """One header block, compiled: field names and one converter per column."""

    separator: str
    set_separator: str
    empty_field: str
    unset_field: str
    path: str | None
    fields: tuple[str, ...]
    types: tuple[str, ...]
    converters: tuple[Converter, ...]


def _scalar_converter(type_name: str, empty: str) -> Converter:
    conv = _SCALARS.get(type_name)
    if conv is not None:
        return conv

    def to_string(value: str) -> str:  # string, enum, pattern, file, func and unknown types
        return "" if value == empty else _unescape(value)

    return to_string


def _container_converter(elem: Converter, set_sep: str, empty: str, unset: str) -> Converter:
    def to_tuple(value: str) -> tuple[Any, ...]:
        if value == empty:
            return ()
        return tuple(None if part == unset else elem(part) for part in value.split(set_sep))

    return to_tuple


def _converter(type_name: str, set_sep: str, empty: str, unset: str) -> Converter:
    for prefix in ("set[", "vector[", "table["):
        if type_name.startswith(prefix) and type_name.endswith("]"):
            inner = type_name[len(prefix) : -1]
            return _container_converter(_scalar_converter(inner, empty), set_sep, empty, unset)
    return _scalar_converter(type_name, empty)


class _Header:
    """Header directives of the block being read (mutable until compiled)."""

    __slots__ = ("separator", "set_separator", "empty_field", "unset_field", "path", "meta",
                 "fields", "types")  # fmt: skip

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.set_separator = ","
        self.empty_field = "(empty)"
        self.unset_field = "-"
        self.path: str | None = None
        self.meta: dict[str, str] = {}  #: open / close / start / end, as written
        self.fields: tuple[str, ...] | None = None
        self.types: tuple[str, ...] | None = None

    def compile(self) -> _Schema:
        if self.fields is None or self.types is None:
            raise _BadLine("bad_header", "#fields or #types missing")
        if len(self.fields) != len(self.types):
            raise _BadLine("bad_header", f"{len(self.fields)} #fields but {len(self.types)} #types")
        sep, empty, unset = self.set_separator, self.empty_field, self.unset_field
        convs = tuple(_converter(t, sep, empty, unset) for t in self.types)
        return _Schema(self.separator, sep, empty, unset, self.path, self.fields, self.types, convs)


# --------------------------------------------------------------------------- JSON values


def _iso_to_epoch(text: str) -> float:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_json_value(v) for v in value)
    return value


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in obj.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[prefix + key] = _json_value(value)


# --------------------------------------------------------------------------- line parser


class ZeekLineParser:
    """Turn the lines of one Zeek log into ``ZeekRecord``s, one line at a time.

    The format is decided by the first line that is not blank: ``{`` starts a JSON log, a
    ``#separator`` directive a TSV log. Header lines update the TSV state (a new ``#separator``
    starts a new block). Damaged lines are counted in ``stats`` and give ``None``.

    A parser fed from the middle of a TSV file (a ``Follower`` resuming from a checkpoint) must
    first read the file's header with ``load_header(path)``.
    """

    __slots__ = ("source", "log_type", "stats", "_format", "_header", "_schema")

    def __init__(
        self, source: str, *, log_type: str | None = None, stats: ReadStats | None = None
    ) -> None:
        self.source = source
        self.log_type = log_type  #: used when the log names none (#path / _path)
        self.stats = stats if stats is not None else ReadStats(source)
        self._format: str | None = None  # "tsv" | "json"
        self._header: _Header | None = None
        self._schema: _Schema | None = None

    @property
    def format(self) -> str | None:
        """``"tsv"`` or ``"json"`` once known."""
        return self._format

    def load_header(self, path: str | os.PathLike[str]) -> None:
        """Read the header block at the start of ``path`` (for parsers resuming mid-file)."""
        fh, _ = open_input(path)
        with fh:
            scratch = ReadStats(str(path))
            for n, (line_no, line) in enumerate(iter_lines(fh, scratch)):
                if n >= MAX_HEADER_LINES or not line.lstrip(b" \t").startswith(b"#"):
                    break
                self.feed(line, line_no)

    def feed(self, line: bytes, line_no: int) -> ZeekRecord | None:
        """Parse one line (without its newline); ``None`` for headers and skipped lines."""
        try:
            return self._parse(line, line_no)
        except _BadLine as bad:
            self.stats.skip(bad.reason, line_no, bad.detail)
            return None

    def _parse(self, line: bytes, line_no: int) -> ZeekRecord | None:
        stripped = line.strip(b" \t\r")
        if not stripped:
            self.stats.skip("blank", line_no, malformed=False)
            return None
        if self._format is None:
            if stripped.startswith(b"{"):
                self._format = "json"
            elif stripped.startswith(b"#separator"):
                self._format = "tsv"
            elif stripped.startswith(b"#"):  # a comment above the header (btest baselines)
                self.stats.skip("comment", line_no, malformed=False)
                return None
            else:
                raise _BadLine("no_header", "data before any '#separator' header")
        if self._format == "json":
            return self._parse_json(line, line_no)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _BadLine("bad_utf8", str(e)) from None
        if text.endswith("\r"):
            text = text[:-1]
        if text.startswith("#") or stripped.startswith(b"#separator"):
            self._directive(text, line_no)
            return None
        return self._parse_tsv(text, line_no)

    # -- TSV

    def _directive(self, text: str, line_no: int) -> None:
        if not text.startswith("#"):
            self.stats.warn(f"line {line_no}: header line has leading whitespace")
            text = text.lstrip(" \t")
        if text.startswith("#separator"):
            value = text[len("#separator") :].lstrip(" ")
            sep = _unescape(value)
            if not sep:
                raise _BadLine("bad_header", "empty #separator")
            self._header = _Header(sep)
            self._schema = None
            return
        header = self._header
        if header is None:
            raise _BadLine("no_header", "header directive before '#separator'")
        key, found, value = text[1:].partition(header.separator)
        if not found:  # canonified baselines write "#open XXXX-..." with a space
            key, _, value = text[1:].partition(" ")
        if key not in _DIRECTIVES:
            self.stats.skip("comment", line_no, malformed=False)
            return
        if key == "set_separator":
            header.set_separator = _unescape(value)
        elif key == "empty_field":
            header.empty_field = _unescape(value)
        elif key == "unset_field":
            header.unset_field = _unescape(value)
        elif key == "path":
            header.path = _unescape(value)
        elif key == "fields":
            header.fields = tuple(value.split(header.separator))
        elif key == "types":
            header.types = tuple(value.split(header.separator))
        else:
            header.meta[key] = value
        if key in ("fields", "types", "set_separator", "empty_field", "unset_field"):
            self._schema = None  # recompiled at the next data line

    def _parse_tsv(self, text: str, line_no: int) -> ZeekRecord:
        schema = self._schema
        if schema is None:
            if self._header is None:
                raise _BadLine("no_header", "data before any '#separator' header")
            schema = self._schema = self._header.compile()
        values = text.split(schema.separator)
        if len(values) != len(schema.fields):
            raise _BadLine("field_count", f"{len(values)} fields, header has {len(schema.fields)}")
        unset = schema.unset_field
        out: dict[str, Any] = {}
        for name, conv, value in zip(schema.fields, schema.converters, values, strict=True):
            if value == unset:
                out[name] = None
                continue
            try:
                converted = conv(value)
            except ValueError as e:
                raise _BadLine("bad_value", f"{name}: {e}") from None
            if converted is MASKED:
                self.stats.masked += 1
                converted = None
            elif type(converted) is tuple and MASKED in converted:
                self.stats.masked += 1
                converted = tuple(None if v is MASKED else v for v in converted)
            out[name] = converted
        self.stats.records += 1
        return ZeekRecord(schema.path or self.log_type or "unknown", out, self.source, line_no)

    # -- JSON

    def _parse_json(self, line: bytes, line_no: int) -> ZeekRecord:
        try:
            obj = json.loads(line)
        except UnicodeDecodeError as e:
            raise _BadLine("bad_utf8", str(e)) from None
        except (ValueError, RecursionError) as e:
            raise _BadLine("bad_json", str(e)[:80]) from None
        if not isinstance(obj, dict):
            raise _BadLine("not_object", f"JSON {type(obj).__name__}, expected an object")
        fields: dict[str, Any] = {}
        _flatten(obj, "", fields)
        ts = fields.get("ts")
        if isinstance(ts, str):
            try:
                fields["ts"] = _iso_to_epoch(ts)
            except ValueError:
                raise _BadLine("bad_value", f"ts: not a time: {ts[:40]!r}") from None
        elif isinstance(ts, int) and not isinstance(ts, bool):
            fields["ts"] = float(ts)
        elif ts is not None and not isinstance(ts, float):
            raise _BadLine("bad_value", f"ts: not a time: {ts!r:.40}")
        path = fields.get("_path")
        log_type = path if isinstance(path, str) and path else self.log_type or "unknown"
        self.stats.records += 1
        return ZeekRecord(log_type, fields, self.source, line_no)


# --------------------------------------------------------------------------- files and directories


def log_type_from_name(name: str) -> str:
    """``conn.log`` / ``conn.00:00:00-01:00:00.log.gz`` / ``dns.log.gz`` -> ``conn`` / ``dns``."""
    base = os.path.basename(name)
    return base.split(".", 1)[0] or "unknown"


def _probe(path: Path, max_line: int) -> str:
    """Decide "tsv" or "json" from the first lines, or raise InputError."""
    fh, _ = open_input(path)
    scratch = ReadStats(str(path))
    seen = 0
    with fh:
        for _, line in iter_lines(fh, scratch, max_line):
            stripped = line.strip(b" \t\r")
            if not stripped:
                continue
            seen += 1
            if stripped.startswith(b"#separator"):
                return "tsv"
            if stripped.startswith(b"{"):
                try:
                    obj = json.loads(stripped)
                except (ValueError, RecursionError):
                    obj = None
                if isinstance(obj, dict):
                    if "event_type" in obj and "timestamp" in obj and "ts" not in obj:
                        raise InputError(f"{path}: Suricata EVE JSON, not a Zeek log")
                    return "json"
            if seen >= PROBE_LINES:
                break
    if seen == 0:
        if scratch.warnings:
            raise InputError(f"{path}: {scratch.warnings[0]}")
        return "empty"
    raise InputError(f"{path}: not a Zeek log (no '#separator' header or JSON object lines)")


def read_zeek_file(
    path: str | os.PathLike[str],
    stats: ReadStats,
    *,
    log_type: str | None = None,
    max_line: int = MAX_LINE,
) -> Iterator[ZeekRecord]:
    """Records of one Zeek log file (plain or gzip); damage is counted in ``stats``.

    Raises ``InputError`` if the file is not a Zeek log, ``UnreadableInputError`` if it cannot
    be opened.
    """
    p = Path(path)
    kind = _probe(p, max_line)
    fh, gz = open_input(p)
    stats.format = "zeek-tsv" if kind == "tsv" else "zeek-json" if kind == "json" else "empty"
    stats.format += "+gzip" if gz else ""
    parser = ZeekLineParser(str(p), log_type=log_type or log_type_from_name(p.name), stats=stats)
    with fh:
        for line_no, line in iter_lines(fh, stats, max_line):
            rec = parser.feed(line, line_no)
            if rec is not None:
                yield rec


def _is_log_name(name: str) -> bool:
    return name.endswith(".log") or name.endswith(".log.gz")


def _dir_files(directory: Path) -> list[Path]:
    """Log files of a plain or ZeekControl directory, oldest first: dated archives, top, current."""
    out: list[Path] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError as e:
        raise UnreadableInputError(f"{directory}: cannot list: {e.strerror or e}") from None
    for sub in entries:
        if sub.is_dir() and _DATED_DIR.match(sub.name):
            out += sorted(f for f in sub.iterdir() if f.is_file() and _is_log_name(f.name))
    out += [f for f in entries if f.is_file() and _is_log_name(f.name)]
    current = directory / "current"
    if current.is_dir():
        out += sorted(f for f in current.iterdir() if f.is_file() and f.name.endswith(".log"))
    return out


def _as_list(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def expand_zeek_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[tuple[Path, bool]]:
    """The files ``paths`` stand for, in read order, each with ``True`` if named explicitly.

    A directory stands for its ``*.log`` and ``*.log.gz``, those of its dated ZeekControl
    archives (``YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz``) and of ``current/``.
    """
    out: list[tuple[Path, bool]] = []
    for p in _as_list(paths):
        if p.is_dir():
            found = _dir_files(p)
            if not found:
                raise UnreadableInputError(f"{p}: no Zeek logs (*.log, *.log.gz) in directory")
            out += [(f, False) for f in found]
        elif p.exists():
            out.append((p, True))
        else:
            raise UnreadableInputError(f"{p}: no such file or directory")
    return out


def iter_zeek_records(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    stats: list[ReadStats] | None = None,
    max_line: int = MAX_LINE,
) -> Iterator[ZeekRecord]:
    """Records of every Zeek log ``paths`` stand for (files or directories), file by file.

    One ``ReadStats`` per file is appended to ``stats`` when given. A file found inside a
    directory that is not a Zeek log (ZeekControl's ``stderr.log``) is skipped with a warning in
    its stats; a file named explicitly raises ``InputError``.
    """
    for path, explicit in expand_zeek_paths(paths):
        st = ReadStats(str(path))
        if stats is not None:
            stats.append(st)
        try:
            yield from read_zeek_file(path, st, max_line=max_line)
        except InputError as e:
            if explicit:
                raise
            st.format = "not-zeek"
            st.warn(f"skipped: {e}")
            log.warning("%s", e)


# --------------------------------------------------------------------------- typed views


def _f(fields: dict[str, Any], key: str) -> float | None:
    v = fields.get(key)
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):  # JSON logs written with ISO-8601 timestamps
        try:
            return _iso_to_epoch(v)
        except ValueError:
            return None
    return None


def _i(fields: dict[str, Any], key: str) -> int | None:
    v = fields.get(key)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _s(fields: dict[str, Any], key: str) -> str | None:
    v = fields.get(key)
    return v if isinstance(v, str) else None


def _b(fields: dict[str, Any], key: str) -> bool | None:
    v = fields.get(key)
    return v if isinstance(v, bool) else None


def _strs(fields: dict[str, Any], key: str) -> tuple[str, ...] | None:
    v = fields.get(key)
    if isinstance(v, tuple):
        return tuple(x for x in v if isinstance(x, str))
    if isinstance(v, str):
        return (v,)
    return None


def _floats(fields: dict[str, Any], key: str) -> tuple[float, ...] | None:
    v = fields.get(key)
    if isinstance(v, tuple):
        return tuple(float(x) for x in v if isinstance(x, (int, float)) and not isinstance(x, bool))
    return None


def _expect(rec: ZeekRecord, log_type: str) -> dict[str, Any]:
    if rec.log_type != log_type:
        raise ValueError(f"{rec.source}:{rec.line}: a {rec.log_type} record, not {log_type}")
    return rec.fields


@dataclass(frozen=True, slots=True)
class ZeekConn:
    """The conn.log fields the detector uses."""

    ts: float | None
    uid: str | None
    orig_h: str | None
    orig_p: int | None
    resp_h: str | None
    resp_p: int | None
    proto: str | None
    service: str | None
    duration: float | None
    orig_bytes: int | None
    resp_bytes: int | None
    conn_state: str | None
    orig_pkts: int | None
    resp_pkts: int | None
    history: str | None

    @classmethod
    def from_record(cls, rec: ZeekRecord) -> ZeekConn:
        f = _expect(rec, "conn")
        return cls(
            _f(f, "ts"), _s(f, "uid"), _s(f, "id.orig_h"), _i(f, "id.orig_p"), _s(f, "id.resp_h"),
            _i(f, "id.resp_p"), _s(f, "proto"), _s(f, "service"), _f(f, "duration"),
            _i(f, "orig_bytes"), _i(f, "resp_bytes"), _s(f, "conn_state"), _i(f, "orig_pkts"),
            _i(f, "resp_pkts"), _s(f, "history"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZeekDns:
    """The dns.log fields the detector uses."""

    ts: float | None
    uid: str | None
    orig_h: str | None
    orig_p: int | None
    resp_h: str | None
    resp_p: int | None
    query: str | None
    qtype: int | None
    qtype_name: str | None
    rcode_name: str | None
    answers: tuple[str, ...] | None  #: None when unset (no answer section), () when empty
    ttls: tuple[float, ...] | None

    @classmethod
    def from_record(cls, rec: ZeekRecord) -> ZeekDns:
        f = _expect(rec, "dns")
        return cls(
            _f(f, "ts"), _s(f, "uid"), _s(f, "id.orig_h"), _i(f, "id.orig_p"), _s(f, "id.resp_h"),
            _i(f, "id.resp_p"), _s(f, "query"), _i(f, "qtype"), _s(f, "qtype_name"),
            _s(f, "rcode_name"), _strs(f, "answers"), _floats(f, "TTLs"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZeekSsl:
    """The ssl.log fields the detector uses (old and new schemas, ja3/ja4 packages if loaded)."""

    ts: float | None
    uid: str | None
    orig_h: str | None
    orig_p: int | None
    resp_h: str | None
    resp_p: int | None
    version: str | None
    server_name: str | None
    established: bool | None
    ja3: str | None  #: from the ja3 package, when loaded
    ja3s: str | None
    ja4: str | None  #: from the ja4 package, when loaded
    cert_chain_fps: tuple[str, ...] | None  #: Zeek >= 4.2
    cert_chain_fuids: tuple[str, ...] | None  #: older Zeek (file ids into files.log / x509.log)
    subject: str | None  #: older Zeek: leaf certificate subject
    issuer: str | None  #: older Zeek: leaf certificate issuer
    validation_status: str | None

    @classmethod
    def from_record(cls, rec: ZeekRecord) -> ZeekSsl:
        f = _expect(rec, "ssl")
        return cls(
            _f(f, "ts"), _s(f, "uid"), _s(f, "id.orig_h"), _i(f, "id.orig_p"), _s(f, "id.resp_h"),
            _i(f, "id.resp_p"), _s(f, "version"), _s(f, "server_name"), _b(f, "established"),
            _s(f, "ja3"), _s(f, "ja3s"), _s(f, "ja4"), _strs(f, "cert_chain_fps"),
            _strs(f, "cert_chain_fuids"), _s(f, "subject"), _s(f, "issuer"),
            _s(f, "validation_status"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZeekX509:
    """The x509.log fields the detector uses."""

    ts: float | None
    fingerprint: str | None  #: Zeek >= 4.2 (the key of ssl.log cert_chain_fps)
    file_id: str | None  #: older Zeek "id" (the key of ssl.log cert_chain_fuids)
    subject: str | None
    issuer: str | None
    not_valid_before: float | None
    not_valid_after: float | None
    san_dns: tuple[str, ...] | None

    @classmethod
    def from_record(cls, rec: ZeekRecord) -> ZeekX509:
        f = _expect(rec, "x509")
        return cls(
            _f(f, "ts"), _s(f, "fingerprint"), _s(f, "id"), _s(f, "certificate.subject"),
            _s(f, "certificate.issuer"), _f(f, "certificate.not_valid_before"),
            _f(f, "certificate.not_valid_after"), _strs(f, "san.dns"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZeekNotice:
    """The notice.log fields the detector uses."""

    ts: float | None
    uid: str | None
    note: str | None
    msg: str | None
    sub: str | None
    src: str | None
    dst: str | None
    p: int | None

    @classmethod
    def from_record(cls, rec: ZeekRecord) -> ZeekNotice:
        f = _expect(rec, "notice")
        return cls(
            _f(f, "ts"), _s(f, "uid"), _s(f, "note"), _s(f, "msg"), _s(f, "sub"), _s(f, "src"),
            _s(f, "dst"), _i(f, "p"),
        )  # fmt: skip


TypedZeek = ZeekConn | ZeekDns | ZeekSsl | ZeekX509 | ZeekNotice
TYPED_VIEWS: dict[str, Any] = {
    "conn": ZeekConn,
    "dns": ZeekDns,
    "ssl": ZeekSsl,
    "x509": ZeekX509,
    "notice": ZeekNotice,
}  # fmt: skip


def typed(rec: ZeekRecord) -> TypedZeek | None:
    """The typed view of ``rec`` for conn/dns/ssl/x509/notice records, else ``None``."""
    cls = TYPED_VIEWS.get(rec.log_type)
    return cls.from_record(rec) if cls is not None else None
