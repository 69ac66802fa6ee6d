"""What the sidecar knows before it reads a log: pool names, the allow-list, its own settings.

``PoolIntel`` answers "is this name a mining pool?" for DNS names, TLS SNI, certificate names
and HTTP hosts. It combines the pool domain suffixes of rules/pools.toml with the allow-list of
rules/allowlist.toml (exchanges, wallets and project sites that pool block lists contain): the
longer matching suffix wins, so an allow-listed exchange never hides a pool's narrower stratum
host and a pool suffix never flags an allow-listed exact name below it.

Public API

``load_allowlist(rules_dir=None) -> AllowList``
    rules/allowlist.toml, validated; cached. ``AllowList.match(name) -> AllowEntry | None``.
``load_sidecar_rules(rules_dir=None) -> SidecarRules``
    rules/sidecar.toml: mining-alert patterns, Zeek notice types, flow-shape thresholds, limits.
``PoolIntel(rules=None, allowlist=None)``
    ``.classify(name) -> NameMatch | None`` (a pool, or an allow-list hit), ``.pool(name)``
    (the pool only when the name is not allow-listed), ``.allowed_under(suffix)`` (allow-listed
    names inside a pool suffix, for the exporters).
``normalise_name(text) -> str | None``
    Lower-case, no trailing dot, no ``:port``, no wildcard label; None if not a host name.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import RegistryError
from detector.rules import Pool, Rules, default_rules_dir, load_rules, longest_suffix, read_toml

__all__ = [
    "ALLOWLIST_FILE",
    "SIDECAR_FILE",
    "AllowEntry",
    "AllowList",
    "FlowShapeRules",
    "Limits",
    "NameMatch",
    "PoolIntel",
    "SidecarRules",
    "is_ip_text",
    "load_allowlist",
    "load_sidecar_rules",
    "normalise_name",
]

ALLOWLIST_FILE = "allowlist.toml"
SIDECAR_FILE = "sidecar.toml"
KINDS = frozenset({"exchange", "wallet", "explorer", "project-site", "pool-website"})
_NAME = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}\Z")


def is_ip_text(text: object) -> bool:
    """True for an IPv4 / IPv6 address in text (a ``%zone`` suffix allowed), False otherwise."""
    if not isinstance(text, str) or not text:
        return False
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def normalise_name(text: object) -> str | None:
    """A DNS name / SNI / Host value as a comparable name, or None."""
    if not isinstance(text, str) or not text or len(text) > 300:
        return None
    name = text.strip().lower().rstrip(".")
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    while name.startswith("*."):
        name = name[2:]
    return name if _NAME.match(name) else None


def _dir(rules_dir: Path | str | None) -> str:
    return str((Path(rules_dir) if rules_dir is not None else default_rules_dir()).resolve())


# --------------------------------------------------------------------------- allow-list


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allow-listed name."""

    name: str
    match: str  #: "suffix" or "exact"
    kind: str
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllowList:
    exact: dict[str, AllowEntry]
    suffixes: dict[str, AllowEntry]

    def match(self, name: str) -> AllowEntry | None:
        """The entry covering ``name`` (exact first, then the longest suffix), or None."""
        hit = self.exact.get(name)
        return hit if hit is not None else longest_suffix(self.suffixes, name)


def load_allowlist(rules_dir: Path | str | None = None) -> AllowList:
    """rules/allowlist.toml of ``rules_dir`` (default: the project's rules/), validated; cached."""
    return _allowlist(_dir(rules_dir))


