"""report.html, iocs.csv, sessions.csv, subnets.csv and ``minesweep report``: content, both
languages, graceful degradation for findings without the later fields, and inertness of the
page under hostile strings in every field (parsed with html.parser)."""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import hashlib
import io
import json
import math
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, PCAPS

from detector.errors import InputError
from detector.output import charts
from detector.output.csvs import SESSION_COLUMNS, sessions_frame, subnets_frame, write_sessions_csv, write_subnets_csv
from detector.output.fmt import si
from detector.output.html import I18N, LANGS, load_strings, render_html, text, write_html
from detector.output.iocs import COLUMNS as IOC_COLUMNS
from detector.output.iocs import collect, write_iocs_csv
from detector.output.tables import write_hosts_csv
from detector.scan import scan

# --------------------------------------------------------------------------- fixtures

UNITS = {  # ip -> (unit, category, public, source, confidence, verdict, evidence)
    "10.20.30.41": ("Example Provincial Bureau of Finance", "government", True, "registry:units.csv", 0.95,
                    "institution_misuse", [("asic_rate", 0.4, "SHA-256 at ASIC-class rate"), ("rig_software", 0.3, "bmminer/2.0.0")]),
    "10.20.31.17": ("Example Provincial Bureau of Finance", "government", True, "registry:units.csv", 0.95,
                    "institution_misuse", [("disguised_port", 0.2, "pool reached on port 25"), ("rig_software", 0.3, "cgminer/4.9.0")]),
    "2001:db8:100::25": ("Example University, Main Campus", "education", True, "registry:units.csv", 0.95,
                         "compromised", [("cpu_algorithm", 0.35, "RandomX on a server"), ("xmrig_agent", 0.3, "XMRig/6.21.0")]),
    "192.168.77.20": ("Example County Hospital", "healthcare", True, "registry:curated/cernet.csv", 0.85,
                      "compromised", [("xmrig_agent", 0.3, "XMRig/2.13.1 on Windows")]),
    "172.16.5.23": ("Example Institute of Materials Research", "research", True, "registry:units.csv", 0.95,
                    "institution_misuse", [("gpu_rate", 0.3, "Equihash at GPU-rig rate")]),
    "10.8.0.6": ("Example Internet Cafe Ltd", "enterprise", False, "asn:GeoLite2-ASN.mmdb", 0.2, "private", []),
    "10.8.0.9": ("Example Internet Cafe Ltd", "enterprise", False, "asn:GeoLite2-ASN.mmdb", 0.2, "private", []),
    "10.66.0.2": ("Example Broadband", "residential", False, "asn:GeoLite2-ASN.mmdb", 0.3, "private", []),
    "10.66.0.3": ("Example Broadband", "residential", False, "asn:GeoLite2-ASN.mmdb", 0.3, "private", []),
}


COMPROMISE = {"cpu_algorithm", "xmrig_agent", "disguised_port"}


@pytest.fixture(scope="session")
def sample_findings() -> dict[str, Any]:
    """The real scan of the bundled sample captures (no attribution fields)."""
    doc = scan([PCAPS])
    doc["command"] = ["minesweep", "scan", "pcaps", "--out", "out"]
    return doc


