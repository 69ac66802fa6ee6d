"""report.html from the views of ``detector.output.html``: the page's markup, written as Python.

Every value interpolated here goes through ``e()``, which escapes it as HTML text (``&<>"'``,
markupsafe's entities). Only values that are already markup pass unchanged: objects with an
``__html__`` method (``markupsafe.Markup``), which ``html.py`` makes for the stylesheet, the
script, the JSON data block and the SVG charts that ``charts.py`` builds with escaping, and the
fragments this module builds itself. No href is built from data: links point at this document's
own anchors (``#host-N``).

Until session 10 the page was a Jinja2 template. On the 1M-packet benchmark's 200 hosts,
report.html's child process (which the command waited for last) spent ~0.02 s importing Jinja2
and ~0.034 s rendering the template: ~0.019 s of it in ~28,000 escapes (a ``Markup`` made for
each), ~0.013 s in the template's own code. This module writes the same page, byte for byte
(checked against the template's output on every report of the test suite before the template
was retired), in ~0.015 s, and imports nothing to speak of (docs/performance.md, session 10).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["e", "render_page"]

_SPECIAL = re.compile("[&<>\"']")


def e(value: Any) -> str:
    """``value`` as HTML text: markup (``__html__``) as it is, anything else ``str()``-ed and escaped."""
    if value.__class__ is not str:
        html = getattr(value, "__html__", None)
        if html is not None:
            return html()
        value = str(value)
    if _SPECIAL.search(value) is None:
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


# --------------------------------------------------------------------------- small pieces

DASH = '<span class="muted">—</span>'


def _rate(r: Any, with_alg: bool) -> str:
    out = f'<span class="alg mono">{e(r.algorithm)}</span> ' if with_alg and r.algorithm else ""
    out += f'<span class="rate rate-{e(r.kind)}">{e(r.text)}</span>'
    if r.interval:
        out += f' <span class="ival">({e(r.interval)})</span>'
    if r.kind == "none" and r.basis:
        out += f'<div class="small muted basis">{e(r.basis)}</div>'
    return out


def _rates(rates: list[Any]) -> str:
    return "".join(f"<div>{_rate(r, True)}</div>" for r in rates) if rates else DASH


def _badge(text: str, cls: str) -> str:
    return f'<span class="badge b-{e(cls)}">{e(text)}</span>'


def _conf_badge(key: str, label: str) -> str:
    return f'<span class="badge conf c-{e(key)}">{e(label)}</span>' if label else ""


def _verdict_badge(key: str, label: str) -> str:
    return f'<span class="badge verdict v-{e(key)}">{e(label)}</span>'


def _mono_list(pairs: list[tuple[str, str]]) -> str:
    items = [f'<div><span class="k">{e(label)}</span> <span class="mono">{e(value)}</span></div>'
             for label, value in pairs if value]
    return "".join(items) if items else DASH


def _or_dash(value: Any) -> str:
    return e(value) if value else DASH


def _items(values: list[Any], tag: str = "li") -> str:
    return "".join(f"<{tag}>{e(v)}</{tag}>" for v in values)


# --------------------------------------------------------------------------- sections

SECTIONS = ("headline", "charts", "units", "hosts", "detail", "method", "provenance", "indicators")


def _opening(anchor: str, L: dict[str, str]) -> str:
    """A section's start: its anchor, its number and its title."""
    return (f'<section id="{anchor}" class="major">\n'
            f'  <h2><span class="secno">{SECTIONS.index(anchor) + 1}</span>{e(L["sec." + anchor])}</h2>\n')


