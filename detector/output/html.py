"""report.html: the audit report as one self-contained HTML file, rendered from findings.

The page holds everything it needs: stylesheet, a small script (sortable and filterable
tables), SVG charts and system fonts only. Its Content-Security-Policy forbids every network
load (``default-src 'none'``) and lets only our own inline script run, by its sha256 hash, so it
opens offline, from an e-mail attachment, and prints to PDF with a print stylesheet.

Everything from a capture (worker names, agents, pool names, wallets) is attacker-controlled.
It reaches the page only as text: :func:`text` bounds its length, replaces lone surrogates and
control characters, and shows invisible and bidirectional-override characters as ``[U+202E]``;
``detector.output.page`` then escapes every value it writes. Links point only at the page's own
anchors (``#host-N``, from the host's position, never from data). Data for the script is a JSON
block with ``<``, ``>`` and ``&`` escaped.

The renderer is lenient: a field that is missing or has the wrong type shows as "—" or "n/a", so
findings from older scans (no units, verdicts or attribution yet) and from newer ones render.
Labels and sentences come from ``i18n/<lang>.toml`` (English and Simplified Chinese); numbers,
addresses and evidence stay as data.

Public API:

``render_html(findings, lang="en") -> str``
    The complete page.
``write_html(findings, out_dir, lang="en") -> Path``
    Write ``out_dir/report.html`` (UTF-8) atomically and return its path.
``LANGS``
    Supported languages.
``load_strings(lang) -> Strings``
    The label table of one language (``Strings(key, **values)`` formats one label).
``text(value, limit) -> str``
    Attacker-controlled value made displayable (used for every string from findings).
``content_security_policy(script) -> str``
    The page's CSP for an inline ``script`` (allowed by its sha256 hash).

This module makes the page's views (plain dicts and records of display text); the markup is
written by ``detector.output.page``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import os
import re
import shlex
import tomllib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from detector import __version__
from detector.errors import MinesweepError
from detector.output import LANGS, charts
from detector.output.csvs import as_dict, as_list, as_num
from detector.output.fmt import si
from detector.output.fmt import ts as fmt_ts
from detector.output.iocs import collect as collect_iocs
from detector.output.page import render_page

__all__ = ["LANGS", "Strings", "content_security_policy", "load_strings", "render_html", "text", "write_html",
           "write_page"]

HTML_LANG = {"en": "en", "zh": "zh-CN"}
_HERE = Path(__file__).resolve().parent
ASSETS = _HERE / "assets"
I18N = _HERE / "i18n"

TEXT_LIMIT = 160  #: default display length of a string from findings
LONG_LIMIT = 400  #: bases, evidence lines
TOP_N = 12  #: bars per chart
TIMELINE_LANES = 30
HEAT_CELLS = 120
UNIT_IPS_SHOWN = 30
EVIDENCE_LINES = 8  #: protocol evidence lines per session
EVIDENCE_CHARS = 200
WARNINGS_SHOWN = 50
VERDICTS = ("institution_misuse", "compromised", "private")
SESSION_CONFIDENCE = ("confirmed", "strong", "suspected")
EVIDENCE_SIDES = ("compromise", "deliberate", "attribution", "model")

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_SPACE = re.compile("[\t\n\r]")
_INVISIBLE = re.compile("[\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- text and numbers


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A value from findings as displayable, bounded text ("" for None)."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    if s.isascii() and s.isprintable():  # the common text: nothing below would change it
        return s
    s = _SPACE.sub(" ", s)
    s = _UNSAFE.sub("\ufffd", s)
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", s)


def _texts(values: Any, limit: int = TEXT_LIMIT) -> list[str]:
    return [text(v, limit) for v in as_list(values) if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


def _int(value: Any) -> int | None:
    n = as_num(value)
    return int(n) if n is not None and abs(n) < 2**63 else None


def _count(value: Any) -> str:
    n = _int(value)
    return f"{n:,}" if n is not None else "—"


def _ts(value: Any) -> str:
    t = as_num(value)
    if t is None:
        return "—"
    try:
        return fmt_ts(t)
    except (OverflowError, OSError, ValueError):
        return "—"


def _ts_short(value: Any) -> str:
    """A time for table cells: the page says once that all times are UTC."""
    return _ts(value).removesuffix(" UTC")


def _ts_parts(t: float) -> tuple[str, str]:
    full = _ts(t)
    return (full[:10], full[11:16]) if len(full) >= 16 else (full, "")


def _unit_text(value: Any) -> str:
    return text(value, 12) if isinstance(value, str) else "H/s"


def _si(value: float | None, unit: str) -> str:
    return "—" if value is None else si(value, unit)


def _kwh_one(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) < 0.001:
        return "<0.001"
    return f"{x:.3g}" if abs(x) < 999.5 else f"{x:,.0f}"


def _sort(value: float | None) -> str:
    return "" if value is None else repr(value)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.0f}%" if 0 <= x <= 1 else f"{x:g}"


def _ip_sort(ip: str) -> str:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    return str(int(a) if a.version == 4 else 2**32 + int(a))


def _endpoint(host: str, port: Any) -> str:
    p = _int(port)
    if not host:
        return "" if p is None else f":{p}"
    host = f"[{host}]" if ":" in host else host
    return host if p is None else f"{host}:{p}"


# --------------------------------------------------------------------------- strings


class Strings:
    """Labels of one language. ``t(key, **values)`` formats one; a missing key is a bug (KeyError)."""

    def __init__(self, lang: str, table: Mapping[str, str]) -> None:
        self.lang = lang
        self.table = dict(table)

    def __call__(self, key: str, **values: Any) -> str:
        template = self.table[key]
        return template.format(**values) if values else template

    def n(self, key: str, count: int | None) -> str:
        """A counted noun: ``key.one`` for 1, ``key.other`` otherwise, with ``{n}`` filled in."""
        form = "one" if count == 1 else "other"
        return self.table[f"{key}.{form}"].format(n="—" if count is None else f"{count:,}")

    def get(self, key: str, default: str) -> str:
        return self.table.get(key, default)

    def lines(self, prefix: str) -> list[str]:
        """Every label ``prefix.1``, ``prefix.2``, … in order."""
        out, i = [], 1
        while f"{prefix}.{i}" in self.table:
            out.append(self.table[f"{prefix}.{i}"])
            i += 1
        return out


def _flatten(prefix: str, node: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        elif isinstance(value, list):
            for i, item in enumerate(value, 1):
                out[f"{name}.{i}"] = str(item)
        else:
            out[name] = str(value)


@functools.cache
def load_strings(lang: str) -> Strings:
    """The labels of ``lang`` from ``i18n/<lang>.toml``; ValueError for an unsupported language."""
    if lang not in LANGS:
        raise ValueError(f"unsupported report language {lang!r} (choose from {', '.join(LANGS)})")
    table: dict[str, str] = {}
    _flatten("", tomllib.loads((I18N / f"{lang}.toml").read_text("utf-8")), table)
    return Strings(lang, table)


# --------------------------------------------------------------------------- view records


@dataclass(frozen=True, slots=True)
class RateView:
    """A hashrate as shown: value, 90 % interval, or why it is not observable."""

    algorithm: str
    text: str
    interval: str
    kind: str  #: "value", "bound" (upper bound only) or "none"
    basis: str
    sort: str  #: data-v sort key


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    title: str
    caption: str = ""
    svg: Markup | None = None
    legend: Markup | None = None
    empty: str = ""


def _rate(r: Any, t: Strings, algorithm: Any = "") -> RateView:
    r = as_dict(r)
    unit = _unit_text(r.get("unit"))
    value, low, high = as_num(r.get("value")), as_num(r.get("low")), as_num(r.get("high"))
    alg = text(algorithm or r.get("algorithm"), 40)
    basis = text(r.get("basis"), LONG_LIMIT)
    if value is not None:
        interval = f"{_si(low, unit)}–{_si(high, unit)}" if low is not None and high is not None else ""
        return RateView(alg, si(value, unit), interval, "value", basis, _sort(value))
    if high is not None:
        return RateView(alg, t("rate.upper", value=si(high, unit)), t("rate.upper_note"), "bound", basis, _sort(high))
    return RateView(alg, t("rate.not_observable"), "", "none", basis, "")


def _energy(e: Any) -> tuple[str, str, str]:
    e = as_dict(e)
    return _kwh_one(as_num(e.get("low"))), _kwh_one(as_num(e.get("best"))), _kwh_one(as_num(e.get("high")))


def _energy_text(e: Any) -> str:
    low, best, high = _energy(e)
    return "—" if low == best == high == "—" else f"{low} / {best} / {high}"


def _energy_sort(e: Any) -> float | None:
    e = as_dict(e)
    best = as_num(e.get("best"))
    return best if best is not None else as_num(e.get("high"))


def _mbps(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 0.01:
        return f"{x:.3g} Mbps"
    return si(x * 1e6, "bit/s")


def _duration(seconds: float | None, t: Strings) -> str:
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 60:
        return t("dur.s", n=f"{seconds:.0f}")
    if seconds < 3600:
        return t("dur.min", n=f"{seconds / 60:.0f}")
    if seconds < 48 * 3600:
        return t("dur.h", n=f"{seconds / 3600:.1f}")
    if seconds < 365 * 86400:
        return t("dur.d", n=f"{seconds / 86400:.1f}")
    return t("dur.y", n=f"{seconds / (365.25 * 86400):.1f}")


def _category(key: Any, t: Strings) -> str:
    if not isinstance(key, str) or not key:
        return ""
    return t.get(f"category.{key}", text(key, 60))


def _keyed(key: Any, known: tuple[str, ...], label: str, limit: int, t: Strings) -> tuple[str, str]:
    """(CSS key, label) of a value from a known set (its label ``label.key``); others keep their text."""
    if not isinstance(key, str) or not key:
        return "", ""
    if key in known:
        return key, t(f"{label}.{key}")
    return "other", text(key, limit)


def _verdict(key: Any, t: Strings) -> tuple[str, str]:
    return _keyed(key, VERDICTS, "verdict", 60, t)


def _confidence(key: Any, t: Strings) -> tuple[str, str]:
    return _keyed(key, SESSION_CONFIDENCE, "conf", 40, t)


# --------------------------------------------------------------------------- sessions and hosts


def _difficulty(s: dict[str, Any], t: Strings) -> tuple[str, str, str]:
    """(current difficulty text, changes note, sort key)."""
    d = as_dict(s.get("difficulty"))
    cur = as_dict(d.get("current"))
    value, kind = cur.get("value"), cur.get("kind")
    changes = max(len(as_list(d.get("history"))) - 1, 0)
    note = t("detail.diff_changes", times=t.n("noun.time", changes)) if changes else ""
    n = as_num(value)
    if n is not None and kind != "target":
        return f"{n:,.6g}", note, _sort(n)
    if n is not None:
        return t("detail.target", value=f"{n:.4g}"), note, ""
    if not isinstance(value, str) or not value:  # missing, or a number that is not finite
        return "", note, ""
    return t("detail.target", value=text(value, 24)), note, ""


def _evidence_line(item: Any) -> str:
    if isinstance(item, dict):
        return text(" · ".join(f"{text(k, 40)}={text(v, 120)}" for k, v in list(item.items())[:6]), LONG_LIMIT)
    return text(item, LONG_LIMIT)


def _session_view(s: dict[str, Any], t: Strings) -> dict[str, Any]:
    first, last = as_num(s.get("first_seen")), as_num(s.get("last_seen"))
    duration = as_num(s.get("duration_s"))
    if duration is None and first is not None and last is not None:
        duration = last - first
    rep = as_dict(s.get("reported_hashrate"))
    rep_mean = as_num(rep.get("mean"))
    submits, acc, rej, dup = (_int(s.get(k)) for k in ("submits", "accepted", "rejected", "duplicate_submits"))
    acc_rej = t("detail.acc_rej", a=_count(acc), r=_count(rej)) if acc is not None or rej is not None else ""
    if dup:
        acc_rej += " · " + t("detail.dup", n=_count(dup))
    difficulty, diff_changes, diff_sort = _difficulty(s, t)
    conf_key, conf_label = _confidence(s.get("confidence"), t)
    worker, login, wallet = text(s.get("worker")), text(s.get("login")), text(s.get("wallet"))
    identity_login = login if login and login not in (worker, wallet) and not login.endswith("." + worker) else ""
    pool_note = " · ".join(x for x in (text(s.get("pool_operator"), 60), text(s.get("pool_source"), 40)) if x)
    evidence = as_list(s.get("evidence"))
    lines = [text(_evidence_line(e), EVIDENCE_CHARS) for e in evidence[:EVIDENCE_LINES]]
    if len(evidence) > EVIDENCE_LINES:
        lines.append(t("label.and_more", n=len(evidence) - EVIDENCE_LINES))
    port = _int(s.get("server_port"))
    return {
        "pool": text(s.get("pool"), 120), "pool_note": pool_note,
        "endpoint": _endpoint(text(s.get("server"), 64), s.get("server_port")),
        "port": "—" if port is None else str(port), "port_sort": _sort(port),
        "dialect": text(s.get("dialect"), 40) or "?", "transport": text(s.get("transport"), 20),
        "coin": text(s.get("coin"), 20), "algorithm": text(s.get("algorithm"), 40),
        "worker": worker, "wallet": wallet, "agent": text(s.get("agent")), "login": identity_login,
        "submits": _count(submits), "submits_sort": _sort(submits), "acc_rej": acc_rej,
        "difficulty": difficulty, "diff_changes": diff_changes, "diff_sort": diff_sort,
        "rate": _rate(s.get("hashrate"), t, s.get("algorithm")),
        "reported": (t("detail.reported", value=si(rep_mean, _unit_text(rep.get("unit"))), n=_count(rep.get("samples")))
                     if rep_mean is not None else ""),
        "reported_sort": _sort(rep_mean),
        "first_seen": _ts_short(first), "last_seen": _ts_short(last), "first_sort": _sort(first),
        "duration": _duration(duration, t),
        "conf_key": conf_key, "conf_label": conf_label,
        "notes": _texts(s.get("notes"), LONG_LIMIT)[:EVIDENCE_LINES], "evidence": lines,
    }


def _host_rates(h: dict[str, Any], t: Strings) -> list[RateView]:
    hr = as_dict(h.get("hashrate"))
    main = hr.get("algorithm")
    by_alg = as_dict(hr.get("by_algorithm"))
    if not by_alg:
        return [_rate(hr, t, main)] if hr else []
    order = sorted(by_alg, key=lambda a: (a != main, str(a)))
    return [_rate(by_alg[a], t, a) for a in order]


def _attribution(h: dict[str, Any], t: Strings) -> dict[str, Any] | None:
    a = as_dict(h.get("attribution"))
    if not a:
        return None
    extra = []
    if a.get("network"):
        extra.append(t("detail.network", value=text(a.get("network"), 60)))
    asn, org = _int(a.get("asn")), text(a.get("as_org"), 80)
    if asn is not None or org:
        extra.append(("AS" + str(asn) + " " if asn is not None else "") + org)
    if a.get("evidence"):
        extra.append(t("detail.attr_evidence", value=text(a.get("evidence"), 120)))
    return {"source": text(a.get("source"), 120) or "—", "confidence": _pct(as_num(a.get("confidence"))), "extra": extra}


def _behaviour(b: Any, t: Strings) -> list[str]:
    """What else the host did (inbound service, scanning, downloads, pool lookups), as lines."""
    b = as_dict(b)
    out = []
    ports = ", ".join(str(p) for p in as_list(b.get("inbound_ports"))[:20] if _int(p) is not None)
    if _int(b.get("inbound_peers")):
        out.append(t("behaviour.inbound", peers=t.n("noun.peer", _int(b.get("inbound_peers"))), ports=ports or "—"))
    if _int(b.get("outbound_scan_targets")):
        scan_ports = ", ".join(str(p) for p in as_list(b.get("outbound_scan_ports"))[:20] if _int(p) is not None)
        out.append(t("behaviour.scan", targets=t.n("noun.target", _int(b.get("outbound_scan_targets"))),
                     ports=scan_ports or "—"))
    scanned_by = _texts(b.get("scanned_by"), 64)
    if scanned_by:
        out.append(t("behaviour.scanned_by", hosts=", ".join(scanned_by[:10])))
    for d in as_list(b.get("downloads"))[:10]:
        d = as_dict(d)
        out.append(t("behaviour.download", kind=text(d.get("kind"), 20) or "?", url=text(d.get("url"), 200),
                     time=_ts_short(d.get("ts"))))
    for key in ("pool_dns", "pool_sni"):
        names = _texts(b.get(key), 120)
        if names:
            out.append(t(f"behaviour.{key}", names=", ".join(names[:10])))
    return out


def _host_view(idx: int, h: dict[str, Any], sessions: list[dict[str, Any]], t: Strings) -> dict[str, Any]:
    ip = text(h.get("ip"), 64)
    verdict_key, verdict_label = _verdict(h.get("verdict"), t)
    conf = h.get("confidence")
    conf_key, conf_label = _confidence(conf, t)
    verdict_conf = _pct(as_num(conf)) or _pct(as_num(h.get("verdict_confidence")))
    evidence = []
    for e in as_list(h.get("evidence"))[:40]:
        e = as_dict(e) if isinstance(e, dict) else {"detail": e}
        w = as_num(e.get("weight"))
        side = e.get("side")
        side_key = side if side in EVIDENCE_SIDES else "other" if side else ""
        evidence.append({"signal": text(e.get("signal"), 60), "weight": "" if w is None else f"{w:.2f}",
                         "detail": text(e.get("detail"), LONG_LIMIT), "side_key": side_key,
                         "side": t(f"side.{side}") if side in EVIDENCE_SIDES else text(side, 30)})
    detail = as_dict(h.get("verdict_detail")) or h
    scores = ""
    c, d = as_num(detail.get("compromise_score")), as_num(detail.get("deliberate_score"))
    if c is not None or d is not None:
        scores = t("detail.scores", c="—" if c is None else f"{c:.2f}", d="—" if d is None else f"{d:.2f}")
    model = as_dict(detail.get("model"))
    model_text = ""
    if model:
        p = as_num(model.get("probability"))
        pred_key, pred_label = _verdict(model.get("prediction"), t)
        model_text = t("detail.model", kind=text(model.get("kind"), 40), prediction=pred_label or "—",
                       p=_pct(p) or "—") + (" " + t("detail.model_overrides") if model.get("overrides") is True else "")
        rules_key, rules_label = _verdict(detail.get("rules_verdict"), t)
        if rules_label and rules_label != verdict_label:
            model_text += " · " + t("detail.rules_said", verdict=rules_label)
    first, last = as_num(h.get("first_seen")), as_num(h.get("last_seen"))
    egress = as_num(h.get("egress_bytes"))
    energy = h.get("energy_kwh_per_day")
    pools = _texts(h.get("pools"), 80)
    rates = _host_rates(h, t)
    return {
        "idx": idx, "ip": ip, "ip_sort": _ip_sort(ip),
        "unit": text(h.get("unit"), 120), "category": _category(h.get("category"), t),
        "public": h.get("public_institution") is True,
        "attribution": _attribution(h, t),
        "verdict_key": verdict_key, "verdict_label": verdict_label, "verdict_conf": verdict_conf,
        "conf_key": conf_key, "conf_label": conf_label, "evidence": evidence, "scores": scores, "model": model_text,
        "behaviour": _behaviour(h.get("behaviour"), t),
        "sessions": _int(h.get("sessions")) if _int(h.get("sessions")) is not None else len(sessions),
        "coins": ", ".join(_texts(h.get("coins"), 20)),
        "pools": ", ".join(pools[:5]) + (" " + t("label.and_more", n=len(pools) - 5) if len(pools) > 5 else ""),
        "rates": rates, "rate_sort": rates[0].sort if rates else "",
        "kwh": _energy_text(energy), "kwh_sort": _sort(_energy_sort(energy)),
        "egress": "—" if egress is None else si(egress, "B"), "egress_sort": _sort(egress),
        "egress_mbps": _mbps(as_num(h.get("egress_mbps"))) if as_num(h.get("egress_mbps")) is not None else "",
        "first_seen": _ts_short(first), "last_seen": _ts_short(last), "first_sort": _sort(first), "last_sort": _sort(last),
        "submits": _count(h.get("submits")), "accepted": _count(h.get("accepted")), "rejected": _count(h.get("rejected")),
        "session_views": [_session_view(s, t) for s in sessions],
    }


# --------------------------------------------------------------------------- units


def _unit_rates(u: dict[str, Any], t: Strings) -> list[RateView]:
    hr = u.get("hashrate", u.get("hashrate_by_algorithm"))
    hr = as_dict(hr)
    if not hr:
        return []
    if any(k in hr for k in ("value", "high", "unit")):
        return [_rate(hr, t, hr.get("algorithm"))]
    return [_rate(r, t, a) for a, r in sorted(hr.items(), key=lambda kv: str(kv[0]))]


def _verdict_counts(u: dict[str, Any], t: Strings) -> list[dict[str, Any]]:
    counts = as_dict(u.get("verdicts", u.get("verdict_counts")))
    if not counts:
        counts = {k: u[k] for k in VERDICTS if k in u}
    out = []
    for key, n in counts.items():
        css, label = _verdict(key, t)
        if css and _int(n):
            out.append({"key": css, "label": label, "count": _count(n)})
    return out


def _units_from_hosts(hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """units[] built from hosts[].unit when the findings have no units[] (bounds added)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in hosts:
        if isinstance(h.get("unit"), str) and h["unit"]:
            groups[h["unit"]].append(h)
    units = []
    for name, members in groups.items():
        rates: dict[str, dict[str, Any]] = {}
        for h in members:
            for alg, r in as_dict(as_dict(h.get("hashrate")).get("by_algorithm")).items():
                r, acc = as_dict(r), rates.setdefault(str(alg), {"value": None, "low": None, "high": None, "unit": None})
                acc["unit"] = acc["unit"] or r.get("unit")
                for k in ("value", "low", "high"):
                    if as_num(r.get(k)) is not None:
                        acc[k] = (acc[k] or 0.0) + as_num(r.get(k))  # type: ignore[operator]
        energy: dict[str, float | None] = {"low": None, "best": None, "high": None}
        for h in members:
            e = as_dict(h.get("energy_kwh_per_day"))
            for k in energy:
                if as_num(e.get(k)) is not None:
                    energy[k] = (energy[k] or 0.0) + as_num(e.get(k))  # type: ignore[operator]
        verdicts = Counter(h.get("verdict") for h in members if isinstance(h.get("verdict"), str))
        cats = Counter(h.get("category") for h in members if isinstance(h.get("category"), str))
        units.append({
            "unit": name, "category": cats.most_common(1)[0][0] if cats else None,
            "public_institution": any(h.get("public_institution") is True for h in members),
            "mining_ips": [h.get("ip") for h in members], "hashrate": rates,
            "kwh_per_day": energy, "verdicts": dict(verdicts),
        })
    return units


