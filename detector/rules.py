"""Load minesweep's reference data (``rules/*.toml``) once into frozen, typed records.

The data files and what they hold (each figure carries its source in the file):

    rules/algorithms.toml   proof-of-work algorithms: unit, work per share, target encoding,
                            aliases; and the coin -> algorithm table
    rules/hardware.toml     energy efficiency per algorithm (low / best / high) and default PUE
    rules/pools.toml        curated pools and browser-mining services by domain suffix

Public API:

``load_rules(rules_dir=None) -> Rules``
    Parse and validate the three files; cached per directory. Without an argument the
    directory is found by :func:`default_rules_dir`. A malformed file raises
    :class:`~detector.errors.RegistryError` whose message names the file and the key (or the
    line, for TOML syntax errors).
``default_rules_dir() -> Path``
    ``$MINESWEEP_RULES`` if set, else
    ``rules/`` next to the package directory (a source checkout or editable install), else
    ``<sys.prefix>/share/minesweep/rules`` (where a wheel built with
    ``[tool.setuptools.data-files] "share/minesweep/rules" = ["rules/*.toml"]`` installs them).
``clear_rules_cache()``
    Forget cached :class:`Rules` (tests, or after editing the files).

``Rules`` offers ``.algorithms``, ``.coins`` (ticker -> algorithm key), ``.coin_info``,
``.hardware``, ``.pools``, ``.default_pue``, ``.algorithm(name_or_alias)`` and
``.pool_for_host(hostname)`` (suffix match on label boundaries, case-insensitive, longest
suffix wins).
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import RegistryError

__all__ = [
    "Algorithm",
    "Coin",
    "EfficiencyPoint",
    "EfficiencyProfile",
    "Pool",
    "RULES_ENV",
    "Rules",
    "clear_rules_cache",
    "default_rules_dir",
    "load_rules",
    "longest_suffix",
]

T = TypeVar("T")

#: Environment variable naming a rules directory to use instead of the packaged one.
RULES_ENV = "MINESWEEP_RULES"
ALGORITHMS_FILE = "algorithms.toml"
HARDWARE_FILE = "hardware.toml"
POOLS_FILE = "pools.toml"
_MAX_FILE_BYTES = 4 * 1024 * 1024

#: Joules-per-unit suffix -> factor to joules per hash (or per solution).
EFFICIENCY_UNITS: Mapping[str, tuple[str, float]] = MappingProxyType({
    "J/H": ("H/s", 1.0), "J/kH": ("H/s", 1e-3), "J/MH": ("H/s", 1e-6),
    "J/GH": ("H/s", 1e-9), "J/TH": ("H/s", 1e-12), "J/PH": ("H/s", 1e-15),
    "J/Sol": ("Sol/s", 1.0), "J/kSol": ("Sol/s", 1e-3), "J/MSol": ("Sol/s", 1e-6),
})
TARGET_ENCODINGS = frozenset({"be256", "cryptonote"})
_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}\Z")
_TICKER = re.compile(r"[A-Z0-9]{2,10}\Z")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+\Z")


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One proof-of-work algorithm and its share arithmetic (see rules/algorithms.toml)."""

    name: str  #: key in algorithms.toml, e.g. "sha256d"
    unit: str  #: "H/s" or "Sol/s"
    work_per_difficulty: float | None  #: hashes (Sols) per share of difficulty 1; None = unsourced
    diff1_target: int | None  #: 256-bit target of difficulty 1, if a convention exists
    target_encoding: str  #: "be256" or "cryptonote"
    aliases: tuple[str, ...]  #: lower-case protocol / miner names
    coins: tuple[str, ...]  #: tickers using this algorithm (from the coin table)
    convention: str  #: one-line statement of the share convention
    sources: tuple[str, ...]  #: where the convention was read


@dataclass(frozen=True, slots=True)
class Coin:
    """A coin and the algorithm it is mined with."""

    ticker: str
    name: str
    algorithm: str
    note: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class EfficiencyPoint:
    """One efficiency figure: a hardware rating and where it was read."""

    value: float  #: in ``unit``, as written in hardware.toml
    unit: str  #: e.g. "J/TH"
    joules_per_unit: float  #: joules per hash (or per solution)
    model: str
    source: str


@dataclass(frozen=True, slots=True)
class EfficiencyProfile:
    """CBECI-style bounds for one algorithm: low <= best <= high joules per hash."""

    algorithm: str
    unit: str
    low: EfficiencyPoint
    best: EfficiencyPoint
    high: EfficiencyPoint