def _top(c: dict[str, Any]) -> list[str]:
    L, t, head, prov = c["L"], c["t"], c["head"], c["prov"]
    nav = "".join(f'      <li><a href="#{anchor}">{e(L["sec." + anchor])}</a></li>\n' for anchor in SECTIONS)
    return [
        "<!DOCTYPE html>\n"
        f'<html lang="{e(c["html_lang"])}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{e(c["csp"])}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{e(c["generator"])}">\n'
        f'<title>{e(L["doc.title"])} — {e(head["window_short"])}</title>\n'
        f'<style>{e(c["css"])}</style>\n'
        "</head>\n"
        "<body>\n"
        '<header class="top">\n'
        f'  <h1>{e(L["doc.title"])}</h1>\n'
        f'  <p class="sub">{e(t("doc.subtitle", window=head["window_text"], generated=prov["generated_at"]))}</p>\n'
        f'  <nav aria-label="{e(L["doc.contents"])}">\n'
        "    <ol>\n"
        f"{nav}"
        "    </ol>\n"
        "  </nav>\n"
        "</header>\n"
        "<main>\n"
        "\n"
    ]


def _headline(c: dict[str, Any]) -> list[str]:
    L, t, head = c["L"], c["t"], c["head"]
    conf = " · ".join(f"{e(x['label'])} {e(x['count'])}" for x in head["conf_counts"])
    day, window = head["energy_day"], head["energy_window"]
    out = [
        _opening("headline", L),
        '  <div class="kpis">\n'
        f'    <div class="kpi wide"><span class="k">{e(L["head.window"])}</span><span class="v small">'
        f'{e(head["window_text"])}</span><span class="n">{e(t("head.captured", d=head["window_duration"]))}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.ips_screened"])}</span><span class="v">'
        f'{e(head["ips_screened"])}</span></div>\n'
        f'    <div class="kpi alert"><span class="k">{e(L["head.mining_ips"])}</span><span class="v">'
        f'{e(head["mining_ips"])}</span><span class="n">{e(t("head.in_subnets", n=head["subnets"]))}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.units"])}</span><span class="v">{e(head["units"])}</span>'
        f'<span class="n">{e(head["units_note"])}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.sessions"])}</span><span class="v">{e(head["sessions"])}</span>'
        f'<span class="n">{conf}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.pools"])}</span><span class="v">{e(head["pools"])}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.energy_day"])}</span><span class="v">{e(day["best"])}</span>'
        f'<span class="n">{e(t("head.energy_range", low=day["low"], high=day["high"]))}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.energy_window"])}</span><span class="v">{e(window["best"])}</span>'
        f'<span class="n">{e(t("head.energy_range_kwh", low=window["low"], high=window["high"]))}</span></div>\n'
        f'    <div class="kpi"><span class="k">{e(L["head.egress"])}</span><span class="v">{e(head["egress_mbps"])}</span>'
        f'<span class="n">{e(head["egress_bytes"])}</span></div>\n'
        "  </div>\n"
        "\n"
        f'  <h3>{e(L["head.hashrate_title"])}</h3>\n'
    ]
    if head["rates"]:
        out.append(
            '  <table class="data compact">\n'
            f'    <thead><tr><th>{e(L["col.algorithm"])}</th><th>{e(L["col.hashrate"])}</th>'
            f'<th>{e(L["col.interval"])}</th><th class="r">{e(L["col.hosts"])}</th></tr></thead>\n'
            "    <tbody>\n")
        for r in head["rates"]:
            rate = r["rate"]
            basis = (f'<div class="small muted basis">{e(rate.basis)}</div>'
                     if rate.kind != "value" and rate.basis else "")
            out.append(f'      <tr><td class="mono">{e(r["algorithm"])}</td><td class="num"><span class="rate '
                       f'rate-{e(rate.kind)}">{e(rate.text)}</span>{basis}</td><td class="num">'
                       f'{_or_dash(rate.interval)}</td><td class="r">{e(r["hosts"])}</td></tr>\n')
        out.append("    </tbody>\n  </table>\n")
    else:
        out.append(f'<p class="empty">{e(L["head.no_hashrate"])}</p>')
    out.append(f'\n  <h3>{e(L["head.sentences_title"])}</h3>\n'
               '  <ul class="sentences">\n'
               f'{_items(c["sentences"])}'
               "  </ul>\n")
    if head["coins"]:
        chips = "".join(f'<span class="chip mono">{e(coin)}</span> ' for coin in head["coins"])
        out.append(f'<p class="coins">{e(L["head.coins"])}: {chips}</p>')
    out.append("</section>\n\n")
    return out


