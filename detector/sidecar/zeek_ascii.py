"""Write Zeek logs: the TSV ("ASCII") format with its full header, and Zeek's JSON lines.

The TSV writer follows Zeek's ASCII writer (``logging/writers/ascii``, formatter
``threading/formatters/Ascii.cc``): a header of ``#separator \\x09``, ``#set_separator ,``,
``#empty_field (empty)``, ``#unset_field -``, ``#path``, ``#open``, ``#fields``, ``#types``; one
line per record; ``#close`` when the file is finished. Values: ``None`` -> ``-``; an empty string
or container -> ``(empty)``; time/interval/double with six decimals; bool ``T``/``F``; sets and
vectors joined with ``,``. Inside strings the separator, the set separator (inside containers),
backslash and non-printable characters are written as ``\\xHH``, and a string equal to ``-`` or
``(empty)`` has its first character escaped, so every value reads back unchanged with
``detector.sensors.zeek`` (or ``zeek-cut``).

Public API

``ZeekTsvWriter(fh, path, fields, types, open_ts)``   ``.header()``, ``.write(values)``, ``.close(ts)``
``format_value(value, zeek_type) -> str``             one TSV cell
``zeek_time(ts) -> str``                              ``YYYY-MM-DD-HH-MM-SS`` (UTC) for #open/#close
``json_record(fields, types, values) -> str``         one Zeek JSON log line (unset fields left out)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["ZeekTsvWriter", "format_value", "json_record", "zeek_time"]

SEPARATOR = "\t"
SET_SEPARATOR = ","
EMPTY = "(empty)"
UNSET = "-"
_NUMERIC_FLOAT = frozenset({"time", "interval", "double"})
_NUMERIC_INT = frozenset({"count", "counter", "int", "port"})


def zeek_time(ts: float) -> str:
    """Zeek's #open/#close time format."""
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")


def _escape(text: str, in_container: bool) -> str:
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\" or ch == SEPARATOR or (in_container and ch == SET_SEPARATOR) or (
            code < 0x80 and not ch.isprintable()
        ):
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    escaped = "".join(out)
    if escaped in (UNSET, EMPTY) or not escaped:
        return f"\\x{ord(escaped[0]):02x}{escaped[1:]}" if escaped else escaped
    return escaped


def _scalar(value: Any, zeek_type: str, in_container: bool) -> str:
    if value is None:
        return UNSET
    if zeek_type in _NUMERIC_FLOAT:
        number = float(value)
        if not math.isfinite(number):
            return UNSET
        return f"{number:.6f}"
    if zeek_type in _NUMERIC_INT:
        return str(int(value))
    if zeek_type == "bool":
        return "T" if value else "F"
    text = str(value)
    if not text and not in_container:
        return EMPTY
    return _escape(text, in_container)


def format_value(value: Any, zeek_type: str) -> str:
    """One TSV cell for ``value`` of Zeek type ``zeek_type`` ("string", "vector[string]", ...)."""
    if value is None:
        return UNSET
    for prefix in ("set[", "vector["):
        if zeek_type.startswith(prefix):
            inner = zeek_type[len(prefix):-1]
            items = list(value)
            if not items:
                return EMPTY
            return SET_SEPARATOR.join(_scalar(v, inner, True) for v in items)
    return _scalar(value, zeek_type, False)


class ZeekTsvWriter:
    """A Zeek TSV log being written to ``fh`` (header first, ``#close`` at the end)."""

    def __init__(self, fh: TextIO, path: str, fields: Sequence[str], types: Sequence[str],
                 open_ts: float) -> None:
        if len(fields) != len(types):
            raise ValueError("fields and types differ in length")
        self.fh, self.path = fh, path
        self.fields, self.types = tuple(fields), tuple(types)
        self.open_ts = open_ts

    def header(self) -> None:
        fh = self.fh
        fh.write("#separator \\x09\n")
        fh.write(f"#set_separator{SEPARATOR}{SET_SEPARATOR}\n")
        fh.write(f"#empty_field{SEPARATOR}{EMPTY}\n")
        fh.write(f"#unset_field{SEPARATOR}{UNSET}\n")
        fh.write(f"#path{SEPARATOR}{self.path}\n")
        fh.write(f"#open{SEPARATOR}{zeek_time(self.open_ts)}\n")
        fh.write("#fields" + SEPARATOR + SEPARATOR.join(self.fields) + "\n")
        fh.write("#types" + SEPARATOR + SEPARATOR.join(self.types) + "\n")

    def write(self, values: Sequence[Any]) -> None:
        if len(values) != len(self.fields):
            raise ValueError(f"{len(values)} values for {len(self.fields)} fields")
        self.fh.write(SEPARATOR.join(format_value(v, t) for v, t in zip(values, self.types)) + "\n")

    def close(self, close_ts: float) -> None:
        self.fh.write(f"#close{SEPARATOR}{zeek_time(close_ts)}\n")


def _json_value(value: Any, zeek_type: str) -> Any:
    if zeek_type.startswith(("set[", "vector[")):
        inner = zeek_type[zeek_type.index("[") + 1:-1]
        return [_json_value(v, inner) for v in value]
    if zeek_type in _NUMERIC_FLOAT:
        return round(float(value), 6)
    if zeek_type in _NUMERIC_INT:
        return int(value)
    if zeek_type == "bool":
        return bool(value)
    return str(value)


def json_record(fields: Sequence[str], types: Sequence[str], values: Sequence[Any]) -> str:
    """One Zeek JSON log line (``LogAscii::use_json=T``): unset fields are left out."""
    obj = {f: _json_value(v, t) for f, t, v in zip(fields, types, values) if v is not None}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