@functools.lru_cache(maxsize=8)
def _allowlist(directory: str) -> AllowList:
    path = Path(directory) / ALLOWLIST_FILE
    if not path.is_file():
        return AllowList({}, {})
    entries = read_toml(path).get("allow", [])
    if not isinstance(entries, list):
        raise RegistryError(f"{path}: [[allow]] must be an array of tables")
    exact: dict[str, AllowEntry] = {}
    suffixes: dict[str, AllowEntry] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: [[allow]] #{i + 1}"
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: must be a table")
        name, match, kind = entry.get("name"), entry.get("match"), entry.get("kind")
        reason, sources = entry.get("reason"), entry.get("sources")
        if not isinstance(name, str) or normalise_name(name) != name:
            raise RegistryError(f"{where}: 'name' must be a lower-case DNS name, not {name!r}")
        if match not in ("suffix", "exact"):
            raise RegistryError(f"{where}: 'match' must be \"suffix\" or \"exact\"")
        if kind not in KINDS:
            raise RegistryError(f"{where}: 'kind' must be one of {sorted(KINDS)}")
        if not isinstance(reason, str) or not reason.strip():
            raise RegistryError(f"{where}: 'reason' must be a non-empty string")
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
            raise RegistryError(f"{where}: 'sources' must be a non-empty list of strings")
        table = suffixes if match == "suffix" else exact
        if name in table:
            raise RegistryError(f"{where}: {name!r} is listed twice")
        table[name] = AllowEntry(name, match, kind, reason, tuple(sources))
    return AllowList(exact, suffixes)


# --------------------------------------------------------------------------- sidecar settings


@dataclass(frozen=True, slots=True)
class FlowShapeRules:
    enabled: bool
    min_duration_s: float
    min_packets_each_way: int
    max_packet_ratio: float
    max_mean_payload_orig: float
    max_mean_payload_resp: float
    min_packets_per_minute: float
    max_packets_per_minute: float
    skip_services: frozenset[str]


@dataclass(frozen=True, slots=True)
class Limits:
    max_findings: int
    max_pool_addresses: int
    max_recent_connections: int
    max_payload_sessions: int
    max_certificates: int
    max_evidence: int


@dataclass(frozen=True, slots=True)
class SidecarRules:
    alert_categories: frozenset[str]
    alert_signatures: tuple[re.Pattern[str], ...]
    mitre_techniques: frozenset[str]
    notices_strong: frozenset[str]
    notices_suspected: frozenset[str]
    notice_miner: re.Pattern[str]
    notice_pool: re.Pattern[str]
    notice_protocol: re.Pattern[str]
    flow_shape: FlowShapeRules
    limits: Limits


def load_sidecar_rules(rules_dir: Path | str | None = None) -> SidecarRules:
    """rules/sidecar.toml of ``rules_dir``, validated; cached."""
    return _sidecar(_dir(rules_dir))


def _regex(value: Any, where: str, flags: int = 0) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise RegistryError(f"{where}: must be a non-empty regular expression")
    try:
        return re.compile(value, flags)
    except re.error as exc:
        raise RegistryError(f"{where}: bad regular expression {value!r}: {exc}") from None


def _number(table: dict[str, Any], key: str, where: str, kind: type = float) -> Any:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RegistryError(f"{where}: '{key}' must be a non-negative number")
    if kind is int and not isinstance(value, int):
        raise RegistryError(f"{where}: '{key}' must be an integer")
    return kind(value)