def _charts(c: dict[str, Any]) -> list[str]:
    L = c["L"]
    out = [_opening("charts", L)]
    for fig in c["charts"]:
        caption = f" — {e(fig.caption)}" if fig.caption else ""
        body = e(fig.svg) if fig.svg else f'<p class="empty">{e(fig.empty)}</p>'
        out.append(f'  <figure class="chart-fig" id="{e(fig.id)}">\n'
                   f"    <figcaption><strong>{e(fig.title)}</strong>{caption}</figcaption>\n"
                   f"{body}{e(fig.legend) if fig.legend else ''}  </figure>\n")
    out.append("</section>\n\n")
    return out


def _units(c: dict[str, Any]) -> list[str]:
    L, t = c["L"], c["t"]
    out = [_opening("units", L)]
    if c["units_note"]:
        out.append(f'<p class="note">{e(c["units_note"])}</p>')
    if c["units"]:
        out.append(
            '  <div class="tablewrap">\n'
            '  <table class="data sortable" data-filter="units" id="units-table">\n'
            "    <thead><tr>\n"
            f'      <th>{e(L["col.unit"])}</th><th>{e(L["col.category"])}</th><th data-type="num" class="r">'
            f'{e(L["col.mining_ips"])}</th>\n'
            f'      <th>{e(L["col.ips"])}</th><th data-type="num">{e(L["col.hashrate"])}</th><th data-type="num">'
            f'{e(L["col.kwh_day"])}</th><th>{e(L["col.verdicts"])}</th>\n'
            "    </tr></thead>\n"
            "    <tbody>\n")
        public = " " + _badge(L["label.public"], "pub")
        for u in c["units"]:
            links = ", ".join(f'<a href="#host-{e(ip["idx"])}">{e(ip["ip"])}</a>' for ip in u["ip_links"])
            plain = "".join((", " if u["ip_links"] or i else "") + e(ip) for i, ip in enumerate(u["ip_plain"]))
            more = f' {e(t("label.and_more", n=u["ip_more"]))}' if u["ip_more"] else ""
            verdicts = "<br>".join(f'{_verdict_badge(v["key"], v["label"])} {e(v["count"])}'
                                   for v in u["verdicts"]) or DASH
            total = f' / {e(u["ips_total"])}' if u["ips_total"] else ""
            out.append(
                "      <tr>\n"
                f'        <td class="unit">{e(u["name"])}</td>\n'
                f'        <td>{e(u["category"])}{public if u["public"] else ""}</td>\n'
                f'        <td class="r" data-v="{e(u["mining_ips_sort"])}">{e(u["mining_ips"])}{total}</td>\n'
                f'        <td class="mono small iplist">{links}{plain}{more}</td>\n'
                f'        <td data-v="{e(u["rate_sort"])}">{_rates(u["rates"])}</td>\n'
                f'        <td class="num" data-v="{e(u["kwh_sort"])}">{e(u["kwh"])}</td>\n'
                f"        <td>{verdicts}</td>\n"
                "      </tr>\n")
        out.append("    </tbody>\n  </table>\n  </div>\n")
    out.append("</section>\n\n")
    return out