def _unit_views(units: list[dict[str, Any]], hosts: list[dict[str, Any]], host_index: dict[str, int],
                t: Strings) -> list[dict[str, Any]]:
    by_unit: dict[Any, list[str]] = defaultdict(list)
    for h in hosts:
        if isinstance(h.get("ip"), str):
            by_unit[h.get("unit")].append(h["ip"])
    views = []
    for u in units:
        name = u.get("unit", u.get("name"))
        mining, listed = u.get("mining_ips"), u.get("ips")
        ips = next((ip_list for ip_list in (mining, listed) if isinstance(ip_list, list)), None)
        ips = [ip for ip in ips if isinstance(ip, str)] if ips is not None else by_unit.get(name, [])
        n_mining = _int(mining) if _int(mining) is not None else len(ips)
        ips_total = _int(listed) if _int(listed) is not None else (
            len(listed) if isinstance(listed, list) and isinstance(mining, list) else None)
        shown = ips[:UNIT_IPS_SHOWN]
        energy = u.get("kwh_per_day", u.get("energy_kwh_per_day"))
        rates = _unit_rates(u, t)
        views.append({
            "named": isinstance(name, str) and bool(name),
            "name": text(name, 120) or t("label.unattributed"),
            "category": _category(u.get("category"), t) or "—",
            "public": u.get("public_institution") is True,
            "mining_ips": _count(n_mining), "mining_ips_sort": _sort(n_mining),
            "ips_total": _count(ips_total) if ips_total is not None and ips_total != n_mining else "",
            "ip_links": [{"ip": text(ip, 64), "idx": host_index[ip]} for ip in shown if ip in host_index],
            "ip_plain": [text(ip, 64) for ip in shown if ip not in host_index],
            "ip_more": max(len(ips) - UNIT_IPS_SHOWN, 0),
            "rates": rates, "rate_sort": rates[0].sort if rates else "",
            "kwh": _energy_text(energy), "kwh_sort": _sort(_energy_sort(energy)),
            "kwh_range": as_dict(energy),
            "verdicts": _verdict_counts(u, t),
        })
    return views


