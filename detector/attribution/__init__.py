"""Attribution: which unit owns an IP address, what kind of unit it is, and how sure we are.

Sources, by precedence. The first tier that knows an address answers; inside a tier the
longest matching prefix wins (a /24 row beats a /16 row of the same tier):

    1. the user's registries     CSV files ``cidr,unit,category[,...]`` (``registry.py``); when
                                 several files give the same prefix, the later file wins
    2. curated lists             the same CSV format, shipped as ``rules/curated/*.csv`` (e.g. a
                                 CERNET block list); none ships yet, the mechanism is here
    3. ASN databases + rules     the AS organisation from a GeoLite2-ASN / IPinfo Lite / DB-IP
                                 .mmdb (``asn.py``), categorised by ``rules/asn_rules.toml``
    4. none                      category "unknown", confidence 0

A registry or curated answer still carries the AS number and organisation when an ASN database
knows the address (evidence for the report), but its unit and category come from the file.

Confidence (a judgement of how likely unit *and* category are right, not a measured rate):

    0.95  user registry        the auditor's own inventory; below 1 because inventories go stale
    0.85  curated list         published allocation lists: authoritative but maintained by others
    0.2 - 0.7  AS-name rule    per rule in asn_rules.toml, ceiling 0.7 (ASN_CONFIDENCE_CEILING):
                               the AS holder is the end user only when the unit runs its own AS
                               (universities, government networks); ISP customers appear under
                               the ISP, hence residential rules at 0.3
    0.1   AS known, no rule    unit = AS organisation, category unknown
    0.0   nothing known        unit None, category unknown

Invalid address text raises ``InputError``; bad files raise ``RegistryError`` (file:line) or
``UnreadableInputError`` as described in ``registry.py`` and ``asn.py``.

Public API:
    Attributor(categories, *, registries=(), curated=(), asn_databases=(), asn_rules=None)
    Attributor.from_files(registries=(), *, asn_databases=(), curated=None, categories=None,
                          asn_rules=None, public=None, allow_host_bits=False) -> Attributor
    Attributor.attribute(ip) -> Attribution;  Attributor.attribute_many(ips) -> list[Attribution]
    Attributor.warnings, Attributor.notes, Attributor.close()
    Attribution (frozen record), confidence constants, and the loaders re-exported below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType

from detector.attribution.asn import (
    ASN_CONFIDENCE_CEILING,
    AsnDatabase,
    AsnInfo,
    AsnRules,
    load_asn_rules,
)
from detector.attribution.prefix import PrefixMap, parse_ip
from detector.attribution.registry import (
    RULES_DIR,
    Categories,
    Registry,
    RegistryEntry,
    load_categories,
    load_registry,
    merge_registries,
)
from detector.errors import InputError

__all__ = [
    "ASN_CONFIDENCE_CEILING",
    "ASN_UNMATCHED_CONFIDENCE",
    "CURATED_CONFIDENCE",
    "REGISTRY_CONFIDENCE",
    "AsnDatabase",
    "Attribution",
    "Attributor",
    "Categories",
    "PrefixMap",
    "Registry",
    "load_asn_rules",
    "load_categories",
    "load_registry",
]

REGISTRY_CONFIDENCE = 0.95
CURATED_CONFIDENCE = 0.85
ASN_UNMATCHED_CONFIDENCE = 0.1
CURATED_DIR = RULES_DIR / "curated"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who owns one address, according to the best source that knows it."""

    ip: str                      # the address as given
    unit: str | None             # owning unit; for AS-derived answers the AS organisation
    category: str                # one of the vocabulary; "unknown" when no source says
    public_institution: bool     # category is in the configured public set
    source: str                  # "registry:<file>" | "registry:curated/<file>" | "asn:<db>" | "none"
    confidence: float            # 0..1, scale in the module docstring
    network: str | None = None   # the prefix that matched (registry row or database network)
    evidence: str = ""           # "<file>:<line>" of the registry row or AS-name rule used
    asn: int | None = None       # AS number when an ASN database knows the address
    as_org: str | None = None    # AS organisation when known
    extra: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)  # registry's extra columns, or
    #                              the database's as_domain / country_code


