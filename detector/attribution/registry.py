"""Category vocabulary and CSV address registries (who owns which address blocks).

Categories come from ``rules/categories.toml`` (see that file for the vocabulary and its sources).
Registries are CSV files an auditor keeps of the blocks each unit owns:

    # comment lines and blank lines are ignored; a UTF-8 byte-order mark is tolerated
    cidr,unit,category,region,contact
    10.20.0.0/16,Example Provincial Bureau of Finance,government,Nanjing,ops@example.org
    2001:db8:100::/48,Example University,education,,

* Required columns ``cidr``, ``unit``, ``category`` (header names case-insensitive, any order);
  any further columns are kept per row in ``extra`` (empty cells are left out).
* ``cidr`` is an IPv4 or IPv6 prefix or a bare address (a /32 or /128).
* ``category`` must be one of the vocabulary (case-insensitive); ``unit`` must not be empty.
* Host bits: ``10.1.2.3/16`` is rejected by default, because an inventory typo that widens a
  block would silently attribute a whole /16 to the wrong unit. ``allow_host_bits=True``
  accepts it as the enclosing network (10.1.0.0/16) and records a warning naming the line.
* The same prefix twice in one file: identical rows give a warning, conflicting rows (other
  unit or category) are an error naming both lines. Across files the later file wins; the
  override is recorded as a note by ``merge_registries``.
* Every problem is a ``RegistryError("<file>:<line>: <what is wrong>")``; a missing file is an
  ``UnreadableInputError``. Lines are read as bytes with a length cap, so garbage input cannot
  exhaust memory.

Public API:
    load_categories(path=None, *, public=None) -> Categories
    load_registry(path, categories, *, label=None, allow_host_bits=False) -> Registry
    merge_registries(registries) -> tuple[list[RegistryEntry], list[str]]
    Category, Categories, RegistryEntry, Registry, RULES_DIR
"""

from __future__ import annotations

import csv
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from detector.attribution.prefix import HostBitsError, format_cidr, parse_cidr
from detector.errors import RegistryError, UnreadableInputError

__all__ = [
    "RULES_DIR",
    "Categories",
    "Category",
    "Registry",
    "RegistryEntry",
    "load_categories",
    "load_registry",
    "merge_registries",
]

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
MAX_LINE_BYTES = 64 * 1024
MAX_RULES_FILE_BYTES = 1024 * 1024
REQUIRED_COLUMNS = ("cidr", "unit", "category")
_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- categories ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    """One category of unit."""

    name: str                 # value used in registries and rules, e.g. "education"
    description: str          # what belongs in it
    public_institution: bool  # effective flag (the file's default unless overridden at load)
    source: str               # where the category and its default come from


@dataclass(frozen=True, slots=True)
class Categories:
    """The category vocabulary, in file order, and the set counted as public institutions."""

    items: tuple[Category, ...]
    public: frozenset[str]

    @property
    def names(self) -> tuple[str, ...]:
        """Category names in file order."""
        return tuple(c.name for c in self.items)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.items)

    def get(self, name: str) -> Category:
        """The category called ``name``; KeyError if there is none."""
        for c in self.items:
            if c.name == name:
                return c
        raise KeyError(name)

    def is_public(self, name: str) -> bool:
        """True when units of category ``name`` count as public institutions."""
        return name in self.public


def read_rules_toml(path: Path) -> tuple[dict[str, object], str]:
    """Parse a small TOML rules file; errors become RegistryError / UnreadableInputError."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RULES_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UnreadableInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_RULES_FILE_BYTES:
        raise RegistryError(f"{path}: larger than {MAX_RULES_FILE_BYTES} bytes, not a rules file")
    try:
        text = raw.decode("utf-8-sig")
        return tomllib.loads(text), text
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: invalid TOML: {exc}") from None


def table_lines(text: str, header: str) -> list[int]:
    """1-based line numbers of each ``[[header]]`` table, to name lines in error messages."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == f"[[{header}]]"]