# --------------------------------------------------------------------------- headline and sentences


def _headline(doc: dict[str, Any], sessions: list[dict[str, Any]], units: list[dict[str, Any]],
              has_units: bool, t: Strings) -> dict[str, Any]:
    s = as_dict(doc.get("summary"))
    w = as_dict(s.get("capture_window"))
    first, last = as_num(w.get("first_ts")), as_num(w.get("last_ts"))
    conf = Counter(x.get("confidence") for x in sessions)
    conf_counts = [{"key": k, "label": t(f"conf.{k}"), "count": conf.get(k, 0)} for k in SESSION_CONFIDENCE]
    others = sum(n for k, n in conf.items() if k not in SESSION_CONFIDENCE)
    if others:
        conf_counts.append({"key": "other", "label": t("conf.other"), "count": others})
    rates = [{"algorithm": text(alg, 40), "rate": _rate(r, t, alg), "hosts": _count(as_dict(r).get("hosts"))}
             for alg, r in as_dict(s.get("hashrate_by_algorithm")).items()]
    public_units = sum(1 for u in units if u["public"] and u["named"])
    pools = s.get("pools")
    egress = as_num(s.get("egress_bytes_to_pools"))
    e_day, e_win = _energy(s.get("energy_kwh_per_day")), _energy(s.get("energy_kwh_window"))
    return {
        "window_text": f"{_ts(first)} – {_ts(last)}", "window_short": _ts(first)[:10],
        "window_duration": _duration(as_num(w.get("seconds")), t),
        "ips_screened": _count(s.get("ips_screened")), "mining_ips": _count(s.get("mining_ips")),
        "subnets": t.n("noun.subnet", _int(s.get("mining_subnets"))),
        "units": f"{sum(1 for u in units if u['named']):,}" if has_units else "—",
        "units_note": t.n("noun.public_unit", public_units) if has_units else t("head.units_none"),
        "sessions": _count(s.get("sessions")) if s.get("sessions") is not None else f"{len(sessions):,}",
        "n_sessions": _int(s.get("sessions")) if s.get("sessions") is not None else len(sessions),
        "n_pools": len(pools) if isinstance(pools, list) else _int(pools),
        "conf_counts": conf_counts,
        "pools": f"{len(pools):,}" if isinstance(pools, list) else _count(pools),
        "rates": rates,
        "energy_day": {"low": e_day[0], "best": e_day[1], "high": e_day[2]},
        "energy_window": {"low": e_win[0], "best": e_win[1], "high": e_win[2]},
        "egress_mbps": _mbps(as_num(s.get("egress_mbps_to_pools"))),
        "egress_bytes": t("head.egress_bytes", value=si(egress, "B")) if egress is not None else "",
        "coins": _texts(s.get("coins"), 20),
    }