def rich_findings(base: dict[str, Any]) -> dict[str, Any]:
    """The sample findings with the fields later issues add: attribution, units, verdicts,
    evidence, and sessions of every confidence (an encrypted one among them)."""
    doc = copy.deepcopy(base)
    for h in doc["hosts"]:
        for key in ("verdict", "verdict_confidence", "verdict_detail", "evidence"):  # the scan's own, if any
            h.pop(key, None)
        entry = UNITS.get(h["ip"])
        if entry is None:
            h.update(unit=None, category="unknown", public_institution=False,
                     attribution={"source": "none", "confidence": 0.0})
            continue
        unit, cat, public, source, conf, verdict, evidence = entry
        h.update(unit=unit, category=cat, public_institution=public, verdict=verdict, verdict_confidence=0.8,
                 verdict_detail={"compromise_score": 0.65 if verdict == "compromised" else 0.1, "deliberate_score": 0.3,
                                 "rules_verdict": verdict, "rules_confidence": 0.8, "model": None},
                 attribution={"source": source, "confidence": conf, "network": "10.20.0.0/16", "asn": 64500,
                              "as_org": "Example Networks"},
                 evidence=[{"signal": s, "weight": w, "detail": d, "side": "compromise" if s in COMPROMISE else "deliberate"}
                           for s, w, d in evidence] + [{"signal": "attribution", "weight": conf, "side": "attribution",
                                                       "detail": f"{unit} ({cat}) from {source}"}])
        if verdict == "compromised":
            h["behaviour"] = {"inbound_peers": 3, "inbound_ports": [22, 3306], "outbound_scan_targets": 0,
                              "outbound_scan_ports": [], "scanned_by": [], "pool_dns": ["xmr-eu1.nanopool.org"],
                              "pool_sni": [], "downloads": [{"kind": "script", "url": "http://198.51.100.9/x.sh",
                                                             "ts": 1708399800.0}]}
    misuse = [h for h in doc["hosts"] if h.get("verdict") == "institution_misuse"]
    public = [h for h in doc["hosts"] if h.get("public_institution")]
    hacked_public = [h for h in public if h.get("verdict") == "compromised"]
    n = len(doc["hosts"])
    doc["summary"]["sentences"] = {  # the figures the scan computes for the sweep sentences
        "public_resource_ips": len(misuse), "public_resource_units": len({h["unit"] for h in misuse}),
        "public_institution_ips": len(public), "public_institution_share": len(public) / n,
        "compromised_public_ips": len(hacked_public), "compromised_public_share": len(hacked_public) / n,
        "compromised_ips": sum(1 for h in doc["hosts"] if h.get("verdict") == "compromised"),
        "private_ips": sum(1 for h in doc["hosts"] if h.get("verdict") == "private"),
    }
    tls = {**doc["sessions"][-1]}
    tls.update(server_port=443, dialect="tls", transport="tls", pool="pool.supportxmr.com", pool_source="sni",
               confidence="strong", evidence=["TLS ClientHello SNI pool.supportxmr.com"], submits=0, accepted=0,
               rejected=0, worker=None, wallet=None, agent=None, login=None, difficulty={"current": None, "history": []},
               hashrate={"value": None, "low": None, "high": None, "unit": "H/s",
                         "basis": "not observable: encrypted (TLS) session"})
    guess = {**doc["sessions"][2], "dialect": "unknown", "confidence": "suspected", "server_port": 3333,
             "hashrate": {"value": None, "low": None, "high": None, "unit": "H/s", "basis": "not observable: known pool address only"}}
    doc["sessions"] += [tls, guess]
    doc["summary"]["sessions"] += 2
    units: dict[str, dict[str, Any]] = {}
    for h in doc["hosts"]:
        if not h.get("unit"):
            continue
        u = units.setdefault(h["unit"], {"unit": h["unit"], "category": h["category"],
                                         "public_institution": h["public_institution"], "ips": 256, "mining_ips": [],
                                         "hashrate": {}, "kwh_per_day": {"low": 0.0, "best": 0.0, "high": 0.0}, "verdicts": {}})
        u["mining_ips"].append(h["ip"])
        for alg, r in h["hashrate"]["by_algorithm"].items():
            acc = u["hashrate"].setdefault(alg, {"value": 0.0, "low": 0.0, "high": 0.0, "unit": r["unit"]})
            for k in ("value", "low", "high"):
                acc[k] = None if acc[k] is None or r[k] is None else acc[k] + r[k]
        for k in ("low", "best", "high"):
            e = h["energy_kwh_per_day"][k]
            u["kwh_per_day"][k] = None if e is None or u["kwh_per_day"][k] is None else u["kwh_per_day"][k] + e
        u["verdicts"][h["verdict"]] = u["verdicts"].get(h["verdict"], 0) + 1
    doc["units"] = list(units.values())
    return doc


@pytest.fixture(scope="session")
def rich(sample_findings: dict[str, Any]) -> dict[str, Any]:
    return rich_findings(sample_findings)


# --------------------------------------------------------------------------- HTML structure checker

ALLOWED: dict[str, set[str]] = {
    "html": {"lang"}, "head": set(), "meta": {"charset", "http-equiv", "content", "name"}, "title": set(),
    "style": set(), "script": {"type", "id"}, "body": set(), "header": {"class"}, "nav": {"aria-label"},
    "main": set(), "footer": set(), "section": {"id", "class"}, "article": {"class", "id"},
    "h1": set(), "h2": set(), "h3": set(), "h4": set(), "p": {"class"}, "div": {"class"}, "span": {"class"},
    "strong": set(), "code": {"class"}, "pre": {"class"}, "br": set(), "a": {"href"},
    "ol": set(), "ul": {"class"}, "li": set(), "dl": {"class"}, "dt": set(), "dd": {"class"},
    "table": {"class", "data-filter", "id"}, "thead": set(), "tbody": set(), "tr": {"class"},
    "th": {"class", "data-type"}, "td": {"class", "data-v"},
    "figure": {"class", "id"}, "figcaption": set(),
    "svg": {"xmlns", "class", "viewbox", "width", "height", "role", "aria-label", "aria-hidden"},
    "g": set(), "rect": {"x", "y", "width", "height", "fill", "class", "rx"},
    "line": {"x1", "y1", "x2", "y2", "class", "stroke-dasharray"}, "text": {"x", "y", "text-anchor", "class"},
}