def load_categories(path: str | Path | None = None, *, public: Iterable[str] | None = None) -> Categories:
    """Load the vocabulary (default ``rules/categories.toml``).

    ``public`` replaces the file's public-institution defaults with the given names.
    """
    path = Path(path) if path is not None else RULES_DIR / "categories.toml"
    data, text = read_rules_toml(path)
    tables = data.get("category")
    if not isinstance(tables, list) or not tables:
        raise RegistryError(f"{path}: no [[category]] tables")
    lines = table_lines(text, "category")
    items: list[Category] = []
    for n, table in enumerate(tables):
        where = f"{path}:{lines[n]}" if n < len(lines) else f"{path}: category #{n + 1}"
        if not isinstance(table, dict):
            raise RegistryError(f"{where}: [[category]] must be a table")
        name = table.get("name")
        if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
            raise RegistryError(f"{where}: name must be a lowercase identifier, got {name!r}")
        if any(c.name == name for c in items):
            raise RegistryError(f"{where}: category {name!r} defined twice")
        for key, kind in (("description", str), ("public_institution", bool), ("source", str)):
            if not isinstance(table.get(key), kind):
                raise RegistryError(f"{where}: category {name!r}: {key} must be a {kind.__name__}")
        items.append(Category(name, table["description"], table["public_institution"], table["source"]))
    names = {c.name for c in items}
    if "unknown" not in names:
        raise RegistryError(f"{path}: the vocabulary must contain 'unknown'")
    if public is None:
        chosen = frozenset(c.name for c in items if c.public_institution)
    else:
        chosen = frozenset([public] if isinstance(public, str) else public)
        stray = sorted(chosen - names)
        if stray:
            raise RegistryError(
                f"{path}: public categories {', '.join(stray)} are not in the vocabulary "
                f"({', '.join(c.name for c in items)})"
            )
        items = [Category(c.name, c.description, c.name in chosen, c.source) for c in items]
    return Categories(tuple(items), chosen)


# -- registries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One row of a registry: a prefix and the unit that owns it."""

    cidr: str                  # normalised prefix, e.g. "10.20.0.0/16", "2001:db8::/32"
    unit: str                  # the owning unit (organisation)
    category: str              # one of the vocabulary
    extra: Mapping[str, str] = field(hash=False)  # further non-empty columns, e.g. region, contact
    source: str = ""           # label of the file, e.g. "units.csv" or "curated/cernet.csv"
    line: int = 0              # 1-based line in that file


@dataclass(frozen=True, slots=True)
class Registry:
    """A loaded registry file."""

    path: str
    label: str
    entries: tuple[RegistryEntry, ...]
    warnings: tuple[str, ...]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without line end) of a UTF-8 file, bounded per line."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise UnreadableInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnreadableInputError(f"{path}: is a directory, not a registry file") from None
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with f:
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise RegistryError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RegistryError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
            yield number, text.rstrip("\r\n")


def _fields(path: Path, number: int, text: str) -> list[str]:
    bad = _CONTROL.search(text)
    if bad:
        raise RegistryError(f"{path}:{number}: control character {bad.group()!r} at column {bad.start() + 1}")
    if '"' not in text:  # without quotes, CSV is a plain split
        return [cell.strip() for cell in text.split(",")]
    try:
        return [cell.strip() for cell in next(csv.reader((text,), strict=True))]
    except csv.Error as exc:
        raise RegistryError(f"{path}:{number}: not a CSV row: {exc}") from None


def _header(path: Path, number: int, text: str) -> list[str]:
    names = [name.lower() for name in _fields(path, number, text)]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise RegistryError(
            f"{path}:{number}: header must name the columns {','.join(REQUIRED_COLUMNS)} "
            f"(missing {', '.join(missing)}; found {text[:80]!r})"
        )
    if "" in names:
        raise RegistryError(f"{path}:{number}: header has an empty column name")
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        raise RegistryError(f"{path}:{number}: header repeats the column {', '.join(dupes)}")
    return names