def _given_sentences(doc: dict[str, Any], lang: str) -> list[str] | None:
    """summary.sentences when it has them in ``lang`` (plain strings count as English)."""
    given = as_dict(doc.get("summary")).get("sentences")
    if isinstance(given, dict):
        given = given.get(lang)
        return _texts(given, LONG_LIMIT) or None if isinstance(given, list) else None
    if not isinstance(given, list):
        return None
    out = []
    for item in given:
        if isinstance(item, str):
            if lang != "en":
                return None
            out.append(text(item, LONG_LIMIT))
        elif isinstance(item, dict) and isinstance(item.get(lang), str):
            out.append(text(item[lang], LONG_LIMIT))
        elif isinstance(item, dict) and item.get("lang") == lang and isinstance(item.get("text"), str):
            out.append(text(item["text"], LONG_LIMIT))
    return out or None


def _sweep_figures(doc: dict[str, Any], hosts: list[dict[str, Any]]) -> dict[str, float | None]:
    """The figures the 2021 sweeps published: summary.sentences when it has them, else counted here."""
    misuse = [h for h in hosts if h.get("verdict") == "institution_misuse"]
    public = [h for h in hosts if h.get("public_institution") is True]
    hacked_public = [h for h in public if h.get("verdict") == "compromised"]
    n = len(hosts)
    out: dict[str, float | None] = {
        "public_resource_ips": len(misuse),
        "public_resource_units": len({h.get("unit") for h in misuse if isinstance(h.get("unit"), str)}),
        "public_institution_ips": len(public), "public_institution_share": len(public) / n if n else None,
        "compromised_public_ips": len(hacked_public), "compromised_public_share": len(hacked_public) / n if n else None,
        "compromised_ips": sum(1 for h in hosts if h.get("verdict") == "compromised"),
    }
    given = as_dict(as_dict(doc.get("summary")).get("sentences"))
    for key in out:
        if as_num(given.get(key)) is not None:
            out[key] = as_num(given.get(key))
    return out