def _hosts(c: dict[str, Any]) -> list[str]:
    L = c["L"]
    out = [_opening("hosts", L)]
    if not c["hosts"]:
        out.append(f'<p class="empty">{e(L["hosts.none"])}</p></section>\n\n')
        return out
    out.append(
        '  <div class="tablewrap">\n'
        '  <table class="data sortable" data-filter="hosts" id="hosts-table">\n'
        "    <thead><tr>\n"
        f'      <th data-type="ip">{e(L["col.ip"])}</th><th>{e(L["col.unit"])}</th><th>{e(L["col.verdict"])}</th>\n'
        f'      <th data-type="num" class="r">{e(L["col.sessions"])}</th><th>{e(L["col.coins"])}</th>'
        f'<th>{e(L["col.pools"])}</th>\n'
        f'      <th data-type="num">{e(L["col.hashrate_interval"])}</th><th data-type="num">{e(L["col.kwh_day"])}</th>\n'
        f'      <th data-type="num" class="r">{e(L["col.egress"])}</th><th data-type="num">{e(L["col.seen"])}</th>\n'
        "    </tr></thead>\n"
        "    <tbody>\n")
    for h in c["hosts"]:
        category = f'<div class="small muted">{e(h["category"])}</div>' if h["category"] else ""
        verdict = _verdict_badge(h["verdict_key"], h["verdict_label"]) if h["verdict_key"] else DASH
        out.append(
            "      <tr>\n"
            f'        <td class="mono ip" data-v="{e(h["ip_sort"])}"><a href="#host-{e(h["idx"])}">{e(h["ip"])}</a></td>\n'
            f'        <td class="unit">{_or_dash(h["unit"])}{category}</td>\n'
            f"        <td>{verdict}</td>\n"
            f'        <td class="r" data-v="{e(h["sessions"])}">{e(h["sessions"])}</td>\n'
            f'        <td class="mono">{_or_dash(h["coins"])}</td>\n'
            f'        <td class="small">{_or_dash(h["pools"])}</td>\n'
            f'        <td data-v="{e(h["rate_sort"])}">{_rates(h["rates"])}</td>\n'
            f'        <td class="num" data-v="{e(h["kwh_sort"])}">{e(h["kwh"])}</td>\n'
            f'        <td class="r num" data-v="{e(h["egress_sort"])}">{e(h["egress"])}</td>\n'
            f'        <td class="num small" data-v="{e(h["first_sort"])}">{e(h["first_seen"])}<br>{e(h["last_seen"])}</td>\n'
            "      </tr>\n")
    out.append("    </tbody>\n  </table>\n  </div>\n</section>\n\n")
    return out


