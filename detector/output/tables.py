"""CSV tables (hosts.csv, …) written with pandas. Cells that a spreadsheet would run as a formula
(attacker-chosen worker names starting with = + - @) are prefixed with a quote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def hosts_frame(hosts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for h in hosts:
        r, e = h["hashrate"], h["energy_kwh_per_day"]
        rows.append({
            "ip": h["ip"], "sessions": h["sessions"], "pools": ";".join(h["pools"]), "coins": ";".join(h["coins"]),
            "algorithm": r["algorithm"], "hashrate": r["value"], "hashrate_low": r["low"], "hashrate_high": r["high"],
            "unit": r["unit"], "kwh_per_day_low": e["low"], "kwh_per_day_best": e["best"], "kwh_per_day_high": e["high"],
            "egress_bytes": h["egress_bytes"], "egress_mbps": h["egress_mbps"], "first_seen": h["first_seen"],
            "last_seen": h["last_seen"], "submits": h["submits"], "accepted": h["accepted"], "rejected": h["rejected"],
            "workers": ";".join(h["workers"]), "wallets": ";".join(h["wallets"]), "agents": ";".join(h["agents"]),
        })
    columns = ["ip", "sessions", "pools", "coins", "algorithm", "hashrate", "hashrate_low", "hashrate_high", "unit",
               "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high", "egress_bytes", "egress_mbps", "first_seen",
               "last_seen", "submits", "accepted", "rejected", "workers", "wallets", "agents"]
    return pd.DataFrame(rows, columns=columns)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame = frame.map(safe_cell) if len(frame) else frame
    frame.to_csv(path, index=False)
    return path


def write_hosts_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_csv(hosts_frame(findings["hosts"]), out_dir / "hosts.csv")


def units_frame(units: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["unit", "category", "public_institution", "mining_ips", "ips", "sessions", "pools", "coins",
               "hashrate_by_algorithm", "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high", "egress_bytes",
               "verdicts", "attribution_sources"]
    rows = []
    for u in units:
        e = u["energy_kwh_per_day"]
        rows.append({
            "unit": u["unit"] or "", "category": u["category"], "public_institution": u["public_institution"],
            "mining_ips": u["mining_ips"], "ips": ";".join(u["ips"]), "sessions": u["sessions"],
            "pools": ";".join(u["pools"]), "coins": ";".join(u["coins"]),
            "hashrate_by_algorithm": ";".join(f"{a}={r['value'] if r['value'] is not None else ''}{r['unit']}"
                                              for a, r in u["hashrate_by_algorithm"].items()),
            "kwh_per_day_low": e["low"], "kwh_per_day_best": e["best"], "kwh_per_day_high": e["high"],
            "egress_bytes": u["egress_bytes"],
            "verdicts": ";".join(f"{k}={v}" for k, v in u["verdicts"].items()),
            "attribution_sources": ";".join(u["attribution_sources"]),
        })
    return pd.DataFrame(rows, columns=columns)


def write_units_csv(findings: dict[str, Any], out_dir: Path) -> Path:
    return write_csv(units_frame(findings.get("units", [])), out_dir / "units.csv")