def _sentences(doc: dict[str, Any], head: dict[str, Any], hosts: list[dict[str, Any]],
               units: list[dict[str, Any]], has_units: bool, t: Strings) -> list[str]:
    given = _given_sentences(doc, t.lang)
    if given:
        return given
    s = as_dict(doc.get("summary"))
    out = []
    if as_num(s.get("egress_mbps_to_pools")) is not None:
        out.append(t("sent.traffic", mbps=head["egress_mbps"], window=head["window_duration"]))
    out.append(t("sent.ips", screened=head["ips_screened"], mining=head["mining_ips"], subnets=head["subnets"],
                 sessions=t.n("noun.session", head["n_sessions"]), pools=t.n("noun.pool", head["n_pools"])))
    rates = [f"{r['algorithm']} {r['rate'].text}" + (f" ({r['rate'].interval})" if r["rate"].interval else "")
             for r in head["rates"]]
    if rates:
        out.append(t("sent.hashrate", rates=t("sent.list_sep").join(rates)))
    e = head["energy_day"]
    if e["best"] != "—":
        out.append(t("sent.energy", best=e["best"], low=e["low"], high=e["high"], window=head["energy_window"]["best"]))
    elif e["high"] != "—":
        out.append(t("sent.energy_bound", high=e["high"]))
    n_mining = len(hosts)
    f = _sweep_figures(doc, hosts)

    def count(key: str) -> int | None:
        return None if f[key] is None else int(f[key])  # type: ignore[arg-type]

    if has_units:
        attributed = [h for h in hosts if isinstance(h.get("unit"), str) and h.get("unit")]
        named = [u for u in units if u["named"]]
        out.append(t("sent.units", ips=t.n("noun.mining_ip", len(attributed)), units=t.n("noun.unit", len(named))))
        out.append(t("sent.public", ips=t.n("noun.ip", count("public_institution_ips")),
                     pct=_pct(f["public_institution_share"]) or "—",
                     hacked=t.n("noun.ip", count("compromised_public_ips")),
                     hacked_pct=_pct(f["compromised_public_share"]) or "—"))
    if has_units or count("public_resource_ips"):
        out.append(t("sent.misuse", ips=t.n("noun.ip", count("public_resource_ips")),
                     units=t.n("noun.unit", count("public_resource_units"))))
    if count("compromised_ips"):
        out.append(t("sent.compromised", ips=t.n("noun.ip", count("compromised_ips")),
                     pct=_pct(f["compromised_ips"] / n_mining) if n_mining and f["compromised_ips"] is not None else "—"))
    if head["coins"]:
        out.append(t("sent.coins", coins=t("sent.coin_sep").join(head["coins"])))
    return out


