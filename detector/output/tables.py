"""CSV tables: hosts.csv and units.csv, and the writer every CSV of minesweep goes through.

A table is built once, as plain rows of Python values (:class:`Table`); :func:`write_table` writes
it with the stdlib :mod:`csv` module and :func:`frame` turns the same rows into a pandas DataFrame
for analysts (pandas is imported only then, so the commands start without it).

Cells are written as ``str()`` of their value (floats by ``repr``, so they read back exactly; None
and NaN as an empty cell; booleans as True/False), quoted only where CSV needs it: a delimiter, a
quote, a line feed, or a carriage return (which the :mod:`csv` module leaves bare when lines end in
``\\n``, so a reader or a spreadsheet would have started a new row there). Text a spreadsheet would
run as a formula (attacker-chosen worker names starting with ``= + - @``, a tab or a carriage
return) is prefixed with a quote (:func:`safe_cell`). Text is also made encodable and bounded first
(:func:`text_cell`): a lone surrogate from a ``\\udXXX`` escape would otherwise stop the UTF-8 writer.

Public API:

``Table(columns, rows)``
    Column names and rows (tuples of cell values, in column order).
``write_table(table, path) -> Path`` / ``frame(table) -> DataFrame``
    The table as a CSV file (header line, then one line per row; ``\\n`` line ends, UTF-8), or
    as a pandas DataFrame (pandas imported on call).
``safe_cell(value) -> value`` and ``text_cell(value) -> value``
    The formula guard and the text cleaning above.
``hosts_table(hosts)``, ``hosts_frame(hosts)``, ``write_hosts_csv(findings, out_dir) -> Path``
    hosts.csv: one row per mining host (columns :data:`HOST_COLUMNS`).
``units_table(units)``, ``units_frame(units)``, ``write_units_csv(findings, out_dir) -> Path``
    units.csv: one row per attributed unit (columns :data:`UNIT_COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CELL_LIMIT",
    "HOST_COLUMNS",
    "UNIT_COLUMNS",
    "Table",
    "frame",
    "hosts_frame",
    "hosts_table",
    "safe_cell",
    "text_cell",
    "units_frame",
    "units_table",
    "write_hosts_csv",
    "write_table",
    "write_units_csv",
]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
CELL_LIMIT = 4096
_UNENCODABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

HOST_COLUMNS = (
    "ip", "sessions", "pools", "coins", "algorithm", "hashrate", "hashrate_low", "hashrate_high", "unit",
    "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high", "egress_bytes", "egress_mbps", "first_seen",
    "last_seen", "submits", "accepted", "rejected", "workers", "wallets", "agents",
)
UNIT_COLUMNS = (
    "unit", "category", "public_institution", "mining_ips", "ips", "sessions", "pools", "coins",
    "hashrate_by_algorithm", "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high", "egress_bytes",
    "verdicts", "attribution_sources",
)


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV table: column names, and rows of cell values in column order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, with a quote in front; anything else as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def text_cell(value: Any) -> Any:
    """Text that UTF-8 can encode, without control characters but tab and line ends, at most
    CELL_LIMIT long; a list or tuple joined with ``;``; a dict empty; anything else as it is."""
    if isinstance(value, (list, tuple)):
        value = ";".join(str(text_cell(v)) for v in value)
    if isinstance(value, dict):
        return ""
    if isinstance(value, str):
        value = _UNENCODABLE.sub("\ufffd", value)
        return value if len(value) <= CELL_LIMIT else value[: CELL_LIMIT - 1] + "…"
    return value


def _cell(value: Any) -> Any:
    """What the csv writer gets for ``value``: guarded text, None for NaN, anything else as it is
    (the writer writes None as an empty cell, floats by repr, other values by str)."""
    if type(value) is str:
        return "'" + value if value.startswith(_FORMULA) else value
    if type(value) is float:
        return None if value != value else value
    if value is None or type(value) is int or type(value) is bool:
        return value
    if isinstance(value, float):  # a float subclass (numpy.float64): by its float value
        return None if value != value else float(value)
    if isinstance(value, Number):  # other numbers (numpy.int64, Decimal) by str, as numbers
        return str(value)
    return safe_cell(str(value))


def write_table(table: Table, path: Path) -> Path:
    """``table`` as CSV at ``path`` (see the module docstring); returns ``path``."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.columns)
        cr_writer, buffer = None, io.StringIO()
        for row in table.rows:
            cells = [_cell(v) for v in row]
            if not any(type(c) is str and "\r" in c for c in cells):
                writer.writerow(cells)
                continue
            if cr_writer is None:  # a writer whose line end holds \r quotes a cell holding one
                cr_writer = csv.writer(buffer, lineterminator="\r\n")
            buffer.seek(0)
            buffer.truncate()
            cr_writer.writerow(cells)
            fh.write(buffer.getvalue()[:-2] + "\n")
    return path


def frame(table: Table) -> pd.DataFrame:
    """``table`` as a pandas DataFrame (pandas is imported here, not at start-up)."""
    import pandas as pd

    return pd.DataFrame(table.rows, columns=list(table.columns))


def _joined(values: Sequence[Any]) -> str:
    return text_cell(";".join(values))


def hosts_table(hosts: list[dict[str, Any]]) -> Table:
    rows: list[tuple[Any, ...]] = []
    for h in hosts:
        r, e = h["hashrate"], h["energy_kwh_per_day"]
        rows.append((
            text_cell(h["ip"]), h["sessions"], _joined(h["pools"]), _joined(h["coins"]), text_cell(r["algorithm"]),
            r["value"], r["low"], r["high"], text_cell(r["unit"]), e["low"], e["best"], e["high"],
            h["egress_bytes"], h["egress_mbps"], h["first_seen"], h["last_seen"], h["submits"], h["accepted"],
            h["rejected"], _joined(h["workers"]), _joined(h["wallets"]), _joined(h["agents"]),
        ))
    return Table(HOST_COLUMNS, rows)


def hosts_frame(hosts: list[dict[str, Any]]) -> pd.DataFrame:
    return frame(hosts_table(hosts))


def write_hosts_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_table(hosts_table(findings["hosts"]), Path(out_dir) / "hosts.csv")


def units_table(units: list[dict[str, Any]]) -> Table:
    rows: list[tuple[Any, ...]] = []
    for u in units:
        e = u["energy_kwh_per_day"]
        rates = ";".join(f"{a}={r['value'] if r['value'] is not None else ''}{r['unit']}"
                         for a, r in u["hashrate_by_algorithm"].items())
        rows.append((
            text_cell(u["unit"] or ""), text_cell(u["category"]), u["public_institution"], u["mining_ips"],
            _joined(u["ips"]), u["sessions"], _joined(u["pools"]), _joined(u["coins"]), text_cell(rates),
            e["low"], e["best"], e["high"], u["egress_bytes"],
            text_cell(";".join(f"{k}={v}" for k, v in u["verdicts"].items())), _joined(u["attribution_sources"]),
        ))
    return Table(UNIT_COLUMNS, rows)


def units_frame(units: list[dict[str, Any]]) -> pd.DataFrame:
    return frame(units_table(units))


def write_units_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_table(units_table(findings.get("units", [])), Path(out_dir) / "units.csv")