def _host_detail(h: dict[str, Any], L: dict[str, str], t: Any) -> str:
    verdict = _verdict_badge(h["verdict_key"], h["verdict_label"]) if h["verdict_key"] else ""
    public = " " + _badge(L["label.public"], "pub") if h["public"] else ""
    a = h["attribution"]
    if a:
        confidence = f' · {e(t("detail.confidence", pct=a["confidence"]))}' if a["confidence"] else ""
        extra = "".join(f'<div class="small muted">{e(x)}</div>' for x in a["extra"])
        attribution = f'<span class="mono">{e(a["source"])}</span>{confidence}{extra}'
    else:
        attribution = DASH
    verdict_conf = f' · {e(t("detail.confidence", pct=h["verdict_conf"]))}' if h["verdict_conf"] else ""
    mbps = f' · {e(h["egress_mbps"])}' if h["egress_mbps"] else ""
    shares = t("detail.shares_text", submits=h["submits"], accepted=h["accepted"], rejected=h["rejected"])
    out = [
        f'  <article class="host" id="host-{e(h["idx"])}">\n'
        f'    <h3><span class="mono">{e(h["ip"])}</span> {verdict}{public} {_conf_badge(h["conf_key"], h["conf_label"])}</h3>\n'
        '    <dl class="facts">\n'
        f'      <div><dt>{e(L["col.unit"])}</dt><dd>{e(h["unit"] or L["label.unattributed"])}</dd></div>\n'
        f'      <div><dt>{e(L["col.category"])}</dt><dd>{_or_dash(h["category"])}</dd></div>\n'
        f'      <div><dt>{e(L["detail.attribution"])}</dt><dd>{attribution}</dd></div>\n'
        f'      <div><dt>{e(L["col.verdict"])}</dt><dd>{_or_dash(h["verdict_label"])}{verdict_conf}</dd></div>\n'
        f'      <div><dt>{e(L["col.hashrate_interval"])}</dt><dd>{_rates(h["rates"])}</dd></div>\n'
        f'      <div><dt>{e(L["col.kwh_day"])}</dt><dd class="tnum">{e(h["kwh"])}</dd></div>\n'
        f'      <div><dt>{e(L["detail.window"])}</dt><dd class="tnum">{e(h["first_seen"])} –<br>{e(h["last_seen"])}</dd></div>\n'
        f'      <div><dt>{e(L["col.egress"])}</dt><dd class="tnum">{e(h["egress"])}{mbps}</dd></div>\n'
        f'      <div><dt>{e(L["detail.shares"])}</dt><dd class="tnum">{e(shares)}</dd></div>\n'
        "    </dl>\n"
    ]
    if h["evidence"] or h["scores"] or h["model"]:
        out.append(f'    <h4>{e(L["detail.evidence"])}</h4>\n')
        if h["scores"] or h["model"]:
            joint = " · " if h["scores"] and h["model"] else ""
            out.append(f'<p class="small">{e(h["scores"])}{joint}{e(h["model"])}</p>')
        if h["evidence"]:
            rows = "".join(
                f'<tr><td class="mono">{e(x["signal"])}</td><td>'
                + (f'<span class="side s-{e(x["side_key"])}">{e(x["side"])}</span>' if x["side"] else "")
                + f'</td><td class="r num">{e(x["weight"])}</td><td>{e(x["detail"])}</td></tr>'
                for x in h["evidence"])
            out.append(
                '    <table class="data compact evidence">\n'
                f'      <thead><tr><th>{e(L["col.signal"])}</th><th>{e(L["col.side"])}</th><th class="r">'
                f'{e(L["col.weight"])}</th><th>{e(L["col.detail"])}</th></tr></thead>\n'
                f"      <tbody>{rows}</tbody>\n"
                "    </table>\n")
    if h["behaviour"]:
        out.append(f'    <h4>{e(L["detail.behaviour"])}</h4>\n'
                   f'    <ul class="notes behaviour">{_items(h["behaviour"])}</ul>\n')
    views = h["session_views"]
    out.append(f'    <h4>{e(t("detail.sessions", n=len(views)))}</h4>\n')
    if views:
        out.append(
            '    <div class="tablewrap">\n'
            '    <table class="data compact sortable sessions">\n'
            "      <thead><tr>\n"
            f'        <th>{e(L["col.pool"])}</th><th data-type="num" class="r">{e(L["col.port"])}</th>'
            f'<th>{e(L["col.dialect"])}</th><th>{e(L["col.coin"])}</th>\n'
            f'        <th>{e(L["col.identity"])}</th><th data-type="num" class="r">{e(L["col.submits_difficulty"])}</th>\n'
            f'        <th data-type="num">{e(L["col.hashrate_reported"])}</th><th data-type="num">{e(L["col.seen"])}</th>\n'
            "      </tr></thead>\n"
            "      <tbody>\n")
        out.extend(_session_row(s, L) for s in views)
        out.append("      </tbody>\n    </table>\n    </div>\n")
        first = True
        for s in views:
            if not (s["evidence"] or s["notes"]):
                continue
            if first:
                out.append(f'<h4>{e(L["detail.protocol_evidence"])}</h4>')
                first = False
            out.append(f'    <div class="proto"><p class="small"><span class="mono">{e(s["endpoint"])}</span> · '
                       f'{e(s["dialect"])}</p>\n')
            if s["notes"]:
                out.append(f'<ul class="notes">{_items(s["notes"])}</ul>')
            if s["evidence"]:
                out.append('<pre class="ev">' + "".join(e(line) + "\n" for line in s["evidence"]) + "</pre>")
            out.append("    </div>\n")
    out.append("  </article>\n")
    return "".join(out)


