"""Formatting of figures for people: SI hashrates, energy, bytes, times; escaping for Markdown."""

from __future__ import annotations

import datetime as _dt
from typing import Any

_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "n/a"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".strip()


def rate(r: dict[str, Any] | None) -> str:
    """'12.3 TH/s (90 % interval 10.1–14.9 TH/s)' or the basis when not observable."""
    if not r:
        return "n/a"
    unit = r.get("unit", "H/s")
    if r.get("value") is None:
        if r.get("high") is not None:
            return f"≤ {si(r['high'], unit)} (upper bound)"
        return "not observable"
    return f"{si(r['value'], unit)} ({si(r['low'], unit)}–{si(r['high'], unit)})"


def kwh(e: dict[str, Any] | None) -> str:
    if not e or e.get("best") is None and e.get("high") is None:
        return "n/a"
    def one(x: float | None) -> str:
        return "n/a" if x is None else f"{x:,.3g}" if x < 1000 else f"{x:,.0f}"
    return f"{one(e.get('low'))} / {one(e.get('best'))} / {one(e.get('high'))}"


def nbytes(n: int | None) -> str:
    return si(float(n), "B") if n is not None else "n/a"


def ts(t: float | None) -> str:
    if t is None:
        return "n/a"
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def md(text: Any, limit: int = 80) -> str:
    """Attacker-controlled text made safe for a Markdown table cell."""
    s = "" if text is None else str(text)
    if not s.isprintable():
        s = "".join(ch if ch.isprintable() else "?" for ch in s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.translate(_MD_ESCAPES)


#: Markdown's special characters, each escaped with a backslash (in one pass)
_MD_ESCAPES = str.maketrans({ch: "\\" + ch for ch in "\\`*_{}[]<>()#+!|"})