class Attributor:
    """Combines registries, curated lists and ASN databases (see the module docstring)."""

    def __init__(
        self,
        categories: Categories,
        *,
        registries: Sequence[Registry] = (),
        curated: Sequence[Registry] = (),
        asn_databases: Sequence[AsnDatabase] = (),
        asn_rules: AsnRules | None = None,
    ) -> None:
        self.categories = categories
        user_entries, user_notes = merge_registries(registries)
        curated_entries, curated_notes = merge_registries(curated)
        self._tiers: tuple[tuple[PrefixMap[RegistryEntry], float], ...] = (
            (PrefixMap.build((e.cidr, e) for e in user_entries), REGISTRY_CONFIDENCE),
            (PrefixMap.build((e.cidr, e) for e in curated_entries), CURATED_CONFIDENCE),
        )
        self._databases = tuple(asn_databases)
        self._rules = asn_rules if asn_rules is not None else AsnRules(())
        self.warnings: tuple[str, ...] = tuple(w for r in (*registries, *curated) for w in r.warnings)
        self.notes: tuple[str, ...] = tuple(user_notes + curated_notes)

    @classmethod
    def from_files(
        cls,
        registries: Sequence[str | Path] = (),
        *,
        asn_databases: Sequence[str | Path] = (),
        curated: Sequence[str | Path] | None = None,
        categories: str | Path | None = None,
        asn_rules: str | Path | None = None,
        public: Iterable[str] | None = None,
        allow_host_bits: bool = False,
    ) -> Attributor:
        """Load everything from files; ``curated=None`` means every ``rules/curated/*.csv``.

        ``public`` overrides which categories count as public institutions.
        """
        cats = load_categories(categories, public=public)
        curated_paths = sorted(CURATED_DIR.glob("*.csv")) if curated is None else [Path(p) for p in curated]
        user = [load_registry(p, cats, allow_host_bits=allow_host_bits) for p in registries]
        lists = [load_registry(p, cats, label=f"curated/{p.name}", allow_host_bits=allow_host_bits)
                 for p in curated_paths]
        rules = load_asn_rules(asn_rules, categories=cats)
        dbs: list[AsnDatabase] = []
        try:
            for p in asn_databases:
                dbs.append(AsnDatabase.open(p))
        except BaseException:
            for db in dbs:
                db.close()
            raise
        return cls(cats, registries=user, curated=lists, asn_databases=dbs, asn_rules=rules)

    # -- lookups -------------------------------------------------------------------------------

    def attribute(self, ip: str) -> Attribution:
        """Attribution of one address; InputError if ``ip`` is not an IP address."""
        version, packed = _parse(ip)
        asn = self._asn(ip)
        for prefixes, confidence in self._tiers:
            entry = prefixes.lookup_packed(version, packed)
            if entry is not None:
                return self._from_entry(ip, entry, confidence, asn)
        return self._from_asn(ip, asn)

    def attribute_many(self, ips: Sequence[str]) -> list[Attribution]:
        """Attributions for many addresses, in order (each distinct address is resolved once)."""
        unique = list(dict.fromkeys(ips))
        try:
            found = [prefixes.lookup_many(unique) for prefixes, _ in self._tiers]
        except ValueError:
            for ip in unique:
                _parse(ip)  # raises InputError naming the first bad address
            raise
        results: dict[str, Attribution] = {}
        for n, ip in enumerate(unique):
            asn = self._asn(ip)
            for (_, confidence), entries in zip(self._tiers, found):
                entry = entries[n]
                if entry is not None:
                    results[ip] = self._from_entry(ip, entry, confidence, asn)
                    break
            else:
                results[ip] = self._from_asn(ip, asn)
        return [results[ip] for ip in ips]

    def _asn(self, ip: str) -> tuple[AsnDatabase, AsnInfo] | None:
        for db in self._databases:
            info = db.lookup(ip)
            if info is not None:
                return db, info
        return None

    def _from_entry(self, ip: str, entry: RegistryEntry, confidence: float,
                    asn: tuple[AsnDatabase, AsnInfo] | None) -> Attribution:
        info = asn[1] if asn else None
        return Attribution(
            ip, entry.unit, entry.category, self.categories.is_public(entry.category),
            f"registry:{entry.source}", confidence, entry.cidr, f"{entry.source}:{entry.line}",
            info.asn if info else None, info.org if info else None, entry.extra,
        )

    def _from_asn(self, ip: str, asn: tuple[AsnDatabase, AsnInfo] | None) -> Attribution:
        if asn is None:
            return Attribution(ip, None, "unknown", self.categories.is_public("unknown"), "none", 0.0)
        db, info = asn
        rule = self._rules.classify(info.org)
        if rule is None:
            category, confidence, evidence = "unknown", ASN_UNMATCHED_CONFIDENCE, ""
        else:
            category, confidence = rule.category, rule.confidence
            evidence = f"{Path(self._rules.path).name}:{rule.line}"
        unit = info.org if info.org else (f"AS{info.asn}" if info.asn is not None else None)
        return Attribution(
            ip, unit, category, self.categories.is_public(category), f"asn:{db.label}",
            confidence, info.network, evidence, info.asn, info.org, info.extra,
        )

    # -- resources -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the ASN databases."""
        for db in self._databases:
            db.close()

    def __enter__(self) -> Attributor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _parse(ip: str) -> tuple[int, bytes]:
    try:
        return parse_ip(ip)
    except ValueError as exc:
        raise InputError(str(exc)) from None
