"""From host records (sessions, attribution, behaviour) to the verdict engine's HostFeatures,
and the verdicts and sweep sentences back into findings.

Across hosts: an account (wallet, else the pool account of the login) used by hosts of several
units is a botnet sign (``shared_wallet_units``); several hosts of one unit on one account are a
farm (``farm_size``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from detector.verdict import Download, HostFeatures, judge_many


def _accounts(sessions: Sequence[dict[str, Any]]) -> set[str]:
    out = set()
    for s in sessions:
        key = s.get("wallet") or s.get("account") or s.get("login")
        if key and key.lower() not in ("x", "worker", "default", "user"):
            out.add(key)
    return out


def host_features(hosts: Sequence[dict[str, Any]], sessions: Sequence[dict[str, Any]]) -> list[HostFeatures]:
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        by_host[s["client"]].append(s)
    accounts = {h["ip"]: _accounts(by_host[h["ip"]]) for h in hosts}
    units_of: dict[str, set[str]] = defaultdict(set)
    hosts_of: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    for h in hosts:
        for acct in accounts[h["ip"]]:
            units_of[acct].add(h.get("unit") or f"(unattributed {h['ip']})")
            hosts_of[(h.get("unit"), acct)].add(h["ip"])
    out = []
    for h in hosts:
        own = h.get("unit") or f"(unattributed {h['ip']})"
        ss = by_host[h["ip"]]
        b = h.get("behaviour") or {}
        rate = h["hashrate"]
        shared = sorted({u for a in accounts[h["ip"]] for u in units_of[a]} - {own})
        farm = max((len(hosts_of[(h.get("unit"), a)]) for a in accounts[h["ip"]]), default=1) if h.get("unit") else 1
        out.append(HostFeatures(
            ip=h["ip"], unit=h.get("unit"), category=h.get("category", "unknown"),
            public_institution=bool(h.get("public_institution")),
            attribution_confidence=float(h.get("attribution", {}).get("confidence", 0.0)),
            algorithms=tuple(h["algorithms"]), main_algorithm=rate.get("algorithm", ""),
            hashrate_hps=rate.get("value"), hashrate_unit=rate.get("unit", "H/s"),
            agents=tuple(h["agents"]), workers=tuple(h["workers"]), wallets=tuple(h["wallets"]),
            logins=tuple(sorted({s["login"] for s in ss if s.get("login")}))[:20],
            server_ports=tuple(sorted({s["server_port"] for s in ss if s.get("server_port") is not None})),
            sessions=len(ss),
            encrypted_sessions=sum(1 for s in ss if s.get("dialect") in ("tls", "sv2")),
            inbound_peers=int(b.get("inbound_peers", 0)), inbound_ports=tuple(b.get("inbound_ports", ())),
            scanned_by=len(b.get("scanned_by", ())), outbound_scan_targets=int(b.get("outbound_scan_targets", 0)),
            outbound_scan_ports=tuple(b.get("outbound_scan_ports", ())),
            downloads=tuple(Download(d["kind"], d["url"], d["ts"]) for d in b.get("downloads", ())),
            pool_dns_names=tuple(b.get("pool_dns", ())), pool_sni=tuple(b.get("pool_sni", ())),
            shared_wallet_units=tuple(shared), farm_size=farm,
            first_seen=h.get("first_seen"), last_seen=h.get("last_seen"),
        ))
    return out


def judge_hosts(hosts: Sequence[dict[str, Any]], sessions: Sequence[dict[str, Any]], model: Any = None) -> None:
    """Add ``verdict``, ``verdict_confidence`` and ``verdict_detail`` (scores, evidence) to hosts."""
    verdicts = judge_many(host_features(hosts, sessions), model=model)
    for h, v in zip(hosts, verdicts, strict=True):
        detail = v.as_dict()
        h["verdict"] = detail.pop("verdict")
        h["verdict_confidence"] = detail.pop("confidence")
        h["evidence"] = detail.pop("evidence")
        h["verdict_detail"] = detail


def sweep_sentences(hosts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures the 2021 sweeps published, computed (numbers; reports phrase them)."""
    mining = len(hosts)
    misuse = [h for h in hosts if h.get("verdict") == "institution_misuse"]
    compromised_public = [h for h in hosts if h.get("verdict") == "compromised" and h.get("public_institution")]
    public = [h for h in hosts if h.get("public_institution")]
    return {
        "public_resource_ips": len(misuse),
        "public_resource_units": len({h.get("unit") for h in misuse}),
        "public_institution_ips": len(public),
        "public_institution_share": len(public) / mining if mining else None,
        "compromised_public_ips": len(compromised_public),
        "compromised_public_share": len(compromised_public) / mining if mining else None,
        "compromised_ips": sum(1 for h in hosts if h.get("verdict") == "compromised"),
        "private_ips": sum(1 for h in hosts if h.get("verdict") == "private"),
    }