class PageChecker(HTMLParser):
    """Collects every element, attribute, script body and text node of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.texts: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        if tag not in ("meta", "br", "line", "rect"):
            self._in.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        self.texts.append(data)


def check_page(page: str) -> PageChecker:
    """Assert the page is made only of our own elements, attributes and scripts."""
    p = PageChecker()
    p.feed(page)
    p.close()
    for tag, attrs in p.tags:
        assert tag in ALLOWED, f"unexpected element <{tag}>"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler attribute {name} on <{tag}>"
            assert name in ALLOWED[tag], f"unexpected attribute {name}= on <{tag}>"
            if name == "href":
                assert re.fullmatch(r"#[a-z]+(-\d+)?", value or ""), f"href built from data: {value!r}"
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert "javascript:" not in (value or "").lower(), f"javascript: URL in {name} of <{tag}>"
    js = (Path(I18N).parent / "assets" / "report.js").read_text("utf-8")
    assert [a for a, _ in p.scripts] == [{"type": "application/json", "id": "ms-data"}, {}]
    assert p.scripts[1][1] == js
    json.loads(p.scripts[0][1])
    csp = next(a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    assert csp == (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:; "
                   "base-uri 'none'; form-action 'none'")
    return p


# --------------------------------------------------------------------------- content


def test_sample_report_has_every_section_in_order(sample_findings):
    page = render_html(sample_findings)
    check_page(page)
    ids = re.findall(r'<section id="(\w+)"', page)
    assert ids == ["headline", "charts", "units", "hosts", "detail", "method", "provenance", "indicators"]
    s = sample_findings["summary"]
    host = next(h for h in sample_findings["hosts"] if h["ip"] == "10.20.30.41")
    r = host["hashrate"]
    for want in ("btc.f2pool.com", "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", "s9-041",
                 f"{si(r['value'], 'H/s')}", f"({si(r['low'], 'H/s')}–{si(r['high'], 'H/s')})",
                 sample_findings["inputs"][0]["sha256"], "minesweep scan pcaps --out out",
                 f"Of {s['ips_screened']} IP addresses screened, {s['mining_ips']} took part in mining, in "
                 f"{s['mining_subnets']} subnets, over {s['sessions']} sessions to {len(s['pools'])} pools."):
        assert want in page, want
    # the mid-session capture's hashrate is not observable, with the reason
    midsession = next(x for x in sample_findings["sessions"] if x["client"] == "10.44.7.19")
    assert midsession["hashrate"]["basis"].startswith("not observable:")
    assert midsession["hashrate"]["basis"] in page


MINI: dict[str, Any] = {
    "schema": "minesweep/findings/1", "tool": {"name": "minesweep", "version": "9.9"},
    "generated_at": "2021-06-08T02:00:00+00:00", "command": ["minesweep", "scan", "a b.pcap", "--out", "o"],
    "options": {"subnet_v4": 24, "subnet_v6": 64, "pue": 1.1, "confidence_level": 0.9},
    "inputs": [{"path": "a b.pcap", "sha256": "ab" * 32, "size": 164000, "format": "pcap", "packets": 877,
                "bytes": 150000, "first_ts": 1623114800.0, "last_ts": 1623115700.0, "linktypes": [1],
                "warnings": ["offset 24: truncated record"]}],
    "sessions": [{"client": "10.20.30.41", "client_port": 51662, "server": "203.0.113.10", "server_port": 3333,
                  "dialect": "stratum", "transport": "tcp", "coin": "BTC", "algorithm": "sha256d", "pool": "btc.f2pool.com",
                  "pool_source": "dns", "pool_operator": "F2Pool", "worker": "s9-041", "login": "acct.s9-041",
                  "wallet": None, "agent": "bmminer/2.0.0", "first_seen": 1623114802.0, "last_seen": 1623115702.5,
                  "duration_s": 900.5, "submits": 148, "accepted": 145, "rejected": 3, "duplicate_submits": 0,
                  "difficulty": {"current": {"kind": "diff", "value": 32768.0},
                                 "history": [{"ts": 1623114802.2, "kind": "diff", "value": 16384.0},
                                             {"ts": 1623115252.0, "kind": "diff", "value": 32768.0}]},
                  "hashrate": {"value": 15159173810189.7, "low": 13169421555536.1, "high": 17374690946094.8,
                               "unit": "H/s", "basis": "148 share(s) in 900.546 s"},
                  "reported_hashrate": None, "confidence": "confirmed", "evidence": ["t client→server mining.subscribe"],
                  "notes": []}],
    "hosts": [{"ip": "10.20.30.41", "sessions": 1, "pools": ["btc.f2pool.com"], "coins": ["BTC"],
               "algorithms": ["sha256d"], "workers": ["s9-041"], "wallets": [], "agents": ["bmminer/2.0.0"],
               "first_seen": 1623114802.0, "last_seen": 1623115702.5, "submits": 148, "accepted": 145, "rejected": 3,
               "hashrate": {"value": 15159173810189.7, "low": 13169421555536.1, "high": 17374690946094.8, "unit": "H/s",
                            "algorithm": "sha256d", "by_algorithm": {"sha256d": {
                                "value": 15159173810189.7, "low": 13169421555536.1, "high": 17374690946094.8, "unit": "H/s"}}},
               "energy_kwh_per_day": {"low": 6.08, "best": 11.8, "high": 45.0, "pue": 1.1,
                                      "by_algorithm": {"sha256d": {"low": 6.08, "best": 11.8, "high": 45.0}}},
               "energy_kwh_window": {"low": 0.063, "best": 0.123, "high": 0.469},
               "egress_bytes": 32990, "ingress_bytes": 37038, "egress_mbps": 0.000293, "confidence": "confirmed"}],
    "subnets": [{"subnet": "10.20.30.0/24", "mining_ips": 1, "ips": ["10.20.30.41"], "sessions": 1,
                 "pools": ["btc.f2pool.com"], "coins": ["BTC"], "hashrate_by_algorithm": {},
                 "energy_kwh_per_day": {"low": 6.08, "best": 11.8, "high": 45.0}, "egress_bytes": 32990}],
    "summary": {"capture_window": {"first_ts": 1623114800.0, "last_ts": 1623115700.0, "seconds": 900.0},
                "packets": 877, "bytes": 150000, "flows": 7, "ips_screened": 3, "mining_ips": 1, "mining_subnets": 1,
                "sessions": 1, "pools": ["btc.f2pool.com"], "coins": ["BTC"],
                "hashrate_by_algorithm": {"sha256d": {"value": 15159173810189.7, "low": 13169421555536.1,
                                                      "high": 17374690946094.8, "unit": "H/s", "hosts": 1}},
                "energy_kwh_per_day": {"low": 6.08, "best": 11.8, "high": 45.0},
                "energy_kwh_window": {"low": 0.063, "best": 0.123, "high": 0.469},
                "egress_bytes_to_pools": 32990, "egress_mbps_to_pools": 0.293},
}


@pytest.mark.parametrize("lang, wants", [
    ("en", ["Of 3 IP addresses screened, 1 took part in mining, in 1 subnet, over 1 session to 1 pool.",
            "Egress traffic to mining pools averaged 0.293 Mbps over the captured time (15 min).",
            "Observed hashrate: sha256d 15.2 TH/s (13.2 TH/s–17.4 TH/s).",
            "Estimated energy use is 11.8 kWh per day (between 6.08 and 45 kWh/day), about 0.123 kWh over the capture window.",
            "Coins mined: BTC.", "6.08 / 11.8 / 45", "32,768", "changed once", "145 accepted / 3 rejected",
            "2021-06-08 01:13:22", "F2Pool · dns", "minesweep scan &#39;a b.pcap&#39; --out o",
            "offset 24: truncated record", "abababab", "15 min", "minesweep 9.9"]),
    ("zh", ["共排查 IP 地址 3 个，其中参与挖矿的 IP 地址 1 个，分布于 1 个子网，共 1 个挖矿会话，连接 1 个矿池。",
            "估算耗电量约为每日 11.8 千瓦时（区间 6.08 至 45 千瓦时/日），监测时段内约 0.123 千瓦时。",
            "观测到的算力：sha256d 15.2 TH/s (13.2 TH/s–17.4 TH/s)。", "涉及币种：BTC。", "调整 1 次", "接受 145 / 拒绝 3"]),
])
def test_exact_figures_and_sentences(lang, wants):
    page = render_html(MINI, lang)
    check_page(page)
    for want in wants:
        assert want in page, want


def test_upper_bound_and_unobservable_rates():
    doc = copy.deepcopy(MINI)
    doc["hosts"][0]["hashrate"]["by_algorithm"]["sha256d"] = {"value": None, "low": 0.0, "high": 3.1e12, "unit": "H/s",
                                                             "basis": "upper bound: no share in 202 s"}
    doc["sessions"][0]["hashrate"] = {"value": None, "low": None, "high": None, "unit": "H/s",
                                      "basis": "not observable: encrypted (TLS) session"}
    doc["summary"]["energy_kwh_per_day"] = {"low": 0.0, "best": None, "high": 1123.6}
    page = render_html(doc)
    assert '<span class="rate rate-bound">≤ 3.1 TH/s</span> <span class="ival">(upper bound only)</span>' in page
    assert '<span class="rate rate-none">not observable</span><div class="small muted basis">not observable: encrypted (TLS) session</div>' in page
    assert "Energy use cannot be estimated from shares; at most 1,124 kWh per day." in page


def test_no_attribution_degrades_gracefully(sample_findings):
    page = render_html(sample_findings)
    assert "No attribution in these findings" in page
    assert "Energy by subnet, kWh/day" in page and "No category attribution in these findings." in page
    assert "Suspected of using public resources" not in page


@pytest.mark.parametrize("doc", [{}, {"schema": "minesweep/findings/1"},
                                 {"hosts": "x", "sessions": [1, None, "s"], "summary": [], "units": {"a": 1},
                                  "inputs": [{"warnings": "x", "size": "big"}], "subnets": [{"subnet": 5}]}])
def test_empty_and_mistyped_documents_render(doc):
    for lang in LANGS:
        page = render_html(doc, lang)
        check_page(page)
        assert "No mining host" in page or "未发现挖矿主机" in page


def test_rich_report_units_verdicts_and_evidence(rich):
    page = render_html(rich)
    check_page(page)
    assert page.count('class="badge verdict v-institution_misuse"') >= 3
    assert "Example Provincial Bureau of Finance" in page and "Party and government agency" in page
    n = len(rich["hosts"])
    assert "Suspected of using public resources for mining: 3 IPs of 2 units." in page
    assert f"Apparently compromised (hacked) and used for mining: 2 IPs ({200 / n:.0f}% of mining IPs)." in page
    assert "Attributed to units: 9 mining IPs in 6 units." in page
    assert (f"At public institutions (party and government agencies, schools, research institutes, state-owned "
            f"enterprises, hospitals): 5 IPs, {500 / n:.0f}% of mining IPs; of these, showing signs of compromise "
            f"(hacked): 2 IPs, {200 / n:.0f}% of all mining IPs.") in page
    assert "fetched a script file at 2024-02-20 03:30:00: http://198.51.100.9/x.sh" in page
    assert "serves inbound connections: 3 peers on ports 22, 3306" in page
    assert "registry:curated/cernet.csv" in page and "confidence 85%" in page
    assert re.search(r'<td class="mono">disguised_port</td><td><span class="side s-compromise">compromise</span></td>'
                     r'<td class="r num">0.20</td><td>pool reached on port 25</td>', page)
    assert "Compromise score 0.65 · deliberate-use score 0.30" in page and "confidence 80%" in page
    # session confidences are shown apart, and the encrypted one says why it has no rate
    count = {c: sum(1 for x in rich["sessions"] if x["confidence"] == c) for c in ("confirmed", "strong", "suspected")}
    assert f"confirmed {count['confirmed']} · strong {count['strong']} · suspected {count['suspected']}" in page
    assert 'class="badge conf c-strong"' in page and 'class="badge conf c-suspected"' in page
    assert "not observable: encrypted (TLS) session" in page
    # unit rows link their mining IPs to the host detail anchors
    assert re.search(r'<a href="#host-\d+">10\.20\.30\.41</a>, <a href="#host-\d+">10\.20\.31\.17</a>', page)
    assert "Energy by unit, kWh/day" in page and "Energy by category, kWh/day" in page


def test_units_derived_from_hosts_when_units_table_missing(rich):
    doc = copy.deepcopy(rich)
    del doc["units"]
    page = render_html(doc)
    assert "units are grouped here from each host" in page
    assert "Example County Hospital" in page and "Hospital or health authority" in page


@pytest.mark.parametrize("sentences, lang, expect", [
    (["4,502 IP addresses took part in mining."], "en", "4,502 IP addresses took part in mining."),
    (["4,502 IP addresses took part in mining."], "zh", "共排查 IP 地址 "),  # English-only: zh computes its own
    ({"en": ["E"], "zh": ["共 4502 个 IP 参与挖矿。"]}, "zh", "共 4502 个 IP 参与挖矿。"),
    ([{"en": "E1", "zh": "中文一"}], "zh", "中文一"),
])
def test_summary_sentences_from_findings(sample_findings, sentences, lang, expect):
    doc = copy.deepcopy(sample_findings)
    doc["summary"]["sentences"] = sentences
    assert expect in render_html(doc, lang)


def test_sweep_figures_from_findings_win(rich):
    doc = copy.deepcopy(rich)
    doc["summary"]["sentences"].update(public_resource_ips=42, public_resource_units=7, compromised_ips=1)
    page = render_html(doc)
    assert "Suspected of using public resources for mining: 42 IPs of 7 units." in page
    assert "Apparently compromised (hacked) and used for mining: 1 IP (" in page
    zh = render_html(doc, "zh")
    assert "涉嫌利用公共资源挖矿的：7 个单位的 42 个 IP。" in zh


def test_chinese_report_labels(rich):
    page = render_html(rich, "zh")
    check_page(page)
    s = rich["summary"]
    assert '<html lang="zh-CN">' in page
    for want in ("加密货币挖矿监测审计报告", "挖矿 IP 地址数", "矿池", "算力（90% 置信区间）", "千瓦时/日",
                 "被入侵主机", "利用公共资源挖矿", "党政机关", "公共机构", "无法观测",
                 f"共排查 IP 地址 {s['ips_screened']} 个，其中参与挖矿的 IP 地址 {s['mining_ips']} 个，分布于 "
                 f"{s['mining_subnets']} 个子网，共 {s['sessions']} 个挖矿会话，连接 {len(s['pools'])} 个矿池。",
                 "涉嫌利用公共资源挖矿的：2 个单位的 3 个 IP。"):
        assert want in page, want
    # numbers and evidence stay as data
    finance = next(h for h in rich["hosts"] if h["ip"] == "10.20.30.41")
    assert si(finance["hashrate"]["value"], "H/s") in page and "bmminer/2.0.0" in page


def _keys(path: Path) -> set[str]:
    out: set[str] = set()

    def walk(prefix: str, node: Any) -> None:
        for k, v in node.items():
            name = f"{prefix}.{k}" if prefix else k
            walk(name, v) if isinstance(v, dict) else out.add(f"{name}[{len(v)}]" if isinstance(v, list) else name)

    walk("", tomllib.loads(path.read_text("utf-8")))
    return out


def test_every_label_the_page_names_exists_in_both_languages():
    """The page names labels as L["key"] (as they are) or t("key", ...) (values filled in)."""
    text = (I18N.parent / "page.py").read_text("utf-8")
    plain = set(re.findall(r'\bL\["([^"]+)"\]', text))
    formatted = set(re.findall(r'\bt\("([^"]+)"', text))
    assert len(plain) > 80 and len(formatted) > 10
    assert not re.search(r'\bt\("[^"]+"\)', text)  # a label without values is looked up, not called
    for lang in ("en", "zh"):
        table = load_strings(lang).table
        assert plain - table.keys() == set() and formatted - table.keys() == set()
        assert all("{" not in table[k] for k in plain)  # nothing left to fill in


def test_languages_have_the_same_keys_and_zh_is_translated():
    zh = load_strings("zh")
    assert _keys(I18N / "en.toml") == _keys(I18N / "zh.toml")
    cjk, words = re.compile("[\u4e00-\u9fff]"), re.compile("[A-Za-z]{2,}")
    # every label with words in it is Chinese in zh (placeholders, symbols and formulas aside)
    untranslated = {k for k, v in zh.table.items()
                    if words.search(re.sub(r"\{\w+\}|χ²|\b(IP|AS|ASN|CERNET|TLS|DNS|Mbps)\b", "", v)) and not cjk.search(v)}
    assert untranslated == set(), untranslated
    with pytest.raises(ValueError, match="unsupported report language 'fr'"):
        load_strings("fr")


def test_placeholders_match_between_languages():
    en, zh = load_strings("en"), load_strings("zh")
    field = re.compile(r"\{(\w+)\}")
    for key, value in en.table.items():
        if key.endswith(".one"):  # "once" needs no count
            assert set(field.findall(value)) <= set(field.findall(zh.table[key])), key
        else:
            assert set(field.findall(value)) == set(field.findall(zh.table[key])), key


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "javascript:alert(document.domain)",
    "</script><script>alert(2)</script>",
    "A" * 100_000,
    "bad\udcff\ud800surrogate \x00\x07\x1b[31m",
    "\u202egnp.exe\u202c \u2066rtl\u2069 \u200bzw",
    "{{ 7*7 }} {% raw %} ${7*7} {0.__class__}",
    "]]></text><foreignObject><body onload=alert(3)>",
    "&lt;script&gt; &#60;script&#62; \\u003c/script\\u003e",
]


def _poison(node: Any, counter: list[int]) -> Any:
    """Every string in ``node`` replaced by a hostile one; the keys of data maps too."""
    if isinstance(node, str):
        counter[0] += 1
        return HOSTILE[counter[0] % len(HOSTILE)]
    if isinstance(node, list):
        return [_poison(v, counter) for v in node]
    if isinstance(node, dict):
        out = {k: _poison(v, counter) for k, v in node.items()}
        for mapping in ("methods", "hashrate_by_algorithm", "by_algorithm", "verdicts", "hashrate"):
            value = out.get(mapping)
            if isinstance(value, dict) and (mapping != "hashrate" or all(isinstance(v, dict) for v in value.values())):
                out[mapping] = {HOSTILE[(counter[0] + i) % len(HOSTILE)][:200] + str(i): v
                                for i, v in enumerate(out[mapping].values())}
        return out
    return node


@pytest.mark.parametrize("lang", LANGS)
def test_hostile_strings_in_every_field_stay_inert(rich, lang, tmp_path):
    doc = _poison(copy.deepcopy(rich), [0])
    doc["summary"]["sentences"] = [HOSTILE[0], HOSTILE[3]]
    page = render_html(doc, lang)
    p = check_page(page)
    visible = "".join(p.texts)
    assert "<script>alert(1)</script>" in visible  # shown as text, not run
    assert "[U+202E]gnp.exe[U+202C]" in visible  # direction overrides made visible
    assert "\ud800" not in page and "\x00" not in page and "\x1b" not in page
    assert "A" * 500 not in page  # long strings are bounded
    assert len(page) < 3 * len(render_html(rich, lang))
    out = write_html(doc, tmp_path, lang)
    assert out.read_bytes().decode("utf-8") == page
    for writer in (write_iocs_csv, write_sessions_csv, write_subnets_csv, write_hosts_csv):
        body = writer(doc, tmp_path).read_text("utf-8")
        assert "\ud800" not in body
        for row in csv.reader(io.StringIO(body)):
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, 10**400, -1, True, 0, "12", None]


def _poison_numbers(node: Any, counter: list[int]) -> Any:
    """Every number in ``node`` replaced by NaN, infinities, huge, negative, boolean or text."""
    if isinstance(node, bool) or isinstance(node, (int, float)):
        counter[0] += 1
        return NUMBERS[counter[0] % len(NUMBERS)]
    if isinstance(node, list):
        return [_poison_numbers(v, counter) for v in node]
    if isinstance(node, dict):
        return {k: _poison_numbers(v, counter) for k, v in node.items()}
    return node


@pytest.mark.parametrize("lang", LANGS)
def test_hostile_numbers_render(rich, lang, tmp_path):
    doc = _poison_numbers(copy.deepcopy(rich), [0])
    page = render_html(doc, lang)
    p = check_page(page)
    for key in re.findall(r'data-v="([^"]*)"', page):
        assert key == "" or math.isfinite(float(key)), key
    visible = " ".join(p.texts[2:])  # after <title> and <style>
    assert not re.search(r"\b(nan|inf|infinity)\b", visible, re.IGNORECASE)
    for writer in (write_iocs_csv, write_sessions_csv, write_subnets_csv, write_hosts_csv):
        writer(doc, tmp_path)


def test_json_block_cannot_end_its_element(rich):
    strings = load_strings("en")
    strings.table["js.sort"] = "</script><script>alert(1)</script> & \u2028"
    try:
        page = render_html(rich)
    finally:
        load_strings.cache_clear()
    block = page.split('<script type="application/json" id="ms-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and ">" not in block and "&" not in block
    assert json.loads(block)["strings"]["sort"].startswith("</script>")


def test_text_cleaning():
    assert text("a\u202eb") == "a[U+202E]b"
    assert text("x\ud800y\x00z\nw") == "x\ufffdy\ufffdz w"
    assert text("é中文") == "é中文"
    assert len(text("x" * 1000, 50)) == 50 and text("x" * 1000, 50).endswith("…")
    assert text(None) == "" and text(12) == "12"


# --------------------------------------------------------------------------- charts


def test_charts_escape_labels_and_cut_long_gaps():
    svg = charts.bars([charts.Bar("<b>&", 2.0, 1.0, 3.0, "2 (1–3)")], axis_fmt=str, aria_label="t<")
    assert "&lt;b&gt;&amp;" in svg and 'aria-label="t&lt;"' in svg and "<b>" not in svg
    spans = [charts.Span(0, 600), charts.Span(10 * 86400, 10 * 86400 + 600)]
    tl = charts.timeline([charts.Lane("h", spans)], fmt_time=lambda t: ("d", "t"), fmt_gap=lambda g: f"+{g:.0f}",
                         aria_label="x")
    assert "+863400" in tl and tl.count('class="brk"') == 2  # one break, drawn as a double line
    one = charts.timeline([charts.Lane("h", [charts.Span(0, 600), charts.Span(700, 900)])],
                          fmt_time=lambda t: ("d", "t"), fmt_gap=str, aria_label="x")
    assert 'class="brk"' not in one
    assert charts.fit("中文中文中文", 7) == "中文中…" and charts.fit("abc", 7) == "abc"


def test_sample_charts_present(sample_findings):
    page = render_html(sample_findings)
    for fid in ("chart-hashrate", "chart-energy-unit", "chart-energy-algorithm", "chart-timeline", "chart-pools",
                "chart-coins", "chart-subnets"):
        assert f'id="{fid}"' in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') >= 7


# --------------------------------------------------------------------------- CSV sidecars


def test_iocs(sample_findings, tmp_path):
    iocs = collect(sample_findings)
    kinds = {(i.type, i.value) for i in iocs}
    assert ("pool-domain", "btc.f2pool.com") in kinds and ("pool-ip", "203.0.113.10") in kinds
    assert ("wallet", "0xa0f58072b5303ccb97da69928f897b85adc6cf8c") in kinds and ("agent", "EWBF 0.3.4b") in kinds
    f2 = next(i for i in iocs if i.value == "btc.f2pool.com")
    assert (f2.ports, f2.coins, f2.operator, f2.source, f2.hosts, f2.sessions) == ((3333,), ("BTC",), "F2Pool", "dns", 1, 1)
    rows = list(csv.DictReader(write_iocs_csv(sample_findings, tmp_path).open(encoding="utf-8")))
    assert tuple(rows[0]) == IOC_COLUMNS and len(rows) == len(iocs)
    assert rows[0]["first_seen"].endswith("Z")
    ips = [r["indicator"] for r in rows if r["type"] == "pool-ip"]
    assert ips.index("192.0.2.55") < ips.index("203.0.113.10") < ips.index("2001:db8:feed::14")


def test_sessions_and_subnets_csv(rich, tmp_path):
    frame = sessions_frame(rich)
    assert tuple(frame.columns) == SESSION_COLUMNS and len(frame) == len(rich["sessions"])
    row = frame[frame.client == "10.20.30.41"].iloc[0]
    src = next(x for x in rich["sessions"] if x["client"] == "10.20.30.41")
    assert (row.pool, row.worker, row.unit, row.difficulty, row.submits, row.hashrate) == (
        "btc.f2pool.com", "s9-041", "Example Provincial Bureau of Finance", src["difficulty"]["current"]["value"],
        src["submits"], src["hashrate"]["value"])
    sub = subnets_frame(rich)
    assert {"subnet", "sha256d_hashrate", "sha256d_hashrate_low", "ethash_unit"} <= set(sub.columns)
    want = next(n for n in rich["subnets"] if n["subnet"] == "10.8.0.0/24")["hashrate_by_algorithm"]["ethash"]["value"]
    assert sub[sub.subnet == "10.8.0.0/24"].iloc[0].ethash_hashrate == want
    doc = copy.deepcopy(rich)
    doc["sessions"][0]["worker"] = "=HYPERLINK(\"http://x\")"
    body = write_sessions_csv(doc, tmp_path).read_text("utf-8")
    assert "'=HYPERLINK" in body
    assert write_subnets_csv({"subnets": [{"hashrate_by_algorithm": {"=cmd|x": {"value": 1}}}]}, tmp_path).read_text(
        "utf-8").splitlines()[0].startswith("subnet,")


# --------------------------------------------------------------------------- the report command


def _run_report(argv: list[str]) -> int:
    from detector.commands import report

    parser = argparse.ArgumentParser(prog="minesweep")
    sub = parser.add_subparsers(dest="command", required=True)
    report.register(sub)
    args = parser.parse_args(argv)
    return args.run(args, stdout=io.StringIO())


def test_report_command_rerenders_saved_findings(rich, tmp_path):
    saved = tmp_path / "findings.json"
    saved.write_text(json.dumps(rich), "utf-8")
    assert _run_report(["report", str(saved), "--out", str(tmp_path / "out"), "--lang", "zh"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["iocs.csv", "report.html", "sessions.csv", "subnets.csv"]
    assert "加密货币挖矿监测审计报告" in (out / "report.html").read_text("utf-8")


@pytest.mark.parametrize("content, expect", [
    (b"", "not a readable findings.json"),
    (b"\xff\xfe garbage", "not a readable findings.json"),
    (b'{"schema": "something/else"}', "not a minesweep findings document"),
    (b"[1, 2]", "not a minesweep findings document"),
])
def test_report_command_rejects_bad_findings(tmp_path, content, expect):
    bad = tmp_path / "f.json"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=expect):
        _run_report(["report", str(bad), "--out", str(tmp_path / "o")])


def test_report_command_missing_file(tmp_path):
    with pytest.raises(InputError, match="not a readable findings.json"):
        _run_report(["report", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])


def test_real_capture_report(tmp_path):
    doc = scan([CORPUS / "ndpi" / "mining.pcapng"])
    page = render_html(doc, "zh")
    check_page(page)
    assert "cn1-zcash.flypool.org" in page and "xmr-stak-cpu/1.3.0-1.5.0" in page


def test_values_are_escaped_as_markupsafe_escapes_them():
    """``e()``, which writes every value into the page, gives what ``markupsafe.escape`` gives
    (the template engine's escaping until session 10): the five characters HTML gives a meaning
    to, as the same entities; None, numbers and booleans as their text; markup as it is."""
    from markupsafe import Markup, escape

    from detector.output.page import e

    values = ["", "plain", "<script>alert('x')</script>", 'a"b&c', "&amp;", "\u202e<>", "日本<", 12, 1.5, None, True]
    assert [e(v) for v in values] == [str(escape(v)) for v in values]
    assert e(Markup("<b>x</b>")) == "<b>x</b>"