def _session_row(s: dict[str, Any], L: dict[str, str]) -> str:
    note = f'<div class="small muted">{e(s["pool_note"])}</div>' if s["pool_note"] else ""
    acc_rej = f'<div class="small muted">{e(s["acc_rej"])}</div>' if s["acc_rej"] else ""
    changes = f'<div class="small muted">{e(s["diff_changes"])}</div>' if s["diff_changes"] else ""
    reported = f'<div class="small">{e(L["col.reported"])}: {e(s["reported"])}</div>' if s["reported"] else ""
    identity = _mono_list([(L["col.worker"], s["worker"]), (L["col.login"], s["login"]),
                           (L["col.wallet"], s["wallet"]), (L["col.agent"], s["agent"])])
    return (
        "        <tr>\n"
        f'          <td class="pool">{_or_dash(s["pool"])}<div class="mono small muted nowrap">{e(s["endpoint"])}</div>{note}</td>\n'
        f'          <td class="r" data-v="{e(s["port_sort"])}">{e(s["port"])}</td>\n'
        f'          <td class="mono nowrap">{e(s["dialect"])}<div class="small muted">{e(s["transport"])}</div>'
        f'{_conf_badge(s["conf_key"], s["conf_label"])}</td>\n'
        f'          <td class="mono nowrap">{e(s["coin"] or "?")}<div class="small muted">{e(s["algorithm"])}</div></td>\n'
        f'          <td class="ident">{identity}</td>\n'
        f'          <td class="r tnum" data-v="{e(s["submits_sort"])}">{e(s["submits"])}{acc_rej}<div class="small">'
        f'{e(L["col.difficulty"])} {e(s["difficulty"] or "—")}</div>{changes}</td>\n'
        f'          <td data-v="{e(s["rate"].sort)}">{_rate(s["rate"], False)}{reported}</td>\n'
        f'          <td class="tnum small" data-v="{e(s["first_sort"])}">{e(s["first_seen"])}<br>{e(s["last_seen"])}'
        f'<div class="muted">{e(s["duration"])}</div></td>\n'
        "        </tr>\n")


def _detail(c: dict[str, Any]) -> list[str]:
    L, t = c["L"], c["t"]
    out = [_opening("detail", L)]
    if c["orphan_sessions"]:
        out.append(f'<p class="note">{e(t("detail.orphans", sessions=t.n("noun.session", c["orphan_sessions"])))}</p>')
    out.extend(_host_detail(h, L, t) for h in c["hosts"])
    if not c["hosts"]:
        out.append(f'<p class="empty">{e(L["hosts.none"])}</p>\n')
    out.append("</section>\n\n")
    return out


def _method(c: dict[str, Any]) -> list[str]:
    L, t, m = c["L"], c["t"], c["method"]
    source = f' <span class="src">{e(L["label.source"])}: {e(m["pue_source"])}</span>' if m["pue_source"] else ""
    no_rules = f'<p class="empty">{e(m["rules_error"] or L["method.no_rules"])}</p>'
    out = [
        _opening("method", L),
        f'  <h3>{e(L["method.detection_title"])}</h3>\n'
        f'  <ul>{_items(m["detection"])}</ul>\n'
        f'  <h3>{e(L["method.formulas_title"])}</h3>\n'
        '  <ul class="formulas">\n'
        f'    <li><span class="formula">{e(L["method.f_hashrate"])}</span> — {e(L["method.f_hashrate_note"])}</li>\n'
        f'    <li><span class="formula">{e(L["method.f_interval"])}</span> — '
        f'{e(t("method.f_interval_note", level=m["level"]))}</li>\n'
        f'    <li><span class="formula">{e(L["method.f_energy"])}</span> — {e(L["method.f_energy_note"])}</li>\n'
        f'    <li><span class="formula">{e(L["method.f_window"])}</span> — {e(L["method.f_window_note"])}</li>\n'
        f'    <li><span class="formula">{e(L["method.f_egress"])}</span></li>\n'
        "  </ul>\n"
        f'  <p>{e(t("method.pue", pue=m["pue"]))}{source}</p>\n'
        f'  <p>{e(t("method.subnets", v4=m["subnet_v4"], v6=m["subnet_v6"]))}</p>\n'
        "\n"
        f'  <h3>{e(L["method.work_title"])}</h3>\n'
    ]
    if m["algorithms"]:
        rows = "".join(f'<tr><td class="mono">{e(a["name"])}</td><td class="mono">{e(a["unit"])}</td>'
                       f'<td class="small">{e(a["convention"])}</td><td class="src">{_items(a["sources"], "div")}</td></tr>'
                       for a in m["algorithms"])
        out.append(_table("data compact", f'<th>{e(L["col.algorithm"])}</th><th>{e(L["col.unit_si"])}</th>'
                          f'<th>{e(L["col.convention"])}</th><th>{e(L["col.sources"])}</th>', rows))
    else:
        out.append(no_rules)
    out.append(f'\n  <h3>{e(L["method.hardware_title"])}</h3>\n'
               f'  <p>{e(L["method.hardware_note"])}</p>\n')
    if m["hardware"]:
        out.append(_table("data compact hardware", f'<th>{e(L["col.algorithm"])}</th><th>{e(L["col.bound"])}</th>'
                          f'<th class="r">{e(L["col.efficiency"])}</th><th>{e(L["col.hardware"])}</th>'
                          f'<th>{e(L["col.source"])}</th>', "".join(map(_hardware_row, m["hardware"]))))
    else:
        out.append(no_rules)
    out.append(f'\n  <h3>{e(L["method.attribution_title"])}</h3>\n'
               f'  <ul>{_items(m["attribution"])}</ul>\n')
    if m["registry_sources"]:
        rows = "".join(f'<tr><td class="mono">{e(src["name"])}</td><td class="r">{e(src["hosts"])}</td></tr>'
                       for src in m["registry_sources"])
        out.append(_table("data compact", f'<th>{e(L["col.source"])}</th><th class="r">{e(L["col.hosts"])}</th>', rows))
    out.append(f'\n  <h3>{e(L["method.limits_title"])}</h3>\n'
               f'  <ul>{_items(m["limits"])}</ul>\n'
               "</section>\n\n")
    return out


