"""Indicators of compromise from findings: pool domains and addresses, wallets, mining agents.

The same records feed the report's appendix and ``iocs.csv``, so both always agree. Each
indicator carries what an analyst needs to judge it: the coins and ports it was seen with, how
many client hosts and sessions used it, when, and where the pool name came from.

Public API:

``collect(findings) -> list[Indicator]``
    Every indicator, grouped by type in the order of :data:`TYPES`, then by value.
``iocs_table(findings) -> Table`` / ``iocs_frame(findings) -> DataFrame`` /
``write_iocs_csv(findings, out_dir) -> Path``
    ``iocs.csv`` with the columns of :data:`COLUMNS`; times as ISO-8601 UTC (pandas is imported
    only by ``iocs_frame``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.output.csvs import as_dict, as_list, as_num, text_cell
from detector.output.tables import Table, frame, write_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "TYPES", "Indicator", "collect", "iocs_frame", "iocs_table", "write_iocs_csv"]

#: Indicator types, in report order.
TYPES = ("pool-domain", "pool-ip", "wallet", "agent")
COLUMNS = ("type", "indicator", "ports", "coins", "operator", "source", "hosts", "sessions",
           "first_seen", "last_seen")
VALUE_LIMIT = 512


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator and the sessions behind it."""

    type: str  #: one of TYPES
    value: str
    ports: tuple[int, ...]
    coins: tuple[str, ...]
    operator: str | None  #: pool operator (pool domains) or wallet coin (wallets)
    source: str | None  #: how the pool name was learnt (dns, mining.subscribe, http-host, sni…)
    hosts: int  #: distinct client addresses
    sessions: int
    first_seen: float | None
    last_seen: float | None


class _Acc:
    __slots__ = ("ports", "coins", "operators", "sources", "clients", "sessions", "first", "last")

    def __init__(self) -> None:
        self.ports: set[int] = set()
        self.coins: set[str] = set()
        self.operators: set[str] = set()
        self.sources: set[str] = set()
        self.clients: set[str] = set()
        self.sessions = 0
        self.first: float | None = None
        self.last: float | None = None

    def add(self, s: dict[str, Any]) -> None:
        port = s.get("server_port")
        if isinstance(port, int) and not isinstance(port, bool):
            self.ports.add(port)
        for key, target in (("coin", self.coins), ("client", self.clients)):
            if isinstance(s.get(key), str):
                target.add(s[key])
        self.sessions += 1
        first, last = as_num(s.get("first_seen")), as_num(s.get("last_seen"))
        if first is not None:
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _str(value: Any) -> str | None:
    return text_cell(value)[:VALUE_LIMIT] if isinstance(value, str) and value.strip() else None


def collect(findings: dict[str, Any]) -> list[Indicator]:
    """All indicators in ``findings`` (see the module docstring)."""
    acc: dict[tuple[str, str], _Acc] = {}

    def get(kind: str, value: str) -> _Acc:
        return acc.setdefault((kind, value), _Acc())

    for s in map(as_dict, as_list(findings.get("sessions"))):
        pool, server = _str(s.get("pool")), _str(s.get("server"))
        if pool is not None and not _is_ip(pool):  # an address as pool name is the server below
            a = get("pool-domain", pool)
            a.add(s)
            for key, target in (("pool_operator", a.operators), ("pool_source", a.sources)):
                if _str(s.get(key)):
                    target.add(_str(s.get(key)))  # type: ignore[arg-type]
        if server is not None:
            get("pool-ip", server).add(s)
        wallet = _str(s.get("wallet"))
        if wallet is not None:
            a = get("wallet", wallet)
            a.add(s)
            if _str(s.get("wallet_coin")):
                a.operators.add(_str(s.get("wallet_coin")))  # type: ignore[arg-type]
        agent = _str(s.get("agent"))
        if agent is not None:
            get("agent", agent).add(s)
    order = {t: i for i, t in enumerate(TYPES)}
    out = [Indicator(kind, value, tuple(sorted(a.ports)), tuple(sorted(a.coins)),
                     ", ".join(sorted(a.operators)) or None, ", ".join(sorted(a.sources)) or None,
                     len(a.clients), a.sessions, a.first, a.last)
           for (kind, value), a in acc.items()]
    return sorted(out, key=lambda i: (order[i.type], _address_key(i.value), i.value))


def _address_key(value: str) -> tuple[int, int]:
    """Addresses in numeric order (IPv4 first); anything else after them, by text."""
    try:
        a = ipaddress.ip_address(value)
    except ValueError:
        return (9, 0)
    return (a.version, int(a))


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    try:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def iocs_table(findings: dict[str, Any]) -> Table:
    rows = [(i.type, i.value, ";".join(map(str, i.ports)), ";".join(text_cell(c) for c in i.coins), i.operator,
             i.source, i.hosts, i.sessions, _iso(i.first_seen), _iso(i.last_seen))
            for i in collect(findings)]
    return Table(COLUMNS, rows)


def iocs_frame(findings: dict[str, Any]) -> pd.DataFrame:
    return frame(iocs_table(findings))


def write_iocs_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_table(iocs_table(findings), Path(out_dir) / "iocs.csv")