# --------------------------------------------------------------------------- charts


def _charts(doc: dict[str, Any], hosts: list[dict[str, Any]], sessions: list[dict[str, Any]],
            unit_views: list[dict[str, Any]], has_units: bool, t: Strings) -> list[Figure]:
    algs = sorted({str(a) for h in hosts for a in as_dict(as_dict(h.get("hashrate")).get("by_algorithm"))}
                  | {str(s.get("algorithm")) for s in sessions if isinstance(s.get("algorithm"), str)})
    colors = charts.palette(algs)
    figs = _hashrate_figures(hosts, algs, colors, t)
    figs += _energy_figures(doc, hosts, unit_views, has_units, colors, t)
    figs.append(_timeline_figure(hosts, sessions, colors, t))
    figs += _pool_coin_figures(sessions, t)
    figs.append(_subnet_figure(doc, t))
    return figs


def _hashrate_figures(hosts: list[dict[str, Any]], algs: list[str], colors: dict[str, str], t: Strings) -> list[Figure]:
    """One chart: a panel per algorithm, its top hosts with their 90 % interval whiskers."""
    groups = []
    for alg in algs:
        rows, unit = [], "H/s"
        for h in hosts:
            r = as_dict(as_dict(as_dict(h.get("hashrate")).get("by_algorithm")).get(alg))
            if not r:
                continue
            unit = _unit_text(r.get("unit"))
            value, low, high = as_num(r.get("value")), as_num(r.get("low")), as_num(r.get("high"))
            if value is None and high is None:
                continue
            view = _rate(r, t, alg)
            label = text(h.get("ip"), 64)
            rows.append(charts.Bar(label, value, low, high, view.text, colors.get(alg, "#0072B2"),
                                   f"{label}: {view.text} {view.interval}".strip()))
        if not rows:
            continue
        rows.sort(key=lambda b: -(b.value if b.value is not None else b.high or 0.0))
        heading = text(alg, 40) + (" — " + t("chart.top_of", n=TOP_N, m=len(rows)) if len(rows) > TOP_N else "")
        groups.append((heading, rows[:TOP_N], lambda v, u=unit: _short_unit(v, u)))
    title = t("chart.hashrate_any")
    if not groups:
        return [Figure("chart-hashrate", title, empty=t("chart.no_data"))]
    return [Figure("chart-hashrate", title, t("chart.whiskers"), charts.grouped_bars(groups, aria_label=title))]


def _short_unit(value: float, unit: str) -> str:
    return "0" if value == 0 else si(value, unit)


def _energy_bar(label: str, e: Any, color: str = "#D55E00") -> charts.Bar | None:
    e = as_dict(e)
    low, best, high = as_num(e.get("low")), as_num(e.get("best")), as_num(e.get("high"))
    if best is None and high is None:
        return None
    shown = f"{_kwh_one(best)} ({_kwh_one(low)}–{_kwh_one(high)})" if best is not None else f"≤ {_kwh_one(high)}"
    return charts.Bar(label, best, low, high, shown, color, f"{label}: {shown} kWh/d")


def _add_energy(acc: dict[str, float | None], e: Any) -> None:
    e = as_dict(e)
    for k in ("low", "best", "high"):
        v = as_num(e.get(k))
        if v is not None:
            acc[k] = (acc[k] or 0.0) + v


def _energy_figures(doc: dict[str, Any], hosts: list[dict[str, Any]], unit_views: list[dict[str, Any]],
                    has_units: bool, colors: dict[str, str], t: Strings) -> list[Figure]:
    figs = []
    axis = lambda v: _kwh_one(v)  # noqa: E731
    if has_units:
        bars = [b for u in unit_views if (b := _energy_bar(u["name"], u["kwh_range"])) is not None]
        title = t("chart.energy_unit")
    else:
        bars = [b for n in as_list(doc.get("subnets"))
                if (b := _energy_bar(text(as_dict(n).get("subnet"), 64), as_dict(n).get("energy_kwh_per_day"))) is not None]
        title = t("chart.energy_subnet")
    bars.sort(key=lambda b: -(b.value if b.value is not None else b.high or 0.0))
    caption = (t("chart.top_of", n=min(len(bars), TOP_N), m=len(bars)) + " " + t("chart.energy_note")
               + ("" if has_units else " " + t("chart.no_units")))
    figs.append(Figure("chart-energy-unit", title, caption,
                       charts.bars(bars[:TOP_N], axis_fmt=axis, aria_label=title) if bars else None, empty=t("chart.no_data")))
    by_cat: dict[str, dict[str, float | None]] = {}
    by_alg: dict[str, dict[str, float | None]] = {}
    for h in hosts:
        if isinstance(h.get("category"), str):
            _add_energy(by_cat.setdefault(_category(h["category"], t), {"low": None, "best": None, "high": None}),
                        h.get("energy_kwh_per_day"))
        for alg, e in as_dict(as_dict(h.get("energy_kwh_per_day")).get("by_algorithm")).items():
            _add_energy(by_alg.setdefault(str(alg), {"low": None, "best": None, "high": None}), e)
    title = t("chart.energy_category")
    known = {k: e for k, e in by_cat.items() if k != _category("unknown", t)}
    cat_bars = [b for k, e in sorted(by_cat.items()) if (b := _energy_bar(k, e, "#CC79A7")) is not None] if known else []
    figs.append(Figure("chart-energy-category", title, t("chart.energy_note"),
                       charts.bars(cat_bars, axis_fmt=axis, aria_label=title) if cat_bars else None,
                       empty=t("chart.no_categories")))
    title = t("chart.energy_algorithm")
    alg_bars = [b for k, e in sorted(by_alg.items()) if (b := _energy_bar(text(k, 40), e, colors.get(k, "#D55E00"))) is not None]
    figs.append(Figure("chart-energy-algorithm", title, t("chart.energy_note"),
                       charts.bars(alg_bars, axis_fmt=axis, aria_label=title) if alg_bars else None, empty=t("chart.no_data")))
    return figs