@dataclass(frozen=True, slots=True)
class Pool:
    """A mining pool or browser-mining service recognised by domain suffix."""

    name: str
    operator: str
    domains: tuple[str, ...]
    coins: tuple[str, ...]
    ports: tuple[int, ...]
    browser: bool
    sources: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Rules:
    """Everything in rules/, validated. Build with :func:`load_rules`."""

    directory: Path
    algorithms: Mapping[str, Algorithm]
    coins: Mapping[str, str]
    coin_info: Mapping[str, Coin]
    hardware: Mapping[str, EfficiencyProfile]
    pools: tuple[Pool, ...]
    default_pue: float
    pue_source: str
    aliases: Mapping[str, str]  #: lower-case name or alias -> algorithm key
    domain_index: Mapping[str, Pool]  #: domain suffix -> pool

    def algorithm(self, name: str) -> Algorithm | None:
        """The algorithm called ``name`` (key or alias, case-insensitive), or None."""
        if not isinstance(name, str):
            return None
        key = self.aliases.get(name.strip().lower())
        return self.algorithms[key] if key is not None else None

    def pool_for_host(self, hostname: object) -> Pool | None:
        """The pool whose domain suffix ``hostname`` falls under, or None.

        Accepts DNS names, TLS SNI and HTTP Host values (a ``:port`` suffix is ignored);
        matching is case-insensitive, on label boundaries, and the longest suffix wins.
        """
        if not isinstance(hostname, str) or not hostname or len(hostname) > 260:
            return None
        host = hostname.strip().lower()
        if host.count(":") == 1:
            host = host.split(":", 1)[0]
        host = host.rstrip(".")
        if not host or not _HOST_CHARS.match(host):
            return None
        return longest_suffix(self.domain_index, host)


def longest_suffix(index: Mapping[str, T], name: str) -> T | None:
    """The entry of ``index`` for the longest dotted suffix of ``name`` that it holds, ``name``
    itself first, on label boundaries, never a single last label (a TLD); None if none."""
    labels = name.split(".")
    for i in range(len(labels) - 1):
        hit = index.get(".".join(labels[i:]))
        if hit is not None:
            return hit
    return None


# --------------------------------------------------------------------------- loading


def default_rules_dir() -> Path:
    """Where the rules live: env override, source checkout, installed data files."""
    return Path(_default_dir(os.environ.get(RULES_ENV)))


@functools.lru_cache(maxsize=8)
def _default_dir(env: str | None) -> str:
    """The resolved rules directory for one value of the environment override (found once: the
    scan asks for the rules thousands of times, and resolving a path walks the file system)."""
    candidates: list[Path] = []
    if env:
        candidates.append(Path(env))
    package = Path(__file__).resolve().parent
    candidates += [
        package.parent / "rules",
        Path(sys.prefix) / "share" / "minesweep" / "rules",
    ]
    for candidate in candidates:
        if (candidate / ALGORITHMS_FILE).is_file():
            return str(candidate.resolve())
    tried = ", ".join(str(c) for c in candidates)
    raise RegistryError(f"rules directory not found (looked in {tried}); set {RULES_ENV}")


def load_rules(rules_dir: Path | str | None = None) -> Rules:
    """Load and validate ``rules_dir`` (default: :func:`default_rules_dir`); cached."""
    if rules_dir is None:
        return _load_cached(_default_dir(os.environ.get(RULES_ENV)))
    return _load_cached(str(Path(rules_dir).resolve()))


def clear_rules_cache() -> None:
    """Forget every cached :class:`Rules`."""
    _load_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str) -> Rules:
    root = Path(directory)
    algo_doc = read_toml(root / ALGORITHMS_FILE)
    hw_doc = read_toml(root / HARDWARE_FILE)
    pool_doc = read_toml(root / POOLS_FILE)
    algorithms, coin_info, aliases = _parse_algorithms(root / ALGORITHMS_FILE, algo_doc)
    hardware, pue, pue_source = _parse_hardware(root / HARDWARE_FILE, hw_doc, algorithms)
    pools, domain_index = _parse_pools(root / POOLS_FILE, pool_doc)
    return Rules(
        directory=root,
        algorithms=MappingProxyType(algorithms),
        coins=MappingProxyType({t: c.algorithm for t, c in coin_info.items()}),
        coin_info=MappingProxyType(coin_info),
        hardware=MappingProxyType(hardware),
        pools=pools,
        default_pue=pue,
        pue_source=pue_source,
        aliases=MappingProxyType(aliases),
        domain_index=MappingProxyType(domain_index),
    )