def _table(cls: str, head: str, rows: str) -> str:
    """A table of the method section from its header cells and its rows (both markup)."""
    return f'  <table class="{cls}">\n    <thead><tr>{head}</tr></thead>\n    <tbody>{rows}</tbody>\n  </table>\n'


def _hardware_row(row: dict[str, Any]) -> str:
    """A row of the hardware table; the first of an algorithm's rows names it and opens a group."""
    first = row["first"]
    group = ' class="grp"' if first else ""
    return (f'<tr{group}><td class="mono">{e(row["algorithm"]) if first else ""}</td>'
            f'<td>{e(row["bound"])}</td><td class="r num">{e(row["value"])}</td><td class="small">{e(row["model"])}</td>'
            f'<td class="src">{e(row["source"])}</td></tr>')


def _provenance(c: dict[str, Any]) -> list[str]:
    L, t, prov = c["L"], c["t"], c["prov"]
    inputs = prov["inputs"]
    out = [
        _opening("provenance", L),
        '  <dl class="facts wide">\n'
        f'    <div><dt>{e(L["prov.tool"])}</dt><dd class="mono">{e(prov["tool"])}</dd></div>\n'
        f'    <div><dt>{e(L["prov.schema"])}</dt><dd class="mono">{e(prov["schema"])}</dd></div>\n'
        f'    <div><dt>{e(L["prov.generated"])}</dt><dd class="mono">{e(prov["generated_at"])}</dd></div>\n'
        f'    <div><dt>{e(L["prov.renderer"])}</dt><dd class="mono">{e(c["generator"])}</dd></div>\n'
        f'    <div class="full"><dt>{e(L["prov.command"])}</dt><dd><code class="cmd">{_or_dash(prov["command"])}</code></dd></div>\n'
        f'    <div class="full"><dt>{e(L["prov.options"])}</dt><dd class="mono">{_or_dash(prov["options"])}</dd></div>\n'
        "  </dl>\n"
        f'  <h3>{e(t("prov.inputs", n=len(inputs)))}</h3>\n'
    ]
    if not inputs:
        out.append(f'<p class="empty">{e(L["prov.no_inputs"])}</p></section>\n\n')
        return out
    rows = "".join(
        f'<tr><td class="mono small">{e(i["path"])}</td><td class="mono">{e(i["format"])}</td>'
        f'<td class="r num" data-v="{e(i["size_sort"])}">{e(i["size"])}</td>'
        f'<td class="r num" data-v="{e(i["packets_sort"])}">{e(i["packets"])}</td>'
        f'<td class="num small" data-v="{e(i["first_sort"])}">{e(i["first"])}<br>{e(i["last"])}</td>'
        f'<td class="mono hash">{e(i["sha256"])}</td>'
        f'<td class="r" data-v="{len(i["warnings"])}">{len(i["warnings"])}</td></tr>' for i in inputs)
    out.append(
        '  <div class="tablewrap">\n'
        '  <table class="data compact sortable inputs">\n'
        f'    <thead><tr><th>{e(L["col.file"])}</th><th>{e(L["col.format"])}</th><th data-type="num" class="r">'
        f'{e(L["col.size"])}</th><th data-type="num" class="r">{e(L["col.packets"])}</th><th data-type="num">'
        f'{e(L["col.first_last"])}</th><th>SHA-256</th><th data-type="num" class="r">{e(L["col.warnings"])}</th></tr></thead>\n'
        f"    <tbody>{rows}</tbody>\n"
        "  </table>\n"
        "  </div>\n")
    first = True
    for i in inputs:
        if not i["warnings"]:
            continue
        if first:
            out.append(f'<h4>{e(L["prov.warnings"])}</h4>')
            first = False
        more = f'<li>{e(t("label.and_more", n=i["warnings_more"]))}</li>' if i["warnings_more"] else ""
        out.append(f'  <p class="small mono">{e(i["path"])}</p><ul class="notes">{_items(i["warnings"])}{more}</ul>\n')
    out.append("</section>\n\n")
    return out


