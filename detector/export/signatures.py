"""Load rules/signatures.toml and allocate sids for the generated per-domain and per-address rules.

Public API

``load_signatures(rules_dir=None) -> tuple[Signature, ...]``
    The protocol signatures, validated (unique ids and sids inside 1496000-1496999, a known
    dialect, a known direction and buffer, patterns that compile). Cached per directory; a bad
    file raises ``RegistryError`` naming the file and the signature.
``allocate_sids(names, base) -> dict[str, int]``
    ``base + CRC-32(name) mod 100000`` per name, names taken in sorted order, a collision taking
    the next free sid of the block (the allocation documented in rules/signatures.toml).
``pool_addresses(rules_dir=None) -> dict[str, tuple[str, ...]]``
    Pool name -> the IP addresses its ``[[pool]]`` lists under the optional ``addresses`` key of
    rules/pools.toml (none today; the exporters emit address rules as soon as some are added).
``python_regex(pattern) -> str``
    A pattern of the portable subset rewritten for Python's ``re`` ([[:space:]] -> \\s), which
    the tests use to check every pattern against real protocol lines.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from detector.errors import RegistryError
from detector.rules import POOLS_FILE, default_rules_dir, read_toml

__all__ = [
    "ADDRESS_SID_BASE",
    "DIALECTS",
    "DNS_SID_BASE",
    "PROTOCOL_SID_RANGE",
    "SIGNATURES_FILE",
    "SNI_SID_BASE",
    "Signature",
    "allocate_sids",
    "load_signatures",
    "pool_addresses",
    "python_regex",
]

SIGNATURES_FILE = "signatures.toml"
PROTOCOL_SID_RANGE = range(1_496_000, 1_497_000)
SNI_SID_BASE = 1_500_000
DNS_SID_BASE = 1_600_000
ADDRESS_SID_BASE = 1_700_000
BLOCK = 100_000
#: every dialect a session can be reported with (detector.dialects.DIALECTS keys)
DIALECTS = frozenset({"stratum", "ethstratum", "ethproxy", "monero", "gbt"})
DIRECTIONS = frozenset({"to_server", "to_client"})
BUFFERS = frozenset({"payload", "http.request_body", "http.header"})
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_PORTABLE = re.compile(r"""(?:\\[.+*?()\[\]|/\\]|\[\[:space:\]\]|[^\\\[\]])*\Z""")


@dataclass(frozen=True, slots=True)
class Signature:
    """One protocol signature of rules/signatures.toml."""

    id: str
    sid: int
    rev: int
    dialect: str
    method: str
    direction: str  #: "to_server" (miner -> pool) or "to_client"
    buffer: str  #: "payload", "http.request_body" or "http.header"
    content: tuple[str, ...]
    patterns: tuple[str, ...]
    nocase: bool
    msg: str
    reference: str


def python_regex(pattern: str) -> str:
    """The portable pattern in Python ``re`` syntax (an approximation of PCRE and Zeek)."""
    return pattern.replace("[[:space:]]", r"\s")


def load_signatures(rules_dir: Path | str | None = None) -> tuple[Signature, ...]:
    """The protocol signatures of ``rules_dir``/signatures.toml, validated; cached."""
    directory = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    return _load(str(directory.resolve()))


@functools.lru_cache(maxsize=8)
def _load(directory: str) -> tuple[Signature, ...]:
    path = Path(directory) / SIGNATURES_FILE
    doc = read_toml(path)
    entries = doc.get("signature")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path}: [[signature]] must be a non-empty array of tables")
    out: list[Signature] = []
    seen_ids: set[str] = set()
    seen_sids: set[int] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: [[signature]] #{i + 1}"
        sig = _signature(entry, where)
        if sig.id in seen_ids or sig.sid in seen_sids:
            raise RegistryError(f"{where}: duplicate id {sig.id!r} or sid {sig.sid}")
        seen_ids.add(sig.id)
        seen_sids.add(sig.sid)
        out.append(sig)
    return tuple(out)


def _text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{where}: '{key}' must be a non-empty string")
    return value


def _strings(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise RegistryError(f"{where}: '{key}' must be a non-empty list of strings")
    return tuple(value)


def _signature(entry: object, where: str) -> Signature:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: must be a table")
    sig_id = _text(entry, "id", where)
    where = f"{where} '{sig_id}'"
    if not _ID.match(sig_id):
        raise RegistryError(f"{where}: id must be lower-case letters, digits and '-'")
    sid, rev = entry.get("sid"), entry.get("rev")
    if not isinstance(sid, int) or isinstance(sid, bool) or sid not in PROTOCOL_SID_RANGE:
        raise RegistryError(f"{where}: sid must be an integer in {PROTOCOL_SID_RANGE.start}-"
                            f"{PROTOCOL_SID_RANGE.stop - 1}")
    if not isinstance(rev, int) or isinstance(rev, bool) or rev < 1:
        raise RegistryError(f"{where}: rev must be a positive integer")
    dialect = _text(entry, "dialect", where)
    direction = _text(entry, "direction", where)
    buffer = _text(entry, "buffer", where)
    for key, value, allowed in (("dialect", dialect, DIALECTS), ("direction", direction, DIRECTIONS),
                                ("buffer", buffer, BUFFERS)):
        if value not in allowed:
            raise RegistryError(f"{where}: {key} must be one of {sorted(allowed)}, not {value!r}")
    patterns = _strings(entry, "patterns", where)
    for pattern in patterns:
        if not _PORTABLE.match(pattern) or ";" in pattern:
            raise RegistryError(f"{where}: pattern {pattern!r} is outside the portable subset")
        try:
            re.compile(python_regex(pattern))
        except re.error as exc:
            raise RegistryError(f"{where}: pattern {pattern!r} does not compile: {exc}") from None
    content = _strings(entry, "content", where)
    if any(";" in c or "|" in c or "\\" in c for c in content):
        raise RegistryError(f"{where}: content must not contain ';', '|' or '\\'")
    nocase = entry.get("nocase", False)
    if not isinstance(nocase, bool):
        raise RegistryError(f"{where}: nocase must be true or false")
    msg = _text(entry, "msg", where)
    if '"' in msg or ";" in msg:
        raise RegistryError(f"{where}: msg must not contain '\"' or ';'")
    return Signature(sig_id, sid, rev, dialect, _text(entry, "method", where), direction, buffer,
                     content, patterns, nocase, msg, _text(entry, "reference", where))


def allocate_sids(names: Iterable[str], base: int) -> dict[str, int]:
    """Stable sids in ``base .. base + 99999`` (CRC-32 slot, linear probing in sorted order)."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    unique = sorted(set(names))
    if len(unique) > BLOCK:
        raise RegistryError(f"more than {BLOCK} names for the sid block starting at {base}")
    for name in unique:
        slot = zlib.crc32(name.encode("utf-8")) % BLOCK
        while base + slot in taken:
            slot = (slot + 1) % BLOCK
        taken.add(base + slot)
        out[name] = base + slot
    return out


def pool_addresses(rules_dir: Path | str | None = None) -> dict[str, tuple[str, ...]]:
    """Pool name -> addresses listed under the optional ``addresses`` key of pools.toml."""
    directory = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    path = directory / POOLS_FILE
    doc = read_toml(path)
    out: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(doc.get("pool") or []):
        if not isinstance(entry, dict) or "addresses" not in entry:
            continue
        where = f"{path}: [[pool]] #{i + 1}"
        values = _strings(entry, "addresses", where)
        for value in values:
            try:
                ipaddress.ip_network(value, strict=True)
            except ValueError:
                raise RegistryError(f"{where}: {value!r} is not an IP address or network") from None
        out[str(entry.get("name", f"pool #{i + 1}"))] = values
    return out
