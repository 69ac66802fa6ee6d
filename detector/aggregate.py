"""Hosts, subnets and the overall summary, from session records.

Per host and algorithm the hashrate is Σ work of the host's shares / the union of its sessions'
windows (concurrent sessions add up, consecutive ones average), with the exact Poisson interval
on the pooled share count. Subnets and the summary add host figures; their intervals add the
host bounds (conservative). Energy per algorithm combines the hashrate interval with the
efficiency range of rules/hardware.toml: low = H_low × most efficient hardware, best = H × the
typical basket, high = H_high × least efficient hardware still in use, all × PUE.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from detector import estimate
from detector.finalize import CONFIDENCE_LEVEL
from detector.rules import load_rules

HOURS_PER_DAY = 24.0
CONFIDENCE_ORDER = ("confirmed", "strong", "suspected")  #: best first


def union_seconds(windows: Iterable[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(windows):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start  # type: ignore[operator]
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start  # type: ignore[operator]
    return total


def _rate(sessions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled hashrate of one host's sessions of one algorithm; a figure the user assumed for
    encrypted sessions (--assume-hashrate) is added to the observed one and labelled."""
    assumed = [s for s in sessions if s["hashrate"].get("assumed")]
    observed = [s for s in sessions if not s["hashrate"].get("assumed")]
    out = _observed_rate(observed) if observed else {
        "value": None, "low": None, "high": None, "unit": sessions[0]["hashrate"]["unit"], "shares": 0,
        "seconds": 0.0, "confidence_level": CONFIDENCE_LEVEL}
    if not assumed:
        return out
    extra = sum(s["hashrate"]["work"] for s in assumed) / max(
        union_seconds((s["first_seen"], s["last_seen"]) for s in assumed), 1e-9)
    for key in ("value", "low", "high"):
        out[key] = _add(out[key], extra)
    out["assumed"] = True
    out["basis"] = (f"includes {extra:g} {out['unit']} ASSUMED by the user for {len(assumed)} encrypted session(s)"
                    + (f"; observed part: {out['basis']}" if out.get("basis") else ""))
    return out