def _strs(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RegistryError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


@functools.lru_cache(maxsize=8)
def _sidecar(directory: str) -> SidecarRules:
    path = Path(directory) / SIDECAR_FILE
    doc = read_toml(path)
    tables: dict[str, dict[str, Any]] = {}
    for name in ("alerts", "notices", "flow_shape", "limits"):
        table = doc.get(name)
        if not isinstance(table, dict):
            raise RegistryError(f"{path}: [{name}] must be a table")
        tables[name] = table
    a, n, f, lim = tables["alerts"], tables["notices"], tables["flow_shape"], tables["limits"]
    where = f"{path}: [flow_shape]"
    enabled = f.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RegistryError(f"{where}: 'enabled' must be true or false")
    shape = FlowShapeRules(
        enabled, _number(f, "min_duration_s", where), _number(f, "min_packets_each_way", where, int),
        _number(f, "max_packet_ratio", where), _number(f, "max_mean_payload_orig", where),
        _number(f, "max_mean_payload_resp", where), _number(f, "min_packets_per_minute", where),
        _number(f, "max_packets_per_minute", where), frozenset(_strs(f, "skip_services", where)),
    )
    where = f"{path}: [limits]"
    limits = Limits(*(max(1, _number(lim, k, where, int)) for k in (
        "max_findings", "max_pool_addresses", "max_recent_connections", "max_payload_sessions",
        "max_certificates", "max_evidence")))
    where = f"{path}: [alerts]"
    return SidecarRules(
        alert_categories=frozenset(_strs(a, "categories", where)),
        alert_signatures=tuple(_regex(p, f"{where} signatures", re.IGNORECASE)
                               for p in _strs(a, "signatures", where)),
        mitre_techniques=frozenset(_strs(a, "mitre_techniques", where)),
        notices_strong=frozenset(_strs(n, "strong", f"{path}: [notices]")),
        notices_suspected=frozenset(_strs(n, "suspected", f"{path}: [notices]")),
        notice_miner=_regex(n.get("miner_pattern"), f"{path}: [notices] miner_pattern"),
        notice_pool=_regex(n.get("pool_pattern"), f"{path}: [notices] pool_pattern"),
        notice_protocol=_regex(n.get("protocol_pattern"), f"{path}: [notices] protocol_pattern"),
        flow_shape=shape,
        limits=limits,
    )


# --------------------------------------------------------------------------- pool names


@dataclass(frozen=True, slots=True)
class NameMatch:
    """How a name matched: a pool (``pool`` set) or an allow-list entry (``allowed`` set)."""

    name: str  #: the normalised name
    suffix: str  #: the matching suffix (pool domain or allow-list name)
    pool: Pool | None
    allowed: AllowEntry | None


class PoolIntel:
    """Pool names of rules/pools.toml minus the allow-list (longest suffix wins)."""

    def __init__(self, rules: Rules | None = None, allowlist: AllowList | None = None,
                 extra_pools: Iterable[Pool] = ()) -> None:
        self.rules = rules if rules is not None else load_rules()
        self.allowlist = allowlist if allowlist is not None else load_allowlist(self.rules.directory)
        # user-supplied pool lists (detector.poollists) add names; rules/pools.toml keeps its own
        self.index: dict[str, Pool] = dict(self.rules.domain_index)
        for pool in extra_pools:  # a user's list never overrides the allow-list, at any depth
            for domain in pool.domains:
                if self.allowlist.match(domain) is None:
                    self.index.setdefault(domain, pool)
        self._cache: dict[str, NameMatch | None] = {}

    def pool_for_host(self, text: object) -> Pool | None:
        """The pool a name (DNS name, SNI, Host header) belongs to, allow-list applied."""
        m = self.pool(text)
        return m.pool if m is not None else None

    def classify(self, text: object) -> NameMatch | None:
        """The pool or allow-list entry ``text`` falls under (longest suffix), else None."""
        name = normalise_name(text)
        if name is None:
            return None
        if name in self._cache:
            return self._cache[name]
        result = self._classify(name)
        if len(self._cache) >= 65536:
            self._cache.clear()
        self._cache[name] = result
        return result

    def _classify(self, name: str) -> NameMatch | None:
        exact = self.allowlist.exact.get(name)
        if exact is not None:
            return NameMatch(name, name, None, exact)
        labels = name.split(".")
        index = self.index
        for i in range(len(labels) - 1):
            suffix = ".".join(labels[i:])
            pool = index.get(suffix)
            allowed = self.allowlist.suffixes.get(suffix)
            if allowed is not None:
                return NameMatch(name, suffix, None, allowed)
            if pool is not None:
                return NameMatch(name, suffix, pool, None)
        return None

    def pool(self, text: object) -> NameMatch | None:
        """The match when ``text`` names a pool (and is not allow-listed), else None."""
        m = self.classify(text)
        return m if m is not None and m.pool is not None else None

    def allowed_under(self, suffix: str) -> tuple[AllowEntry, ...]:
        """Allow-list entries (exact or suffix) strictly below the pool suffix ``suffix``."""
        tail = "." + suffix
        entries = [e for e in (*self.allowlist.exact.values(), *self.allowlist.suffixes.values())
                   if e.name.endswith(tail)]
        return tuple(sorted(entries, key=lambda e: (e.name, e.match)))