def read_toml(path: Path, max_bytes: int = _MAX_FILE_BYTES) -> dict[str, Any]:
    """A rules data file: bounded in size, UTF-8, valid TOML; otherwise one RegistryError line
    naming the file (and the line of a syntax error). Every TOML file in rules/ is read here."""
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read rules file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise RegistryError(f"{path}: rules file larger than {max_bytes} bytes")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        msg = " ".join(str(exc).split())
        match = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path}:{match.group(1)}" if match else str(path)
        raise RegistryError(f"{where}: invalid TOML: {msg}") from None


# --------------------------------------------------------------------------- field helpers


class _Ctx:
    """Error context: the file and the dotted key being read."""

    __slots__ = ("path", "key")

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key

    def fail(self, msg: str) -> RegistryError:
        return RegistryError(f"{self.path}: [{self.key}] {msg}")

    def table(self, doc: Mapping[str, Any], name: str) -> dict[str, Any]:
        value = doc.get(name)
        if not isinstance(value, dict):
            raise self.fail(f"'{name}' must be a table")
        return value

    def text(self, table: Mapping[str, Any], name: str) -> str:
        value = table.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{name}' must be a non-empty string")
        return value

    def optional_text(self, table: Mapping[str, Any], name: str) -> str | None:
        return None if table.get(name) is None else self.text(table, name)

    def number(self, table: Mapping[str, Any], name: str) -> float:
        value = table.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"'{name}' must be a number")
        if not math.isfinite(value) or value <= 0:
            raise self.fail(f"'{name}' must be a positive finite number, not {value!r}")
        return float(value)

    def optional_number(self, table: Mapping[str, Any], name: str) -> float | None:
        return None if table.get(name) is None else self.number(table, name)

    def strings(self, table: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = table.get(name)
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(f"'{name}' must be a{'' if allow_empty else ' non-empty'} list of strings")
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"'{name}' must contain only non-empty strings")
        return tuple(value)


# --------------------------------------------------------------------------- algorithms.toml


def _parse_algorithms(
    path: Path, doc: Mapping[str, Any]
) -> tuple[dict[str, Algorithm], dict[str, Coin], dict[str, str]]:
    top = _Ctx(path, "algorithms")
    raw_algos = top.table(doc, "algorithms")
    raw_coins = _Ctx(path, "coins").table(doc, "coins")

    coin_info: dict[str, Coin] = {}
    for ticker, entry in raw_coins.items():
        ctx = _Ctx(path, f"coins.{ticker}")
        if not _TICKER.match(ticker):
            raise ctx.fail("coin ticker must be 2-10 upper-case letters or digits")
        if not isinstance(entry, dict):
            raise ctx.fail("must be a table")
        algo = ctx.text(entry, "algorithm")
        if algo not in raw_algos:
            raise ctx.fail(f"unknown algorithm '{algo}' (not in [algorithms])")
        coin_info[ticker] = Coin(
            ticker, ctx.text(entry, "name"), algo,
            ctx.optional_text(entry, "note"), ctx.optional_text(entry, "source"),
        )

    algorithms: dict[str, Algorithm] = {}
    aliases: dict[str, str] = {}
    for name, entry in raw_algos.items():
        ctx = _Ctx(path, f"algorithms.{name}")
        if not isinstance(entry, dict):
            raise ctx.fail("must be a table")
        unit = ctx.text(entry, "unit")
        if unit not in ("H/s", "Sol/s"):
            raise ctx.fail(f"'unit' must be \"H/s\" or \"Sol/s\", not {unit!r}")
        encoding = ctx.text(entry, "target_encoding")
        if encoding not in TARGET_ENCODINGS:
            raise ctx.fail(f"'target_encoding' must be one of {sorted(TARGET_ENCODINGS)}, not {encoding!r}")
        diff1 = _parse_target(ctx, entry.get("diff1_target"))
        names = (name, *ctx.strings(entry, "aliases", allow_empty=True))
        for alias in names:
            key = alias.strip().lower()
            if aliases.get(key, name) != name:
                raise ctx.fail(f"alias '{alias}' is already used by algorithm '{aliases[key]}'")
            aliases[key] = name
        algorithms[name] = Algorithm(
            name=name,
            unit=unit,
            work_per_difficulty=ctx.optional_number(entry, "work_per_difficulty"),
            diff1_target=diff1,
            target_encoding=encoding,
            aliases=tuple(dict.fromkeys(a.strip().lower() for a in names[1:])),
            coins=tuple(t for t, c in coin_info.items() if c.algorithm == name),
            convention=ctx.text(entry, "convention"),
            sources=ctx.strings(entry, "sources"),
        )
    if not algorithms:
        raise top.fail("no algorithms defined")
    return algorithms, coin_info, aliases