def _observed_rate(sessions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    unit = sessions[0]["hashrate"]["unit"]
    work = sum(s["hashrate"]["work"] for s in sessions)
    shares = sum(s["hashrate"]["shares"] for s in sessions)
    seconds = union_seconds((s["first_seen"], s["last_seen"]) for s in sessions)
    out: dict[str, Any] = {"value": None, "low": None, "high": None, "unit": unit, "shares": shares,
                           "seconds": round(seconds, 3), "confidence_level": CONFIDENCE_LEVEL}
    if shares and seconds > 0:
        est = estimate.estimate_hashrate(work, shares, seconds, CONFIDENCE_LEVEL)
        if est is not None:
            out.update(value=est.value, low=est.low, high=est.high, basis=est.basis)
            return out
    highs = [s["hashrate"]["high"] for s in sessions if s["hashrate"]["high"] is not None]
    if highs:
        out.update(low=0.0, high=sum(highs), basis="upper bound only: no share with a known difficulty")
    else:
        out["basis"] = "not observable"
    return out


def energy(rate: dict[str, Any], algorithm: str, hours: float, pue: float) -> dict[str, float | None]:
    """kWh over ``hours`` as low/best/high, from a hashrate interval."""
    if algorithm not in load_rules().hardware:
        return {"low": None, "best": None, "high": None, "basis": f"no hardware profile for {algorithm}"}

    def kwh(h: float | None, which: str) -> float | None:
        if h is None:
            return None
        return getattr(estimate.energy_kwh(h, algorithm, hours, pue), which)

    return {"low": kwh(rate["low"], "low"), "best": kwh(rate["value"], "best"), "high": kwh(rate["high"], "high")}


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def _sum_ranges(ranges: Iterable[dict[str, Any]], keys: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {k: None for k in keys}
    for r in ranges:
        for k in keys:
            out[k] = _add(out[k], r.get(k))
    return out


def build_hosts(sessions: Sequence[dict[str, Any]], pue: float) -> list[dict[str, Any]]:
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        by_host[s["client"]].append(s)
    hosts = []
    for ip, items in sorted(by_host.items(), key=lambda kv: _ip_key(kv[0])):
        by_alg: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in items:
            by_alg[s["algorithm"]].append(s)
        rates = {alg: _rate(ss) for alg, ss in sorted(by_alg.items())}
        energy_day = {alg: energy(r, alg, HOURS_PER_DAY, pue) for alg, r in rates.items()}
        for alg, r in rates.items():
            if r.get("assumed"):  # carried into the energy figure, so reports can say so
                energy_day[alg]["assumed"] = True
        first = min(s["first_seen"] for s in items)
        last = max(s["last_seen"] for s in items)
        window_h = union_seconds((s["first_seen"], s["last_seen"]) for s in items) / 3600
        energy_window = {alg: energy(r, alg, window_h, pue) for alg, r in rates.items()}
        main = max(rates, key=lambda a: (rates[a]["shares"], len(by_alg[a]), a))
        egress = sum(s["bytes_c2s"] for s in items)
        hosts.append({
            "ip": ip,
            "sessions": len(items),
            "pools": sorted({s["pool"] or f"{s['server']}:{s['server_port']}" for s in items}),
            "pool_endpoints": sorted({f"{s['server']}:{s['server_port']}" for s in items}),
            "coins": sorted({s["coin"] for s in items if s["coin"]}),
            "algorithms": sorted(rates),
            "dialects": sorted({s["dialect"] for s in items}),
            "workers": sorted({s["worker"] for s in items if s["worker"]})[:50],
            "wallets": sorted({s["wallet"] for s in items if s["wallet"]})[:50],
            "agents": sorted({s["agent"] for s in items if s["agent"]})[:20],
            "first_seen": first,
            "last_seen": last,
            "submits": sum(s["submits"] for s in items),
            "accepted": sum(s["accepted"] for s in items),
            "rejected": sum(s["rejected"] for s in items),
            "hashrate": {**{k: rates[main][k] for k in ("value", "low", "high", "unit")}, "algorithm": main,
                         "by_algorithm": rates},
            "energy_kwh_per_day": {**_sum_ranges(energy_day.values(), ("low", "best", "high")),
                                   "by_algorithm": energy_day, "pue": pue,
                                   "assumed": any(r.get("assumed") for r in rates.values())},
            "energy_kwh_window": _sum_ranges(energy_window.values(), ("low", "best", "high")),
            "egress_bytes": egress,
            "ingress_bytes": sum(s["bytes_s2c"] for s in items),
            "egress_mbps": egress * 8 / 1e6 / (last - first) if last > first else None,
            "confidence": min((s["confidence"] for s in items), key=CONFIDENCE_ORDER.index),
        })
    return hosts


def subnet_of(ip: str, v4: int, v6: int) -> str:
    addr = ipaddress.ip_address(ip)
    return str(ipaddress.ip_network(f"{ip}/{v4 if addr.version == 4 else v6}", strict=False))


def build_subnets(hosts: Sequence[dict[str, Any]], v4: int, v6: int) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in hosts:
        groups[subnet_of(h["ip"], v4, v6)].append(h)
    return [{"subnet": net, **group_figures(items)}
            for net, items in sorted(groups.items(), key=lambda kv: _net_key(kv[0]))]


def group_figures(hosts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a group of hosts (a subnet, a unit): IPs, sessions, pools, hashrate, energy."""
    return {
        "mining_ips": len(hosts),
        "ips": [h["ip"] for h in hosts],
        "sessions": sum(h["sessions"] for h in hosts),
        "pools": sorted({p for h in hosts for p in h["pools"]}),
        "coins": sorted({c for h in hosts for c in h["coins"]}),
        "hashrate_by_algorithm": _rates_by_algorithm(hosts),
        "energy_kwh_per_day": _sum_ranges((h["energy_kwh_per_day"] for h in hosts), ("low", "best", "high")),
        "egress_bytes": sum(h["egress_bytes"] for h in hosts),
    }


def _rates_by_algorithm(hosts: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for h in hosts:
        for alg, r in h["hashrate"]["by_algorithm"].items():
            cur = out.setdefault(alg, {"value": None, "low": None, "high": None, "unit": r["unit"], "hosts": 0})
            for k in ("value", "low", "high"):
                cur[k] = _add(cur[k], r[k])
            cur["hosts"] += 1
    return dict(sorted(out.items()))


def build_summary(inputs: Sequence[dict[str, Any]], sessions: Sequence[dict[str, Any]],
                  hosts: Sequence[dict[str, Any]], subnets: Sequence[dict[str, Any]],
                  ips_screened: int, flows: int) -> dict[str, Any]:
    spans = [(i["first_ts"], i["last_ts"]) for i in inputs if i["first_ts"] is not None and i["last_ts"] is not None]
    first, last = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (None, None)
    # captured time: inputs taken at different times do not count the gaps between them
    window = union_seconds(spans) if spans else None
    egress = sum(h["egress_bytes"] for h in hosts)
    return {
        "capture_window": {"first_ts": first, "last_ts": last, "seconds": window},  # seconds: union of the inputs' spans
        "packets": sum(i["packets"] for i in inputs),
        "bytes": sum(i["bytes"] for i in inputs),
        "flows": flows,
        "ips_screened": ips_screened,
        "mining_ips": len(hosts),
        "mining_subnets": len(subnets),
        "sessions": len(sessions),
        "pools": sorted({p for h in hosts for p in h["pools"]}),
        "coins": sorted({c for h in hosts for c in h["coins"]}),
        "hashrate_by_algorithm": _rates_by_algorithm(hosts),
        "energy_kwh_per_day": _sum_ranges((h["energy_kwh_per_day"] for h in hosts), ("low", "best", "high")),
        "energy_kwh_window": _sum_ranges((h["energy_kwh_window"] for h in hosts), ("low", "best", "high")),
        "egress_bytes_to_pools": egress,
        "egress_mbps_to_pools": egress * 8 / 1e6 / window if window else None,
    }


def _ip_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)


def _net_key(net: str) -> tuple[int, int]:
    n = ipaddress.ip_network(net)
    return n.version, int(n.network_address)