def load_registry(
    path: str | Path,
    categories: Categories,
    *,
    label: str | None = None,
    allow_host_bits: bool = False,
) -> Registry:
    """Load one registry CSV (format in the module docstring).

    ``label`` names the file in attributions (default: the file name).
    """
    path = Path(path)
    label = label if label is not None else path.name
    allowed = categories.names
    entries: list[RegistryEntry] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    extras: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
    header: list[str] | None = None
    col_cidr = col_unit = col_cat = 0
    for number, text in _lines(path):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if header is None:
            header = _header(path, number, text)
            col_cidr, col_unit, col_cat = (header.index(c) for c in REQUIRED_COLUMNS)
            continue
        cells = _fields(path, number, text)
        if len(cells) < len(header):
            raise RegistryError(
                f"{path}:{number}: missing column {header[len(cells)]!r} "
                f"(row has {len(cells)} fields, header has {len(header)})"
            )
        if len(cells) > len(header):
            raise RegistryError(f"{path}:{number}: row has {len(cells)} fields, header has {len(header)}")
        cidr_text, unit, category = cells[col_cidr], cells[col_unit], cells[col_cat].lower()
        if not cidr_text:
            raise RegistryError(f"{path}:{number}: empty cidr")
        try:
            version, net, plen = parse_cidr(cidr_text)
        except HostBitsError as exc:
            if not allow_host_bits:
                raise RegistryError(f"{path}:{number}: {exc}") from None
            version, net, plen = exc.version, exc.network, exc.prefix_len
            warnings.append(f"{path}:{number}: host bits set in {cidr_text!r}, using {exc.cidr}")
        except ValueError as exc:
            raise RegistryError(f"{path}:{number}: {exc}") from None
        if not unit:
            raise RegistryError(f"{path}:{number}: empty unit")
        if category not in allowed:
            raise RegistryError(
                f"{path}:{number}: unknown category {cells[col_cat][:40]!r} (allowed: {', '.join(allowed)})"
            )
        cidr = format_cidr(version, net, plen)
        key = tuple((name, cell) for name, cell in zip(header, cells) if cell and name not in REQUIRED_COLUMNS)
        extra = extras.setdefault(key, MappingProxyType(dict(key)))
        entry = RegistryEntry(cidr, sys.intern(unit), category, extra, label, number)
        previous = seen.get(cidr)
        if previous is not None:
            old = entries[previous]
            if (old.unit, old.category, dict(old.extra)) != (unit, category, dict(extra)):
                raise RegistryError(
                    f"{path}:{number}: {cidr} is already on line {old.line} with other values "
                    f"({old.unit!r}, {old.category}); one prefix, one owner"
                )
            warnings.append(f"{path}:{number}: {cidr} repeats line {old.line}")
            continue
        seen[cidr] = len(entries)
        entries.append(entry)
    if header is None:
        raise RegistryError(f"{path}:1: empty registry, expected a header line {','.join(REQUIRED_COLUMNS)}")
    return Registry(str(path), label, tuple(entries), tuple(warnings))


def merge_registries(registries: Sequence[Registry]) -> tuple[list[RegistryEntry], list[str]]:
    """Entries of several registries, later files overriding earlier ones for identical prefixes.

    Returns the surviving entries (first-seen order) and one note per override.
    """
    merged: dict[str, RegistryEntry] = {}
    notes: list[str] = []
    for registry in registries:
        for entry in registry.entries:
            old = merged.get(entry.cidr)
            if old is not None:
                notes.append(
                    f"{entry.source}:{entry.line}: {entry.cidr} overrides {old.source}:{old.line} "
                    f"({old.unit!r} -> {entry.unit!r})"
                )
            merged[entry.cidr] = entry
    return list(merged.values()), notes