def _timeline_figure(hosts: list[dict[str, Any]], sessions: list[dict[str, Any]], colors: dict[str, str],
                     t: Strings) -> Figure:
    lanes_by_ip: dict[str, list[charts.Span]] = defaultdict(list)
    for s in sessions:
        first, last, client = as_num(s.get("first_seen")), as_num(s.get("last_seen")), s.get("client")
        if first is None or not isinstance(client, str):
            continue
        last = first if last is None else last
        alg = s.get("algorithm") if isinstance(s.get("algorithm"), str) else ""
        title = (f"{text(client, 64)} → {_endpoint(text(s.get('server'), 64), s.get('server_port'))}"
                 f" {text(s.get('pool'), 80)} · {text(alg, 40)} · {_ts(first)} – {_ts(last)}")
        lanes_by_ip[client].append(charts.Span(first, last, colors.get(alg, "#7F7F7F"), title))
    order = [h.get("ip") for h in hosts if h.get("ip") in lanes_by_ip]
    order += sorted(ip for ip in lanes_by_ip if ip not in set(order))
    order.sort(key=lambda ip: min(sp.start for sp in lanes_by_ip[ip]))
    lanes = [charts.Lane(text(ip, 64), lanes_by_ip[ip]) for ip in order[:TIMELINE_LANES]]
    title = t("chart.timeline")
    if not lanes:
        return Figure("chart-timeline", title, empty=t("chart.no_data"))
    caption = t("chart.timeline_note") + (" " + t("chart.top_of", n=len(lanes), m=len(order)) if len(order) > len(lanes) else "")
    legend = charts.legend([(text(a, 40), c) for a, c in colors.items()])
    return Figure("chart-timeline", title, caption,
                  charts.timeline(lanes, fmt_time=_ts_parts, fmt_gap=lambda g: "+" + _duration(g, t), aria_label=title),
                  legend)


def _pool_coin_figures(sessions: list[dict[str, Any]], t: Strings) -> list[Figure]:
    pools: dict[str, tuple[int, set[str]]] = {}
    coins: dict[str, tuple[int, set[str]]] = {}
    for s in sessions:
        client = s.get("client") if isinstance(s.get("client"), str) else ""
        pool = text(s.get("pool"), 80) or _endpoint(text(s.get("server"), 64), s.get("server_port"))
        coin = text(s.get("coin"), 20) or f"? ({text(s.get('algorithm'), 30)})"
        for key, table in ((pool, pools), (coin, coins)):
            n, clients = table.get(key, (0, set()))
            table[key] = (n + 1, clients | {client})
    figs = []
    for fid, title_key, table, color in (("chart-pools", "chart.pools", pools, "#0072B2"),
                                         ("chart-coins", "chart.coins", coins, "#009E73")):
        items = sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))
        bars = []
        for k, (n, c) in items[:TOP_N]:
            label = t("chart.sessions_hosts", sessions=t.n("noun.session", n), hosts=t.n("noun.host", len(c)))
            bars.append(charts.Bar(k, float(n), text=label, color=color, title=f"{k}: {label}"))
        title = t(title_key)
        figs.append(Figure(fid, title, t("chart.top_of", n=len(bars), m=len(items)),
                           charts.bars(bars, axis_fmt=lambda v: f"{v:g}", aria_label=title) if bars else None,
                           empty=t("chart.no_data")))
    return figs


def _subnet_figure(doc: dict[str, Any], t: Strings) -> Figure:
    cells = []
    for n in map(as_dict, as_list(doc.get("subnets"))):
        label = text(n.get("subnet"), 64)
        mining = _int(n.get("mining_ips")) or 0
        best = _energy_sort(n.get("energy_kwh_per_day"))
        detail = t("chart.subnet_cell", ips=t.n("noun.mining_ip", mining), sessions=t.n("noun.session", _int(n.get("sessions"))),
                   kwh=_kwh_one(best))
        cells.append((_subnet_key(n.get("subnet")), charts.Cell(label, float(mining), t.n("noun.ip", mining),
                                                                f"{label}: {detail}")))
    cells.sort(key=lambda c: c[0])
    title = t("chart.subnets")
    if not cells:
        return Figure("chart-subnets", title, empty=t("chart.no_data"))
    shown = [c for _, c in cells[:HEAT_CELLS]]
    caption = t("chart.subnets_note") + (" " + t("chart.top_of", n=len(shown), m=len(cells)) if len(cells) > len(shown) else "")
    return Figure("chart-subnets", title, caption, charts.heatmap(shown, aria_label=title),
                  charts.heat_legend(t("chart.fewer"), t("chart.more")))


def _subnet_key(subnet: Any) -> tuple[int, int, str]:
    try:
        net = ipaddress.ip_network(subnet, strict=False) if isinstance(subnet, str) else None
    except ValueError:
        net = None
    return (net.version, int(net.network_address), "") if net else (9, 0, str(subnet))


# --------------------------------------------------------------------------- methodology, provenance, indicators


def _method(doc: dict[str, Any], hosts: list[dict[str, Any]], t: Strings) -> dict[str, Any]:
    o = as_dict(doc.get("options"))
    level = as_num(o.get("confidence_level"))
    out: dict[str, Any] = {
        "detection": t.lines("method.detect"), "attribution": t.lines("method.attr"), "limits": t.lines("method.limit"),
        "level": _pct(level) if level is not None else "90%",
        "pue": f"{as_num(o.get('pue')):g}" if as_num(o.get("pue")) is not None else "—",
        "subnet_v4": _count(o.get("subnet_v4")), "subnet_v6": _count(o.get("subnet_v6")),
        "algorithms": [], "hardware": [], "pue_source": "", "rules_error": "",
    }
    sources = Counter(text(as_dict(h.get("attribution")).get("source"), 120) for h in hosts
                      if as_dict(h.get("attribution")).get("source"))
    out["registry_sources"] = [{"name": k, "hosts": f"{n:,}"} for k, n in sorted(sources.items())]
    try:
        from detector.rules import load_rules

        rules = load_rules()
    except (MinesweepError, OSError) as exc:
        out["rules_error"] = t("method.rules_error", error=text(str(exc), LONG_LIMIT))
        return out
    out["pue_source"] = text(rules.pue_source, 1000)
    seen = {str(a) for h in hosts for a in as_list(h.get("algorithms"))}
    seen |= {str(a) for a in as_dict(as_dict(doc.get("summary")).get("hashrate_by_algorithm"))}
    names = [a for a in rules.algorithms if a in seen] or list(rules.algorithms)
    out["algorithms"] = [{"name": a, "unit": rules.algorithms[a].unit, "convention": rules.algorithms[a].convention,
                          "sources": list(rules.algorithms[a].sources)} for a in names]
    for alg, profile in rules.hardware.items():
        for i, (bound, point) in enumerate((("low", profile.low), ("best", profile.best), ("high", profile.high))):
            out["hardware"].append({"first": i == 0, "algorithm": alg, "bound": t(f"method.bound_{bound}"),
                                    "value": f"{point.value:g} {point.unit}", "model": point.model, "source": point.source})
    return out