def _indicators(c: dict[str, Any]) -> list[str]:
    L = c["L"]
    out = [_opening("indicators", L),
           f'  <p>{e(L["ioc.intro"])}</p>\n']
    if c["iocs"]:
        rows = "".join(
            f'<tr><td class="nowrap">{e(i["type"])}</td><td class="mono ioc">{e(i["value"])}</td>'
            f'<td class="mono">{e(i["ports"])}</td><td class="mono">{e(i["coins"])}</td>'
            f'<td class="small">{e(i["context"])}</td><td class="r" data-v="{e(i["hosts"])}">{e(i["hosts"])}</td>'
            f'<td class="r" data-v="{e(i["sessions"])}">{e(i["sessions"])}</td>'
            f'<td class="num small" data-v="{e(i["first_sort"])}">{e(i["first"])}<br>{e(i["last"])}</td></tr>'
            for i in c["iocs"])
        out.append(
            '  <div class="tablewrap">\n'
            '  <table class="data compact sortable" data-filter="iocs" id="iocs-table">\n'
            f'    <thead><tr><th>{e(L["col.type"])}</th><th>{e(L["col.indicator"])}</th><th>{e(L["col.ports"])}</th>'
            f'<th>{e(L["col.coins"])}</th><th>{e(L["col.context"])}</th><th data-type="num" class="r">'
            f'{e(L["col.hosts"])}</th><th data-type="num" class="r">{e(L["col.sessions"])}</th><th data-type="num">'
            f'{e(L["col.first_last"])}</th></tr></thead>\n'
            f"    <tbody>{rows}</tbody>\n"
            "  </table>\n"
            "  </div>\n")
    else:
        out.append(f'<p class="empty">{e(L["ioc.none"])}</p>')
    out.append("</section>\n\n")
    return out


def render_page(c: dict[str, Any]) -> str:
    """The page for ``c``, the views ``detector.output.html._context`` makes of a findings document."""
    out = _top(c)
    for section in (_headline, _charts, _units, _hosts, _detail, _method, _provenance, _indicators):
        out.extend(section(c))
    out.append(
        "</main>\n"
        f'<footer><p>{e(c["t"]("doc.footer", tool=c["prov"]["tool"]))}</p></footer>\n'
        f'<script type="application/json" id="ms-data">{e(c["data_json"])}</script>\n'
        f'<script>{e(c["js"])}</script>\n'
        "</body>\n"
        "</html>")
    return "".join(out)
