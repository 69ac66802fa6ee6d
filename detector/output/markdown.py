"""report.md: a readable summary — headline figures as the 2021 sweeps published them, then
tables of hosts, subnets, pools and sessions, the inputs and the method."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from detector.output.fmt import kwh, md, nbytes, rate, si, ts

SHA_SHOWN = 16  #: hex digits of an input's SHA-256 the inputs table shows


def render(findings: dict[str, Any]) -> str:
    s = findings["summary"]
    w = s["capture_window"]
    lines = ["# minesweep report", ""]
    lines += [f"Capture window {ts(w['first_ts'])} – {ts(w['last_ts'])}"
              f" ({(w['seconds'] or 0) / 3600:.2f} h captured), {s['packets']:,} packets, {s['flows']:,} flows,"
              f" {s['ips_screened']:,} IP addresses screened.", ""]
    lines += ["## Headline", ""]
    mbps = s["egress_mbps_to_pools"]
    lines.append(f"- **{s['mining_ips']} IP addresses** took part in mining, in {s['mining_subnets']} subnets,"
                 f" over {s['sessions']} sessions to {len(s['pools'])} pools.")
    lines.append(f"- Egress traffic to mining pools: {nbytes(s['egress_bytes_to_pools'])}"
                 + (f", {mbps:.4g} Mbps averaged over the captured time." if mbps is not None else "."))
    for alg, r in s["hashrate_by_algorithm"].items():
        lines.append(f"- Hashrate, {md(alg)}: {rate(r)} on {r['hosts']} hosts (90 % interval).")
    e = s["energy_kwh_per_day"]
    lines.append(f"- Energy: {kwh(e)} kWh/day (low / best / high); over the window {kwh(s['energy_kwh_window'])} kWh.")
    if s["coins"]:
        lines.append(f"- Coins: {', '.join(md(c) for c in s['coins'])}.")
    lines += _sentences(s.get("sentences"), s["mining_ips"])
    lines.append("")
    lines += _units(findings.get("units", []))
    lines += _hosts(findings["hosts"]) + _subnets(findings["subnets"]) + _pools(findings["sessions"])
    lines += _sessions(findings["sessions"]) + _inputs(findings["inputs"]) + _method(findings)
    return "\n".join(lines) + "\n"


def _sentences(x: dict[str, Any] | None, mining: int) -> list[str]:
    if not x or not mining:
        return []
    return [
        f"- **{x['public_resource_ips']} IPs of {x['public_resource_units']} units** are suspected of using public"
        " resources for mining (public institutions' hosts mining deliberately).",
        f"- {x['public_institution_ips']} of {mining} mining IPs ({x['public_institution_share']:.0%}) belong to public"
        f" institutions; {x['compromised_public_ips']} ({x['compromised_public_share']:.0%} of all mining IPs) belong to"
        " public institutions and show signs of compromise.",
        f"- Verdicts: {x['compromised_ips']} compromised hosts, {x['public_resource_ips']} institution misuse,"
        f" {x['private_ips']} private mining.",
    ]


def _units(units: list[dict[str, Any]]) -> list[str]:
    if not units or all(u["unit"] is None for u in units):
        return []
    out = ["## Units", "", "| unit | category | public | mining IPs | verdicts | hashrate | kWh/day low / best / high |",
           "|---|---|---|---:|---|---|---|"]
    for u in units:
        verdicts = ", ".join(f"{md(k)} {v}" for k, v in u["verdicts"].items())
        rates = "; ".join(f"{md(a)}: {rate(r)}" for a, r in u["hashrate_by_algorithm"].items())
        out.append(f"| {md(u['unit'] or '(not attributed)', 60)} | {md(u['category'])} | {'yes' if u['public_institution'] else 'no'}"
                   f" | {u['mining_ips']} | {verdicts} | {rates} | {kwh(u['energy_kwh_per_day'])} |")
    return out + [""]


def _hosts(hosts: list[dict[str, Any]]) -> list[str]:
    out = ["## Mining hosts", ""]
    if not hosts:
        return out + ["No mining host found.", ""]
    out += ["| IP | unit | verdict | sessions | pools | coins | hashrate (90 % interval) | kWh/day low / best / high | egress |",
            "|---|---|---|---:|---|---|---|---|---:|"]
    for h in hosts:
        r = h["hashrate"]
        verdict = f"{md(h['verdict'])} ({h['verdict_confidence']:.2f})" if h.get("verdict") else ""
        out.append(f"| {md(h['ip'])} | {md(h.get('unit') or '', 40)} | {verdict} | {h['sessions']}"
                   f" | {md(', '.join(h['pools']), 60)} | {md(', '.join(h['coins']))}"
                   f" | {md(r['algorithm'])}: {rate(r)} | {kwh(h['energy_kwh_per_day'])} | {nbytes(h['egress_bytes'])} |")
    out += [""]
    judged = [h for h in hosts if h.get("evidence")]
    if judged:
        out += ["### Evidence behind each verdict", ""]
        for h in judged:
            out.append(f"- **{md(h['ip'])}** — {md(h['verdict'])}:")
            out += [f"  - {md(e['detail'], 240)}" for e in h["evidence"]]
        out.append("")
    return out


def _subnets(subnets: list[dict[str, Any]]) -> list[str]:
    out = ["## Subnets", ""]
    if not subnets:
        return out + ["None.", ""]
    out += ["| subnet | mining IPs | sessions | hashrate | kWh/day low / best / high |", "|---|---:|---:|---|---|"]
    for n in subnets:
        rates = "; ".join(f"{md(a)}: {rate(r)}" for a, r in n["hashrate_by_algorithm"].items())
        out.append(f"| {md(n['subnet'])} | {n['mining_ips']} | {n['sessions']} | {rates} | {kwh(n['energy_kwh_per_day'])} |")
    return out + [""]


def _pools(sessions: list[dict[str, Any]]) -> list[str]:
    out = ["## Pools", ""]
    if not sessions:
        return out + ["None.", ""]
    counts: Counter[tuple[str, str]] = Counter()
    clients: dict[tuple[str, str], set[str]] = {}
    for s in sessions:
        key = (s["pool"] or "(name not seen)", f"{s['server']}:{s['server_port']}")
        counts[key] += 1
        clients.setdefault(key, set()).add(s["client"])
    out += ["| pool | endpoint | operator | sessions | clients |", "|---|---|---|---:|---:|"]
    operators = {(s["pool"] or "(name not seen)", f"{s['server']}:{s['server_port']}"): s["pool_operator"] for s in sessions}
    for key, n in sorted(counts.items()):
        out.append(f"| {md(key[0])} | {md(key[1])} | {md(operators.get(key) or '')} | {n} | {len(clients[key])} |")
    return out + [""]


def _sessions(sessions: list[dict[str, Any]]) -> list[str]:
    out = ["## Sessions", ""]
    if not sessions:
        return out + ["None.", ""]
    out += ["| client | pool endpoint | dialect | coin / algorithm | worker | agent | submits (acc/rej) | hashrate | reported |",
            "|---|---|---|---|---|---|---|---|---|"]
    for s in sessions:
        rep = s["reported_hashrate"]
        out.append(
            f"| {md(s['client'])}:{s['client_port']} | {md(s['server'])}:{s['server_port']} | {md(s['dialect'])}"
            f" | {md(s['coin'] or '?')} / {md(s['algorithm'])} | {md(s['worker'], 40)} | {md(s['agent'], 40)}"
            f" | {s['submits']} ({s['accepted']}/{s['rejected']}) | {rate(s['hashrate'])}"
            f" | {si(rep['mean'], rep['unit']) if rep else ''} |")
    return out + [""]


def _inputs(inputs: list[dict[str, Any]]) -> list[str]:
    out = ["## Inputs", "", "| file | format | packets | sha256 | warnings |", "|---|---|---:|---|---:|"]
    for i in inputs:
        out.append(f"| {md(Path(i['path']).name)} | {i['format']} | {i['packets']:,} | `{i['sha256'][:SHA_SHOWN]}…` | {len(i['warnings'])} |")
    warned = [(i["path"], w) for i in inputs for w in i["warnings"]][:50]
    if warned:
        out += ["", "Warnings:", ""] + [f"- {md(Path(p).name)}: {md(w, 200)}" for p, w in warned]
    return out + [""]


def _method(findings: dict[str, Any]) -> list[str]:
    o = findings["options"]
    return [
        "## Method", "",
        "- A session is *confirmed* when a mining protocol was decoded from its JSON-RPC messages"
        " (Stratum v1 and EthereumStratum, eth-proxy, Monero/CryptoNote, getwork/getblocktemplate).",
        "- Hashrate = Σ work per share / the observed window; work per share follows each algorithm's"
        " pool convention (rules/algorithms.toml). Intervals are exact Poisson bounds on the share count"
        f" at {o['confidence_level']:.0%}; with no share only an upper bound is given.",
        f"- Energy = hashrate × J per hash × hours × PUE ({o['pue']}), low / best / high from the hardware"
        " profiles in rules/hardware.toml (each figure cites its source).",
        f"- Subnets: IPv4 /{o['subnet_v4']}, IPv6 /{o['subnet_v6']}.", "",
    ]


def write_markdown(findings: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "report.md"
    path.write_text(render(findings), "utf-8")
    return path