def _option(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = as_num(value)
        return "—" if n is None else f"{value:g}" if isinstance(value, float) else str(value)
    return text(value, 40)


def _provenance(doc: dict[str, Any], t: Strings) -> dict[str, Any]:
    tool = as_dict(doc.get("tool"))
    command = doc.get("command")
    if isinstance(command, list):
        cmd = shlex.join(text(c, 1000) for c in command if isinstance(c, (str, int, float)))
    else:
        cmd = text(command, 4000)
    opts = ", ".join(f"{text(k, 40)}={_option(v)}" for k, v in as_dict(doc.get("options")).items()
                     if not isinstance(v, (dict, list)))
    inputs = []
    for i in map(as_dict, as_list(doc.get("inputs"))):
        warnings = _texts(i.get("warnings"), LONG_LIMIT)
        size, packets, first = _int(i.get("size")), _int(i.get("packets")), as_num(i.get("first_ts"))
        inputs.append({
            "path": text(i.get("path"), 300), "format": text(i.get("format"), 30),
            "size": "—" if size is None else si(float(size), "B"), "size_sort": _sort(size),
            "packets": _count(packets), "packets_sort": _sort(packets),
            "first": _ts_short(first), "last": _ts_short(i.get("last_ts")), "first_sort": _sort(first),
            "sha256": text(i.get("sha256"), 64) or "—",
            "warnings": warnings[:WARNINGS_SHOWN], "warnings_more": max(len(warnings) - WARNINGS_SHOWN, 0),
        })
    return {
        "tool": " ".join(x for x in (text(tool.get("name"), 40), text(tool.get("version"), 40)) if x) or "minesweep",
        "schema": text(doc.get("schema"), 60), "generated_at": text(doc.get("generated_at"), 60) or "—",
        "command": cmd, "options": opts, "inputs": inputs,
    }


def _indicators(doc: dict[str, Any], t: Strings) -> list[dict[str, Any]]:
    out = []
    for i in collect_iocs(doc):
        if i.type == "pool-domain":
            context = " · ".join(x for x in (t("ioc.operator", value=text(i.operator, 60)) if i.operator else "",
                                             t("ioc.source", value=text(i.source, 60)) if i.source else "") if x)
        elif i.type == "wallet":
            context = t("ioc.wallet_coin", value=text(i.operator, 20)) if i.operator else ""
        else:
            context = ""
        out.append({"type": t(f"ioc.type.{i.type}"), "value": text(i.value, 300), "ports": ", ".join(map(str, i.ports)),
                    "coins": ", ".join(text(c, 20) for c in i.coins), "context": context,
                    "hosts": i.hosts, "sessions": i.sessions, "first": _ts_short(i.first_seen), "last": _ts_short(i.last_seen),
                    "first_sort": _sort(i.first_seen)})
    return out


# --------------------------------------------------------------------------- assembly


@functools.cache
def _asset(name: str) -> str:
    """The stylesheet or script, checked to hold nothing that could end its element early."""
    body = (ASSETS / name).read_text("utf-8")
    if "</" in body:
        raise RuntimeError(f"{name} must not contain '</'")
    return body


def _json_block(data: Any) -> Markup:
    """JSON for a <script type="application/json"> block: nothing in it can end the element."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        raw = raw.replace(ch, esc)
    return Markup(raw)


def content_security_policy(script: str) -> str:
    """The page's CSP: nothing from any network, inline styles, only ``script`` runs."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _context(findings: dict[str, Any], t: Strings) -> dict[str, Any]:
    doc = as_dict(findings)
    hosts = [h for h in as_list(doc.get("hosts")) if isinstance(h, dict)]
    sessions = [s for s in as_list(doc.get("sessions")) if isinstance(s, dict)]
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        if isinstance(s.get("client"), str):
            by_client[s["client"]].append(s)
    for group in by_client.values():
        group.sort(key=lambda s: as_num(s.get("first_seen")) or 0.0)
    host_index: dict[str, int] = {}
    for i, h in enumerate(hosts, 1):
        if isinstance(h.get("ip"), str):
            host_index.setdefault(h["ip"], i)
    host_views = [_host_view(i, h, by_client.get(h.get("ip"), []) if isinstance(h.get("ip"), str) else [], t)
                  for i, h in enumerate(hosts, 1)]
    raw_units = [u for u in as_list(doc.get("units")) if isinstance(u, dict)]
    derived = not raw_units and any(isinstance(h.get("unit"), str) and h.get("unit") for h in hosts)
    if derived:
        raw_units = _units_from_hosts(hosts)
    units = _unit_views(raw_units, hosts, host_index, t)
    units.sort(key=lambda u: not u["named"])  # the "not attributed" group last
    has_units = any(u["named"] for u in units)
    units_note = t("units.derived") if derived else "" if has_units else t("units.none")
    if not has_units:
        units = []  # one "not attributed" row repeats the hosts table
    head = _headline(doc, sessions, units, has_units, t)
    script = _asset("report.js")
    return {
        "t": t, "L": t.table,  # L["key"]: a label as it is (t("key") for one with values to fill in)
        "html_lang": HTML_LANG[t.lang], "generator": f"minesweep {__version__} report.html",
        "csp": content_security_policy(script), "css": Markup(_asset("report.css")), "js": Markup(script),
        "data_json": _json_block({"lang": t.lang, "strings": {k[3:]: v for k, v in t.table.items() if k.startswith("js.")}}),
        "head": head, "sentences": _sentences(doc, head, hosts, units, has_units, t),
        "charts": _charts(doc, hosts, sessions, units, has_units, t),
        "units": units, "units_note": units_note, "hosts": host_views,
        "orphan_sessions": sum(len(v) for k, v in by_client.items() if k not in host_index),
        "method": _method(doc, hosts, t), "prov": _provenance(doc, t), "iocs": _indicators(doc, t),
    }


def render_html(findings: dict[str, Any], lang: str = "en") -> str:
    """The report page for ``findings`` in ``lang`` ("en" or "zh")."""
    t = load_strings(lang)
    page = render_page(_context(findings, t))
    return _SURROGATE.sub("\ufffd", page)  # defence in depth: the page is always valid UTF-8


def write_html(findings: dict[str, Any], out_dir: Path | str, lang: str = "en") -> Path:
    """Write ``out_dir/report.html`` atomically; returns its path."""
    return write_page(render_html(findings, lang), out_dir)


def write_page(page: str, out_dir: Path | str) -> Path:
    """Write ``page``, a rendered report, as ``out_dir/report.html`` atomically; returns its path."""
    path = Path(out_dir) / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, "utf-8")
    os.replace(tmp, path)
    return path
