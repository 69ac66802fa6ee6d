"""ASN databases (.mmdb) and the AS-name rules that turn an AS organisation into a category.

Databases are MaxMind DB files read with the ``maxminddb`` package (its C extension when
installed). Three record schemas are understood, whichever the file is:

    GeoLite2-ASN / GeoIP2-ISP   {"autonomous_system_number": 4538,
                                 "autonomous_system_organization": "China Education and ..."}
                                 (MaxMind, https://dev.maxmind.com/geoip/docs/databases/asn/)
    DB-IP ASN Lite              the same two fields: its database_type is
                                 "DBIP-ASN-Lite (compat=GeoLite2-ASN)" (geoip2-golang reader.go
                                 treats it as GeoLite2-ASN); DB-IP's ISP/Location files nest them
                                 under "traits" (https://db-ip.com/db/format/ip-to-isp/mmdb.html),
                                 which is read too
    IPinfo Lite                 {"asn": "AS4538", "as_name": "...", "as_domain": "...",
                                 "country_code": "CN", ...} (IPinfo Lite schema); older IPinfo
                                 ASN files use "name"/"domain" for as_name/as_domain

An ``asn`` given as "AS123", "123" or 123 is accepted; anything else counts as unknown. Country,
domain, ISP and organisation fields, when present, are kept in ``AsnInfo.extra``.

AS-name rules come from ``rules/asn_rules.toml``: ordered regular expressions searched
case-insensitively in the organisation name; the first match gives a category and a confidence.

Errors: a missing file is ``UnreadableInputError``; a file that is not a MaxMind DB, is a
City/Country database without AS fields, or turns out corrupt during a lookup is
``RegistryError("<file>: ...")``; bad rules are ``RegistryError("<file>:<line>: ...")``.

Public API:
    AsnDatabase.open(path, *, label=None) -> AsnDatabase;  .lookup(ip) -> AsnInfo | None;
        .label, .database_type, .close() (also a context manager)
    extract_asn(record) -> tuple[int | None, str | None, dict[str, str]]
    load_asn_rules(path=None, *, categories) -> AsnRules;  AsnRules.classify(org) -> AsnRule | None
    AsnInfo, AsnRule, AsnRules, ASN_CONFIDENCE_CEILING
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from detector.attribution.prefix import format_cidr, parse_ip
from detector.attribution.registry import RULES_DIR, Categories, read_rules_toml, table_lines
from detector.errors import RegistryError, UnreadableInputError

__all__ = [
    "ASN_CONFIDENCE_CEILING",
    "AsnDatabase",
    "AsnInfo",
    "AsnRule",
    "AsnRules",
    "extract_asn",
    "load_asn_rules",
]

ASN_CONFIDENCE_CEILING = 0.7  # an AS name never outranks a curated list (0.85) or registry (0.95)
MAX_ORG_CHARS = 256
_ASN_TEXT = re.compile(r"(?:AS)?(\d{1,10})", re.IGNORECASE)
_EXTRA_FIELDS = (
    ("as_domain", "as_domain"), ("domain", "as_domain"), ("country_code", "country_code"),
    ("isp", "isp"), ("organization", "organization"), ("connection_type", "connection_type"),
)
def _corrupt() -> tuple[type[Exception], ...]:
    """What a corrupt database makes the reader raise. maxminddb is imported when a database is
    opened (a scan without --asn-db does not load it; the except clause asks only on an error)."""
    import maxminddb  # noqa: PLC0415

    return (maxminddb.InvalidDatabaseError, IndexError, KeyError, TypeError, struct.error,
            UnicodeDecodeError, OverflowError)


@dataclass(frozen=True, slots=True)
class AsnInfo:
    """What an ASN database says about one address."""

    asn: int | None            # AS number, None if the record has none or it is malformed
    org: str | None            # AS organisation name
    network: str               # the database's network containing the address, e.g. "1.2.3.0/24"
    extra: Mapping[str, str] = field(hash=False, default_factory=dict)  # as_domain, country_code, ...


def _as_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0xFFFFFFFF else None
    if isinstance(value, str):
        m = _ASN_TEXT.fullmatch(value.strip())
        if m and int(m.group(1)) <= 0xFFFFFFFF:
            return int(m.group(1))
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_ORG_CHARS]
    return None


def extract_asn(record: object) -> tuple[int | None, str | None, dict[str, str]]:
    """(AS number, organisation, extra fields) from a record of any supported schema."""
    if not isinstance(record, dict):
        return None, None, {}
    src: dict[str, Any] = record
    traits = record.get("traits")
    if "autonomous_system_number" not in record and isinstance(traits, dict):
        src = traits
    if "autonomous_system_number" in src or "autonomous_system_organization" in src:
        asn = _as_number(src.get("autonomous_system_number"))
        org = _text(src.get("autonomous_system_organization"))
    else:
        asn = _as_number(record.get("asn"))
        org = _text(record.get("as_name")) or _text(record.get("name"))
    extra: dict[str, str] = {}
    for key, name in _EXTRA_FIELDS:
        value = _text(src.get(key)) or _text(record.get(key))
        if value and name not in extra:
            extra[name] = value
    country = record.get("country")
    if "country_code" not in extra and isinstance(country, dict):
        code = _text(country.get("iso_code"))
        if code:
            extra["country_code"] = code
    return asn, org, extra


class AsnDatabase:
    """An open MaxMind-format ASN database."""

    __slots__ = ("_reader", "label", "path", "database_type", "_ip_version")

    def __init__(self, reader: Any, path: str, label: str) -> None:
        """Internal: use ``AsnDatabase.open``."""
        self._reader = reader
        self.path = path
        self.label = label
        meta = reader.metadata()
        self.database_type: str = str(meta.database_type)
        self._ip_version: int = int(meta.ip_version)

    @classmethod
    def open(cls, path: str | Path, *, label: str | None = None) -> AsnDatabase:
        """Open ``path``; ``label`` names it in attributions (default: the file name)."""
        p = Path(path)
        if not p.exists():
            raise UnreadableInputError(f"{p}: no such file")
        if p.is_dir():
            raise UnreadableInputError(f"{p}: is a directory, not a MaxMind DB file")
        import maxminddb  # noqa: PLC0415 - see _corrupt

        try:
            reader = maxminddb.open_database(str(p))
        except PermissionError as exc:
            raise UnreadableInputError(f"{p}: cannot read: {exc.strerror}") from None
        except Exception as exc:  # the reader raises several types for a bad file
            raise RegistryError(f"{p}: not a MaxMind DB file ({_short(exc)})") from None
        db = cls(reader, str(p), label if label is not None else p.name)
        kind = db.database_type.lower()
        if ("city" in kind or "country" in kind) and "asn" not in kind and "isp" not in kind:
            db.close()
            raise RegistryError(f"{p}: a {db.database_type} database has no AS fields; give an ASN database")
        return db

    def lookup(self, ip: str) -> AsnInfo | None:
        """AS data for ``ip``, or None when the database has none; ValueError if not an address."""
        version, packed = parse_ip(ip)
        if version == 6 and self._ip_version == 4:
            return None
        try:
            record, plen = self._reader.get_with_prefix_len(packed_to_str(version, packed))
        except _corrupt() as exc:
            raise RegistryError(f"{self.path}: corrupt MaxMind DB ({_short(exc)})") from None
        if record is None:
            return None
        asn, org, extra = extract_asn(record)
        if asn is None and org is None:
            return None
        net = int.from_bytes(packed, "big")
        bits = 32 if version == 4 else 128
        if version == 4 and plen > 32:
            # IPv4 lives under ::/96 of an IPv6 tree; a length beyond 32 counts from the v6 root
            plen = plen - 96 if plen >= 96 else 0
        network = format_cidr(version, net >> (bits - plen) << (bits - plen), plen)
        return AsnInfo(asn, org, network, MappingProxyType(extra))

    def close(self) -> None:
        """Release the file."""
        self._reader.close()

    def __enter__(self) -> AsnDatabase:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AsnDatabase({self.label!r}, {self.database_type!r})"


def packed_to_str(version: int, packed: bytes) -> str:
    """Text form of a packed address (what ``maxminddb`` takes)."""
    return socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, packed)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


# -- AS-name rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsnRule:
    """One ordered AS-name rule."""

    pattern: re.Pattern[str]  # searched case-insensitively in the AS organisation name
    category: str
    confidence: float          # 0 < c <= ASN_CONFIDENCE_CEILING
    why: str
    line: int                  # line of its [[rule]] table in the rules file


@dataclass(frozen=True, slots=True)
class AsnRules:
    """Ordered AS-name rules; the first match wins."""

    rules: tuple[AsnRule, ...]
    path: str = ""

    def classify(self, org: str | None) -> AsnRule | None:
        """The first rule matching ``org``, or None."""
        if not org:
            return None
        for rule in self.rules:
            if rule.pattern.search(org):
                return rule
        return None


def load_asn_rules(path: str | Path | None = None, *, categories: Categories) -> AsnRules:
    """Load ordered rules (default ``rules/asn_rules.toml``), checked against ``categories``."""
    path = Path(path) if path is not None else RULES_DIR / "asn_rules.toml"
    data, text = read_rules_toml(path)
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise RegistryError(f"{path}: 'rule' must be an array of [[rule]] tables")
    lines = table_lines(text, "rule")
    rules: list[AsnRule] = []
    for n, table in enumerate(tables):
        line = lines[n] if n < len(lines) else 0
        where = f"{path}:{line}" if line else f"{path}: rule #{n + 1}"
        if not isinstance(table, dict):
            raise RegistryError(f"{where}: [[rule]] must be a table")
        unknown = sorted(set(table) - {"pattern", "category", "confidence", "why"})
        if unknown:
            raise RegistryError(f"{where}: unknown key {', '.join(unknown)}")
        pattern, category, why = table.get("pattern"), table.get("category"), table.get("why")
        confidence = table.get("confidence")
        if not isinstance(pattern, str) or not pattern:
            raise RegistryError(f"{where}: pattern must be a non-empty string")
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise RegistryError(f"{where}: bad regular expression: {exc}") from None
        if category not in categories:
            raise RegistryError(
                f"{where}: unknown category {category!r} (allowed: {', '.join(categories.names)})"
            )
        if (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
                or not 0 < confidence <= ASN_CONFIDENCE_CEILING):
            raise RegistryError(
                f"{where}: confidence must be a number in (0, {ASN_CONFIDENCE_CEILING}], got {confidence!r}"
            )
        if not isinstance(why, str) or not why.strip():
            raise RegistryError(f"{where}: every rule needs a 'why'")
        rules.append(AsnRule(compiled, str(category), float(confidence), why, line))
    return AsnRules(tuple(rules), str(path))
