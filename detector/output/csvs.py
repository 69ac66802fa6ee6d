"""sessions.csv and subnets.csv, from findings, for spreadsheets and scripts.

Both are built as plain rows (:class:`detector.output.tables.Table`) and written by
:func:`detector.output.tables.write_table`, which prefixes cells a spreadsheet would run as a
formula. Text cells are also made encodable first (:func:`text_cell`): a lone surrogate from a
``\\udXXX`` escape in a saved findings.json would otherwise stop the UTF-8 writer. Missing or
mistyped fields become empty cells, never an exception, so a findings document from an older or
newer minesweep still gives its tables. pandas is imported only by the ``*_frame`` functions.

Public API:

``sessions_table(findings) -> Table`` / ``sessions_frame(findings) -> DataFrame`` /
``write_sessions_csv(findings, out_dir) -> Path``
    One row per mining session (columns: :data:`SESSION_COLUMNS`).
``subnets_table(findings) -> Table`` / ``subnets_frame(findings) -> DataFrame`` /
``write_subnets_csv(findings, out_dir) -> Path``
    One row per subnet; per algorithm ``<alg>_hashrate``, ``<alg>_hashrate_low``,
    ``<alg>_hashrate_high``, ``<alg>_unit`` columns after :data:`SUBNET_COLUMNS`.
``text_cell(value) -> value`` (from :mod:`detector.output.tables`) and the lenient accessors
``as_dict``, ``as_list``, ``as_num``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.output.tables import CELL_LIMIT, Table, frame, text_cell, write_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CELL_LIMIT",
    "SESSION_COLUMNS",
    "SUBNET_COLUMNS",
    "as_dict",
    "as_list",
    "as_num",
    "sessions_frame",
    "sessions_table",
    "subnets_frame",
    "subnets_table",
    "text_cell",
    "write_sessions_csv",
    "write_subnets_csv",
]

SESSION_COLUMNS = (
    "client", "client_port", "server", "server_port", "unit", "dialect", "transport", "coin", "algorithm",
    "pool", "pool_source", "pool_operator", "worker", "login", "wallet", "wallet_coin", "agent",
    "first_seen", "last_seen", "duration_s", "submits", "accepted", "rejected", "duplicate_submits",
    "difficulty_kind", "difficulty", "hashrate", "hashrate_low", "hashrate_high", "hashrate_unit",
    "hashrate_basis", "reported_hashrate_mean", "reported_hashrate_last", "bytes_c2s", "bytes_s2c",
    "confidence", "notes",
)
SUBNET_COLUMNS = (
    "subnet", "mining_ips", "sessions", "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high",
    "egress_bytes", "coins", "pools", "ips",
)
_ALG_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}\Z")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_num(value: Any) -> float | None:
    """A finite number, or None (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) else None


def _num_or_text(value: Any) -> Any:
    n = as_num(value)
    if n is not None:
        return int(value) if isinstance(value, int) else n
    return None if value is None else text_cell(value)


def sessions_table(findings: dict[str, Any]) -> Table:
    units = {h.get("ip"): h.get("unit") for h in map(as_dict, as_list(findings.get("hosts")))}
    rows: list[tuple[Any, ...]] = []
    for s in map(as_dict, as_list(findings.get("sessions"))):
        r, rep = as_dict(s.get("hashrate")), as_dict(s.get("reported_hashrate"))
        diff = as_dict(as_dict(s.get("difficulty")).get("current"))
        row = {k: s.get(k) for k in SESSION_COLUMNS}
        client = s.get("client")
        row.update({
            "unit": units.get(client) if isinstance(client, str) else None,
            "difficulty_kind": diff.get("kind"), "difficulty": diff.get("value"),
            "hashrate": r.get("value"), "hashrate_low": r.get("low"), "hashrate_high": r.get("high"),
            "hashrate_unit": r.get("unit"), "hashrate_basis": r.get("basis"),
            "reported_hashrate_mean": rep.get("mean"), "reported_hashrate_last": rep.get("last"),
            "notes": [n for n in as_list(s.get("notes")) if isinstance(n, str)],
        })
        rows.append(tuple(_num_or_text(row[k]) for k in SESSION_COLUMNS))
    return Table(SESSION_COLUMNS, rows)


def sessions_frame(findings: dict[str, Any]) -> pd.DataFrame:
    return frame(sessions_table(findings))


def subnets_table(findings: dict[str, Any]) -> Table:
    rows: list[dict[str, Any]] = []
    algs: set[str] = set()
    for n in map(as_dict, as_list(findings.get("subnets"))):
        e = as_dict(n.get("energy_kwh_per_day"))
        row: dict[str, Any] = {
            "subnet": n.get("subnet"), "mining_ips": n.get("mining_ips"), "sessions": n.get("sessions"),
            "kwh_per_day_low": e.get("low"), "kwh_per_day_best": e.get("best"), "kwh_per_day_high": e.get("high"),
            "egress_bytes": n.get("egress_bytes"), "coins": as_list(n.get("coins")),
            "pools": as_list(n.get("pools")), "ips": as_list(n.get("ips")),
        }
        for alg, r in as_dict(n.get("hashrate_by_algorithm")).items():
            if not _ALG_NAME.match(alg):  # column names come from data: keep only plain names
                continue
            r = as_dict(r)
            algs.add(alg)
            row.update({f"{alg}_hashrate": r.get("value"), f"{alg}_hashrate_low": r.get("low"),
                        f"{alg}_hashrate_high": r.get("high"), f"{alg}_unit": r.get("unit")})
        rows.append(row)
    columns = list(SUBNET_COLUMNS)
    for alg in sorted(algs):
        columns += [f"{alg}_hashrate", f"{alg}_hashrate_low", f"{alg}_hashrate_high", f"{alg}_unit"]
    return Table(tuple(columns), [tuple(_num_or_text(row.get(c)) for c in columns) for row in rows])


def subnets_frame(findings: dict[str, Any]) -> pd.DataFrame:
    return frame(subnets_table(findings))


def write_sessions_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_table(sessions_table(findings), Path(out_dir) / "sessions.csv")


def write_subnets_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_table(subnets_table(findings), Path(out_dir) / "subnets.csv")
