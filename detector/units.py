"""Who owns each mining host, and the units table: the sweeps' real output was a list of units.

``attribute_hosts`` adds the owning unit, its category, whether it is a public institution and
the attribution's source and confidence to every host record; ``build_units`` groups the hosts
into one row per unit with its IPs, hashrate, energy and verdict counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from detector.aggregate import group_figures

if TYPE_CHECKING:  # registries and ASN databases are read only when a scan is given them
    from detector.attribution import Attribution, Attributor

UNATTRIBUTED = None  #: the unit of a host no source knows


def attribution_fields(a: Attribution | None) -> dict[str, Any]:
    if a is None:
        return {"unit": None, "category": "unknown", "public_institution": False,
                "attribution": {"source": "none", "confidence": 0.0, "network": None, "evidence": "",
                                "asn": None, "as_org": None, "extra": {}}}
    return {
        "unit": a.unit,
        "category": a.category,
        "public_institution": a.public_institution,
        "attribution": {"source": a.source, "confidence": round(a.confidence, 3), "network": a.network,
                        "evidence": a.evidence, "asn": a.asn, "as_org": a.as_org, "extra": dict(a.extra)},
    }


def attribute_hosts(hosts: Sequence[dict[str, Any]], attributor: Attributor | None) -> None:
    """Add unit/category/public_institution/attribution to each host record (in place)."""
    found = attributor.attribute_many([h["ip"] for h in hosts]) if attributor is not None and hosts else []
    by_ip = {a.ip: a for a in found}
    for h in hosts:
        h.update(attribution_fields(by_ip.get(h["ip"])))


def build_units(hosts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str | None, str], list[dict[str, Any]]] = defaultdict(list)
    for h in hosts:
        groups[(h.get("unit"), h.get("category", "unknown"))].append(h)
    units = []
    for (unit, category), items in groups.items():
        verdicts = Counter(h.get("verdict") for h in items if h.get("verdict"))
        units.append({
            "unit": unit,
            "category": category,
            "public_institution": any(h.get("public_institution") for h in items),
            **group_figures(items),
            "verdicts": dict(sorted(verdicts.items())),
            "attribution_sources": sorted({h["attribution"]["source"] for h in items}),
        })
    units.sort(key=lambda u: (u["unit"] is None, -(u["energy_kwh_per_day"]["best"] or 0.0), str(u["unit"])))
    return units