def _parse_target(ctx: _Ctx, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", value):
        raise ctx.fail("'diff1_target' must be a 0x-prefixed hex string of at most 64 digits")
    target = int(value, 16)
    if target == 0:
        raise ctx.fail("'diff1_target' must not be zero")
    return target


# --------------------------------------------------------------------------- hardware.toml


def _parse_hardware(
    path: Path, doc: Mapping[str, Any], algorithms: Mapping[str, Algorithm]
) -> tuple[dict[str, EfficiencyProfile], float, str]:
    pue_ctx = _Ctx(path, "pue")
    pue_table = pue_ctx.table(doc, "pue")
    pue = pue_ctx.number(pue_table, "default")
    if not 1.0 <= pue <= 3.0:
        raise pue_ctx.fail(f"'default' PUE must be between 1.0 and 3.0, not {pue}")
    pue_source = pue_ctx.text(pue_table, "source")

    profiles: dict[str, EfficiencyProfile] = {}
    for algo, entry in _Ctx(path, "hardware").table(doc, "hardware").items():
        ctx = _Ctx(path, f"hardware.{algo}")
        if algo not in algorithms:
            raise ctx.fail(f"unknown algorithm '{algo}' (not in algorithms.toml)")
        if not isinstance(entry, dict):
            raise ctx.fail("must be a table")
        unit = ctx.text(entry, "unit")
        if unit not in EFFICIENCY_UNITS:
            raise ctx.fail(f"'unit' must be one of {sorted(EFFICIENCY_UNITS)}, not {unit!r}")
        rate_unit, factor = EFFICIENCY_UNITS[unit]
        if rate_unit != algorithms[algo].unit:
            raise ctx.fail(f"unit {unit} does not fit an algorithm measured in {algorithms[algo].unit}")
        points = []
        for bound in ("low", "best", "high"):
            pctx = _Ctx(path, f"hardware.{algo}.{bound}")
            point = entry.get(bound)
            if not isinstance(point, dict):
                raise pctx.fail("must be a table with value, model and source")
            value = pctx.number(point, "value")
            points.append(EfficiencyPoint(
                value, unit, value * factor, pctx.text(point, "model"), pctx.text(point, "source"),
            ))
        low, best, high = points
        if not low.value <= best.value <= high.value:
            raise ctx.fail(f"bounds must satisfy low <= best <= high, got {low.value}, {best.value}, {high.value}")
        profiles[algo] = EfficiencyProfile(algo, unit, low, best, high)
    return profiles, pue, pue_source


# --------------------------------------------------------------------------- pools.toml


def _parse_pools(path: Path, doc: Mapping[str, Any]) -> tuple[tuple[Pool, ...], dict[str, Pool]]:
    entries = doc.get("pool")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path}: [[pool]] must be a non-empty array of tables")
    pools: list[Pool] = []
    index: dict[str, Pool] = {}
    for i, entry in enumerate(entries):
        label = entry.get("name") if isinstance(entry, dict) else None
        ctx = _Ctx(path, f"pool #{i + 1}" + (f" '{label}'" if isinstance(label, str) else ""))
        if not isinstance(entry, dict):
            raise ctx.fail("must be a table")
        domains = ctx.strings(entry, "domains")
        for domain in domains:
            if domain != domain.lower() or not _DOMAIN.match(domain):
                raise ctx.fail(f"invalid domain suffix {domain!r} (lower-case DNS name expected)")
        ports = entry.get("ports", [])
        if not isinstance(ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
        ):
            raise ctx.fail("'ports' must be a list of integers 1-65535")
        browser = entry.get("browser", False)
        if not isinstance(browser, bool):
            raise ctx.fail("'browser' must be true or false")
        coins = ctx.strings(entry, "coins", allow_empty=True)
        for coin in coins:
            if not _TICKER.match(coin):
                raise ctx.fail(f"coin {coin!r} must be an upper-case ticker")
        pool = Pool(
            name=ctx.text(entry, "name"),
            operator=ctx.text(entry, "operator"),
            domains=domains,
            coins=coins,
            ports=tuple(ports),
            browser=browser,
            sources=ctx.strings(entry, "sources"),
            note=ctx.optional_text(entry, "note"),
        )
        for domain in domains:
            if domain in index:
                raise ctx.fail(f"domain {domain!r} is already listed for '{index[domain].name}'")
            index[domain] = pool
        pools.append(pool)
    return tuple(pools), index
