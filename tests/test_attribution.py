"""Tests for detector.attribution: prefix map, categories, registries, ASN databases, Attributor.

The ASN tests need real .mmdb files. ``MmdbWriter`` below writes them following the MaxMind DB
format spec (https://maxmind.github.io/MaxMind-DB/): a binary search tree of 24/28/32-bit
records, a 16-byte zero separator, the data section, then "\\xab\\xcd\\xefMaxMind.com" and the
metadata map. Its output is read back through ``maxminddb`` both with the C extension
(libmaxminddb, which checks metadata types) and with the pure-Python reader.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
import pytest

from detector.attribution import (
    ASN_UNMATCHED_CONFIDENCE,
    CURATED_CONFIDENCE,
    REGISTRY_CONFIDENCE,
    AsnDatabase,
    Attributor,
    load_asn_rules,
    load_categories,
    load_registry,
)
from detector.attribution.asn import extract_asn
from detector.attribution.prefix import HostBitsError, PrefixMap, parse_cidr
from detector.attribution.registry import merge_registries
from detector.errors import InputError, RegistryError, UnreadableInputError

PUBLIC = {"government", "education", "research", "soe", "healthcare"}


# -- a small MaxMind DB writer -----------------------------------------------------------------


class U16(int):
    """Encode as uint16 (metadata fields are typed; libmaxminddb checks)."""


class U32(int):
    """Encode as uint32."""


class U64(int):
    """Encode as uint64."""


def _control(type_num: int, size: int) -> bytes:
    if size < 29:
        bits, tail = size, b""
    elif size < 29 + 256:
        bits, tail = 29, bytes([size - 29])
    elif size < 285 + 65536:
        bits, tail = 30, (size - 285).to_bytes(2, "big")
    else:
        bits, tail = 31, (size - 65821).to_bytes(3, "big")
    if type_num <= 7:
        return bytes([(type_num << 5) | bits]) + tail
    return bytes([bits, type_num - 7]) + tail  # extended type: type byte, then size bytes


def _uint(type_num: int, value: int) -> bytes:
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _control(type_num, len(payload)) + payload


def encode(value: Any) -> bytes:
    """One value in the MaxMind DB data-section encoding."""
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, U16):
        return _uint(5, value)
    if isinstance(value, U64):
        return _uint(9, value)
    if isinstance(value, int):  # U32 and plain ints
        return _uint(6, value)
    if isinstance(value, float):
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _control(2, len(data)) + data
    if isinstance(value, bytes):
        return _control(4, len(value)) + value
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(type(value))


class MmdbWriter:
    """Writes a MaxMind DB from (cidr, record) pairs; more specific networks may nest in others."""

    def __init__(self, ip_version: int, record_size: int, database_type: str) -> None:
        self.ip_version, self.record_size, self.database_type = ip_version, record_size, database_type
        self.networks: list[tuple[int, int, dict[str, Any]]] = []  # (bits as int, length, record)

    def insert(self, cidr: str, record: dict[str, Any]) -> None:
        net = ipaddress.ip_network(cidr)
        length, value = net.prefixlen, int(net.network_address)
        if self.ip_version == 6 and net.version == 4:
            length += 96  # IPv4 lives under ::/96
        self.networks.append((value, length, record))

    def build(self) -> bytes:
        tree_bits = 128 if self.ip_version == 6 else 32
        data = bytearray()
        offsets: dict[int, int] = {}
        nodes: list[list[Any]] = [[None, None]]  # child: None, ("node", i) or ("data", offset)
        for value, length, record in sorted(self.networks, key=lambda n: n[1]):
            if id(record) not in offsets:
                offsets[id(record)] = len(data)
                data += encode(record)
            leaf = ("data", offsets[id(record)])
            node = 0
            for depth in range(length):
                bit = (value >> (tree_bits - 1 - depth)) & 1
                if depth == length - 1:
                    nodes[node][bit] = leaf
                    break
                child = nodes[node][bit]
                if child is None or child[0] == "data":
                    nodes.append([child, child])  # push a shorter prefix's data down
                    child = ("node", len(nodes) - 1)
                    nodes[node][bit] = child
                node = child[1]
        count = len(nodes)

        def number(child: Any) -> int:
            if child is None:
                return count
            return child[1] if child[0] == "node" else count + 16 + child[1]

        tree = bytearray()
        for left, right in nodes:
            a, b = number(left), number(right)
            if self.record_size == 24:
                tree += a.to_bytes(3, "big") + b.to_bytes(3, "big")
            elif self.record_size == 28:
                tree += (a & 0xFFFFFF).to_bytes(3, "big") + bytes([((a >> 24) << 4) | (b >> 24)])
                tree += (b & 0xFFFFFF).to_bytes(3, "big")
            else:
                tree += a.to_bytes(4, "big") + b.to_bytes(4, "big")
        metadata = {
            "binary_format_major_version": U16(2),
            "binary_format_minor_version": U16(0),
            "build_epoch": U64(1_700_000_000),
            "database_type": self.database_type,
            "description": {"en": "minesweep test database"},
            "ip_version": U16(self.ip_version),
            "languages": ["en"],
            "node_count": U32(count),
            "record_size": U16(self.record_size),
        }
        return bytes(tree) + b"\x00" * 16 + bytes(data) + b"\xab\xcd\xefMaxMind.com" + encode(metadata)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.build())
        return path


# Example organisation names are the ones rules/asn_rules.toml cites.
CERNET = "China Education and Research Network Center"
ALIBABA = "Hangzhou Alibaba Advertising Co.,Ltd."
CHINANET = "CHINANET-BACKBONE"


def geolite_db(path: Path) -> Path:
    """GeoLite2-ASN schema, IPv6 tree with IPv4 under ::/96, 28-bit records."""
    w = MmdbWriter(6, 28, "GeoLite2-ASN")
    w.insert("58.192.0.0/11", {"autonomous_system_number": U32(4538), "autonomous_system_organization": CERNET})
    w.insert("58.200.0.0/16", {"autonomous_system_number": U32(37963), "autonomous_system_organization": ALIBABA})
    w.insert("202.96.0.0/12", {"autonomous_system_number": U32(4134), "autonomous_system_organization": CHINANET})
    w.insert("198.51.100.0/24", {"autonomous_system_number": U32(64500), "autonomous_system_organization": "XQZ"})
    w.insert("2001:da8::/32", {"autonomous_system_number": U32(23910), "autonomous_system_organization": "CERNET2"})
    return w.write(path / "GeoLite2-ASN.mmdb")


def ipinfo_db(path: Path) -> Path:
    """IPinfo Lite schema (asn as "AS…" text), IPv6 tree, 32-bit records."""
    w = MmdbWriter(6, 32, "ipinfo lite.mmdb")
    w.insert("8.8.8.0/24", {"network": "8.8.8.0/24", "country": "United States", "country_code": "US",
                            "continent": "North America", "continent_code": "NA", "asn": "AS15169",
                            "as_name": "Google LLC", "as_domain": "google.com"})
    w.insert("2001:4860::/32", {"country_code": "US", "asn": "AS15169", "as_name": "Google LLC",
                                "as_domain": "google.com"})
    return w.write(path / "ipinfo_lite.mmdb")


def dbip_db(path: Path) -> Path:
    """DB-IP ASN Lite schema (GeoLite2-compatible fields), IPv4-only tree, 24-bit records."""
    w = MmdbWriter(4, 24, "DBIP-ASN-Lite (compat=GeoLite2-ASN)")
    w.insert("128.101.0.0/16", {"autonomous_system_number": U32(217), "autonomous_system_organization": "University of Minnesota"})
    w.insert("128.101.101.0/24", {"autonomous_system_number": U32(57), "autonomous_system_organization": "University Hospital Example"})
    return w.write(path / "dbip-asn-lite.mmdb")


# -- categories --------------------------------------------------------------------------------


def test_categories_default_vocabulary_and_public_set() -> None:
    cats = load_categories()
    assert cats.names == ("government", "education", "research", "soe", "healthcare",
                          "enterprise", "residential", "hosting", "unknown")
    assert cats.public == PUBLIC
    assert all(c.description and c.source.strip() for c in cats.items)
    assert cats.get("soe").public_institution is True
    assert cats.is_public("hosting") is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        cats.items[0].name = "x"  # type: ignore[misc]


def test_categories_public_set_is_configurable() -> None:
    cats = load_categories(public=["education", "healthcare"])
    assert cats.public == {"education", "healthcare"}
    assert cats.get("government").public_institution is False
    assert cats.is_public("healthcare") is True


def test_categories_file_missing_or_too_large(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match=r"nope\.toml: no such file"):
        load_categories(tmp_path / "nope.toml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(RegistryError, match=r"big\.toml: larger than 1048576 bytes"):
        load_categories(big)
    assert load_categories(public="soe").public == {"soe"}


def test_categories_public_override_must_name_known_categories() -> None:
    with pytest.raises(RegistryError, match=r"public categories army are not in the vocabulary"):
        load_categories(public=["education", "army"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[category]]\nname = "x"\n', r"cats\.toml:1: category 'x': description must be a str"),
        ('[[category]]\nname = "Bad Name"\n', r"cats\.toml:1: name must be a lowercase identifier"),
        ('[[category]]\nname = "unknown"\ndescription = "d"\npublic_institution = "yes"\nsource = "s"\n',
         r"cats\.toml:1: category 'unknown': public_institution must be a bool"),
        ('[[category]]\nname = "a"\ndescription = "d"\npublic_institution = false\nsource = "s"\n',
         r"cats\.toml: the vocabulary must contain 'unknown'"),
        ("[[category]\n", r"cats\.toml: invalid TOML: .*line 1"),
        ("", r"cats\.toml: no \[\[category\]\] tables"),
    ],
)
def test_categories_malformed(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cats.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message):
        load_categories(path)


# -- prefix map --------------------------------------------------------------------------------

OVERLAPS = [
    ("0.0.0.0/0", "default"), ("10.0.0.0/8", "ten"), ("10.1.0.0/16", "ten-one"),
    ("10.1.2.0/24", "ten-one-two"), ("10.1.2.128/25", "upper-half"), ("10.1.2.200/32", "host"),
    ("255.255.255.255/32", "top"), ("::/0", "v6-default"), ("2001:db8::/32", "doc"),
    ("2001:db8:1::/48", "doc-1"), ("2001:db8:1::1/128", "doc-1-host"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", "v6-top"),
]


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("9.255.255.255", "default"), ("10.0.0.0", "ten"), ("10.0.255.255", "ten"),
        ("10.1.0.0", "ten-one"), ("10.1.1.255", "ten-one"), ("10.1.2.0", "ten-one-two"),
        ("10.1.2.127", "ten-one-two"), ("10.1.2.128", "upper-half"), ("10.1.2.199", "upper-half"),
        ("10.1.2.200", "host"), ("10.1.2.201", "upper-half"), ("10.1.2.255", "upper-half"),
        ("10.1.3.0", "ten-one"), ("10.2.0.0", "ten"), ("11.0.0.0", "default"),
        ("255.255.255.254", "default"), ("255.255.255.255", "top"), ("0.0.0.0", "default"),
        ("::ffff:10.1.2.200", "host"), ("::", "v6-default"), ("2001:db7:ffff::", "v6-default"),
        ("2001:db8::", "doc"), ("2001:db8:0:ffff::1", "doc"), ("2001:db8:1::", "doc-1"),
        ("2001:db8:1::1", "doc-1-host"), ("2001:db8:1::2", "doc-1"), ("2001:db8:2::", "doc"),
        ("2001:db9::", "v6-default"), ("fe80::1%eth0", "v6-default"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef", "v6-default"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0", "v6-top"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "v6-top"),
    ],
)
def test_prefix_map_longest_prefix_wins(ip: str, expected: str) -> None:
    pm = PrefixMap.build(OVERLAPS)
    assert pm.lookup(ip) == expected
    assert pm.lookup_many([ip, ip]) == [expected, expected]


def test_prefix_map_no_default_route_gives_none() -> None:
    pm = PrefixMap.build([("10.0.0.0/8", 1), ("2001:db8::/32", 2)])
    assert pm.lookup_many(["9.255.255.255", "10.255.255.255", "11.0.0.0", "2001:db8::1", "2001:db9::", "::"]) == [
        None, 1, None, 2, None, None]
    assert PrefixMap.build([]).lookup("1.2.3.4") is None
    assert PrefixMap.build([]).lookup_many(["1.2.3.4", "::1"]) == [None, None]


def test_prefix_map_identical_prefix_later_value_wins() -> None:
    pm = PrefixMap.build([("10.0.0.0/8", "first"), ("10.0.0.0/8", "second"), ("10.0.0.0/9", "x")])
    assert pm.lookup("10.200.0.1") == "second"
    assert len(pm) == 2


def test_prefix_map_ipv4_mapped_prefix_is_ipv4() -> None:
    pm = PrefixMap.build([("::ffff:192.0.2.0/120", "mapped")])
    assert pm.lookup("192.0.2.7") == "mapped"
    assert pm.lookup("::ffff:192.0.2.7") == "mapped"
    assert pm.interval_counts[1] == 1  # nothing stored on the IPv6 side


def test_prefix_map_batch_ipv4_ints() -> None:
    pm = PrefixMap.build(OVERLAPS)
    ints = np.array([int(ipaddress.ip_address(a)) for a in ("10.1.2.200", "10.1.2.129", "8.8.8.8")],
                    dtype=np.uint32)
    assert pm.lookup_ipv4_ints(ints) == ["host", "upper-half", "default"]
    assert pm.lookup_ipv4_ints(ints.astype(np.int64)) == ["host", "upper-half", "default"]
    assert [pm.values[i] for i in pm.index_ipv4(ints)] == ["host", "upper-half", "default"]
    with pytest.raises(ValueError, match="0..4294967295"):
        pm.index_ipv4(np.array([-1, 5], dtype=np.int64))
    assert PrefixMap.build([("10.0.0.0/8", 1)]).index_ipv4(np.array([1], np.uint32)).tolist() == [-1]


def _brute(nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int]], ip: str) -> int | None:
    addr = ipaddress.ip_address(ip)
    best, best_len = None, -1
    for net, value in nets:
        if net.version == addr.version and addr in net and net.prefixlen >= best_len:
            best, best_len = value, net.prefixlen
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefix_map_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    items: list[tuple[str, int]] = []
    for value in range(300):
        bits = rng.choice([32, 128])
        length = rng.randint(0, bits) if rng.random() < 0.2 else rng.randint(bits - 16, bits)
        base = rng.getrandbits(bits) & (((1 << 8) - 1) << (bits - 8) | rng.choice([0, (1 << (bits - 8)) - 1]))
        net = ipaddress.ip_network((base >> (bits - length) << (bits - length), length))
        items.append((str(net), value))
    pm = PrefixMap.build(items)
    nets = [(ipaddress.ip_network(c), v) for c, v in items]
    queries: list[str] = []
    for net, _ in nets[:120]:
        first, last = int(net.network_address), int(net.broadcast_address)
        top = (1 << net.max_prefixlen) - 1
        for n in {first, last, max(first - 1, 0), min(last + 1, top)}:
            queries.append(str(ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)))
    queries += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(100)]
    expected = [_brute(nets, q) for q in queries]
    assert [pm.lookup(q) for q in queries] == expected
    assert pm.lookup_many(queries) == expected


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0/33", r"prefix length 33 is over 32"),
        ("2001:db8::/129", r"prefix length 129 is over 128"),
        ("10.0.0/24", r"'10.0.0' is not an IP address"),
        ("10.0.0.0/ 8", r"prefix length ' 8' is not a number"),
        ("10.0.0.0/-1", r"prefix length '-1' is not a number"),
        ("10.0.0.0/٨", r"prefix length '٨' is not a number"),
        ("not-an-ip", r"'not-an-ip' is not an IP address"),
        ("", r"'' is not an IP address"),
        ("010.0.0.0/8", r"'010.0.0.0' is not an IP address"),
        ("x" * 500, r"is not an IP address"),
    ],
)
def test_parse_cidr_rejects(cidr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cidr(cidr)


def test_parse_cidr_host_bits_error_carries_the_network() -> None:
    with pytest.raises(HostBitsError, match=r"host bits set in '10\.1\.2\.3/16' \(the network is 10\.1\.0\.0/16\)") as info:
        parse_cidr("10.1.2.3/16")
    assert (info.value.version, info.value.prefix_len, info.value.cidr) == (4, 16, "10.1.0.0/16")
    assert parse_cidr("2001:db8::1") == (6, int(ipaddress.ip_address("2001:db8::1")), 128)
    assert parse_cidr("192.0.2.1") == (4, 0xC0000201, 32)


def test_prefix_map_build_and_lookup_errors() -> None:
    with pytest.raises(ValueError, match=r"item 2: bad CIDR '10\.0\.0\.0/40': prefix length 40 is over 32"):
        PrefixMap.build([("10.0.0.0/8", 1), ("10.0.0.0/40", 2)])
    with pytest.raises(ValueError, match=r"item 3: host bits set in '10\.0\.0\.1/24' \(the network is 10\.0\.0\.0/24\)"):
        PrefixMap.build([("10.0.0.0/8", 1), ("2001:db8::/32", 2), ("10.0.0.1/24", 3)])
    with pytest.raises(ValueError, match=r"item 2: host bits set in '2001:db8::1/32'"):
        PrefixMap.build([("10.0.0.0/8", 1), ("2001:db8::1/32", 2)])
    with pytest.raises(ValueError, match=r"item 2: a CIDR must be text, got NoneType"):
        PrefixMap.build([("10.0.0.0/8", 1), (None, 2)])  # type: ignore[list-item]
    pm = PrefixMap.build([("10.0.0.0/8", 1)])
    for bad in ("10.0.0.256", "1.2.3", "", "::1::2", "10.0.0.1 ", "x" * 10_000):
        with pytest.raises(ValueError, match="not an IP address"):
            pm.lookup(bad)
    with pytest.raises(ValueError, match="not an IP address"):
        pm.lookup_many(["10.0.0.1", "garbage"])


# -- registries --------------------------------------------------------------------------------

GOOD_REGISTRY = (
    "\ufeff# Units of the example province (comment)\r\n"
    "\r\n"
    "Unit,CIDR,Category,Region,Contact\r\n"
    "Example Bureau of Finance,10.20.0.0/16,government,Nanjing,ops@example.org\r\n"
    "  # indented comment, \"with a quote\r\n"
    '"Example University, Main Campus",2001:db8:100::/48,Education,,\r\n'
    "Example Hospital,192.0.2.7,healthcare,Suzhou,\r\n"
)


def _write(tmp_path: Path, text: str | bytes, name: str = "units.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def test_registry_loads_rows_with_extra_columns(tmp_path: Path) -> None:
    reg = load_registry(_write(tmp_path, GOOD_REGISTRY), load_categories())
    assert reg.label == "units.csv"
    assert [(e.cidr, e.unit, e.category, dict(e.extra), e.line) for e in reg.entries] == [
        ("10.20.0.0/16", "Example Bureau of Finance", "government", {"region": "Nanjing", "contact": "ops@example.org"}, 4),
        ("2001:db8:100::/48", "Example University, Main Campus", "education", {}, 6),
        ("192.0.2.7/32", "Example Hospital", "healthcare", {"region": "Suzhou"}, 7),
    ]
    assert reg.warnings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cidr,unit,category\n10.0.0.0/33,A,government\n", r"units\.csv:2: bad CIDR '10\.0\.0\.0/33': prefix length 33 is over 32"),
        ("cidr,unit,category\n# c\n10.0.0/8,A,government\n", r"units\.csv:3: bad CIDR '10\.0\.0/8': '10\.0\.0' is not an IP address"),
        ("cidr,unit,category\n10.0.0.0/8,A,army\n",
         r"units\.csv:2: unknown category 'army' \(allowed: government, education, research, soe, healthcare, enterprise, residential, hosting, unknown\)"),
        ("cidr,unit,category\n10.0.0.0/8,A\n", r"units\.csv:2: missing column 'category' \(row has 2 fields, header has 3\)"),
        ("cidr,unit,category\n10.0.0.0/8,A,government,x\n", r"units\.csv:2: row has 4 fields, header has 3"),
        ("cidr,unit,category\n\n10.1.2.3/16,A,government\n", r"units\.csv:3: host bits set in '10\.1\.2\.3/16' \(the network is 10\.1\.0\.0/16\)"),
        ("cidr,unit,category\n10.0.0.0/8,,government\n", r"units\.csv:2: empty unit"),
        ("cidr,unit,category\n,A,government\n", r"units\.csv:2: empty cidr"),
        ("cidr,unit\n10.0.0.0/8,A\n", r"units\.csv:1: header must name the columns cidr,unit,category \(missing category"),
        ("cidr;unit;category\n", r"units\.csv:1: header must name the columns .*found 'cidr;unit;category'"),
        ("cidr,unit,category,unit\n", r"units\.csv:1: header repeats the column unit"),
        ("cidr,unit,category,\n", r"units\.csv:1: header has an empty column name"),
        ("cidr,unit,category\n10.0.0.0/8,A,government\n10.0.0.0/8,B,government\n",
         r"units\.csv:3: 10\.0\.0\.0/8 is already on line 2 with other values \('A', government\)"),
        ('cidr,unit,category\n10.0.0.0/8,"A,government\n', r"units\.csv:2: not a CSV row"),
        ("cidr,unit,category\n10.0.0.0/8,A\x00,government\n", r"units\.csv:2: control character '\\x00' at column 13"),
        (b"cidr,unit,category\n10.0.0.0/8,\xff\xfe,government\n", r"units\.csv:2: not UTF-8 text \(byte 12 of the line\)"),
        ("# only a comment\n\n", r"units\.csv:1: empty registry, expected a header line cidr,unit,category"),
        ("", r"units\.csv:1: empty registry"),
        ("cidr,unit,category\n" + "x" * 70_000 + "\n", r"units\.csv:2: line longer than 65536 bytes"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"units\.csv:1: (not UTF-8|control character)"),
    ],
)
def test_registry_malformed_rows_name_file_and_line(tmp_path: Path, text: str | bytes, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(_write(tmp_path, text), load_categories())


def test_registry_allow_host_bits_normalises_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, "cidr,unit,category\n10.1.2.3/16,A,government\n2001:db8::1/32,B,education\n")
    reg = load_registry(path, load_categories(), allow_host_bits=True)
    assert [e.cidr for e in reg.entries] == ["10.1.0.0/16", "2001:db8::/32"]
    assert reg.warnings == (
        f"{path}:2: host bits set in '10.1.2.3/16', using 10.1.0.0/16",
        f"{path}:3: host bits set in '2001:db8::1/32', using 2001:db8::/32",
    )


def test_registry_identical_duplicate_is_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, "cidr,unit,category\n10.0.0.0/8,A,government\n10.0.0.0/8,A,Government\n")
    reg = load_registry(path, load_categories())
    assert len(reg.entries) == 1
    assert reg.warnings == (f"{path}:3: 10.0.0.0/8 repeats line 2",)


def test_registry_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match=r"nope\.csv: no such file"):
        load_registry(tmp_path / "nope.csv", load_categories())
    with pytest.raises(UnreadableInputError, match="is a directory"):
        load_registry(tmp_path, load_categories())


def test_later_registry_overrides_identical_prefix(tmp_path: Path) -> None:
    cats = load_categories()
    a = load_registry(_write(tmp_path, "cidr,unit,category\n10.0.0.0/8,Old Unit,enterprise\n10.9.0.0/16,Keep,soe\n", "a.csv"), cats)
    b = load_registry(_write(tmp_path, "cidr,unit,category\n10.0.0.0/8,New Unit,government\n", "b.csv"), cats)
    entries, notes = merge_registries([a, b])
    assert [(e.cidr, e.unit, e.source) for e in entries] == [("10.0.0.0/8", "New Unit", "b.csv"), ("10.9.0.0/16", "Keep", "a.csv")]
    assert notes == ["b.csv:2: 10.0.0.0/8 overrides a.csv:2 ('Old Unit' -> 'New Unit')"]
    with Attributor(cats, registries=[a, b]) as attributor:
        assert attributor.attribute("10.1.1.1").unit == "New Unit"
        assert attributor.attribute("10.9.1.1").unit == "Keep"
        assert attributor.notes == tuple(notes)


# -- ASN databases -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [maxminddb.MODE_MMAP_EXT, maxminddb.MODE_FILE])
def test_mmdb_writer_output_reads_back_through_maxminddb(tmp_path: Path, mode: int) -> None:
    geo, info, dbip = geolite_db(tmp_path), ipinfo_db(tmp_path), dbip_db(tmp_path)
    with maxminddb.open_database(str(geo), mode) as reader:
        assert reader.metadata().database_type == "GeoLite2-ASN"
        assert reader.metadata().record_size == 28
        assert reader.get("58.200.1.1") == {"autonomous_system_number": 37963, "autonomous_system_organization": ALIBABA}
        assert reader.get("58.201.1.1") == {"autonomous_system_number": 4538, "autonomous_system_organization": CERNET}
        assert reader.get("2001:da8:1::1") == {"autonomous_system_number": 23910, "autonomous_system_organization": "CERNET2"}
        assert reader.get("1.1.1.1") is None
        assert reader.get("2001:db8::1") is None
    with maxminddb.open_database(str(info), mode) as reader:
        assert reader.get("8.8.8.8")["asn"] == "AS15169"
        assert reader.get("2001:4860:4860::8888")["as_domain"] == "google.com"
    with maxminddb.open_database(str(dbip), mode) as reader:
        assert reader.metadata().ip_version == 4
        assert reader.get_with_prefix_len("128.101.101.101") == (
            {"autonomous_system_number": 57, "autonomous_system_organization": "University Hospital Example"}, 24)
        assert reader.get_with_prefix_len("128.101.1.1")[0]["autonomous_system_number"] == 217


def test_asn_database_reads_each_schema(tmp_path: Path) -> None:
    with AsnDatabase.open(geolite_db(tmp_path)) as geo:
        info = geo.lookup("58.192.32.1")
        # 58.200.0.0/16 is carved out of the /11, so the tree leaf (the network reported) is the /13
        assert (info.asn, info.org, info.network, dict(info.extra)) == (4538, CERNET, "58.192.0.0/13", {})
        v6 = geo.lookup("2001:da8::8")
        assert (v6.asn, v6.org, v6.network) == (23910, "CERNET2", "2001:da8::/32")
        assert geo.lookup("::ffff:58.200.3.4").asn == 37963
        assert geo.lookup("192.0.2.1") is None
    with AsnDatabase.open(ipinfo_db(tmp_path), label="ipinfo") as lite:
        info = lite.lookup("8.8.8.8")
        assert (info.asn, info.org, info.network) == (15169, "Google LLC", "8.8.8.0/24")
        assert dict(info.extra) == {"as_domain": "google.com", "country_code": "US"}
        assert lite.label == "ipinfo"
    with AsnDatabase.open(dbip_db(tmp_path)) as dbip:
        assert dbip.database_type == "DBIP-ASN-Lite (compat=GeoLite2-ASN)"
        assert (dbip.lookup("128.101.5.5").asn, dbip.lookup("128.101.5.5").network) == (217, "128.101.0.0/18")
        assert dbip.lookup("2001:db8::1") is None  # IPv6 in an IPv4-only database


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"autonomous_system_number": 4538, "autonomous_system_organization": CERNET}, (4538, CERNET, {})),
        ({"asn": "AS15169", "as_name": "Google LLC", "as_domain": "google.com", "country_code": "US"},
         (15169, "Google LLC", {"as_domain": "google.com", "country_code": "US"})),
        ({"asn": "as64500", "name": "Old IPinfo", "domain": "example.net"}, (64500, "Old IPinfo", {"as_domain": "example.net"})),
        ({"traits": {"autonomous_system_number": 3, "autonomous_system_organization": "MIT", "isp": "MIT"},
          "country": {"iso_code": "US"}}, (3, "MIT", {"isp": "MIT", "country_code": "US"})),
        ({"asn": "123", "as_name": "  Spaced  "}, (123, "Spaced", {})),
        ({"asn": 77}, (77, None, {})),
        ({"asn": "ASX1", "as_name": ""}, (None, None, {})),
        ({"asn": True, "as_name": 5}, (None, None, {})),
        ({"autonomous_system_number": -1}, (None, None, {})),
        ({"autonomous_system_number": 1 << 33}, (None, None, {})),
        (["not", "a", "map"], (None, None, {})),
        ({"city": {"names": {"en": "Nanjing"}}}, (None, None, {})),
    ],
)
def test_extract_asn_schemas_and_bad_values(record: object, expected: tuple[Any, ...]) -> None:
    assert extract_asn(record) == expected


def test_asn_database_rejects_bad_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(RegistryError, match=r"junk\.mmdb: not a MaxMind DB file"):
        AsnDatabase.open(junk)
    text = tmp_path / "text.mmdb"
    text.write_text("cidr,unit,category\n")
    with pytest.raises(RegistryError, match="not a MaxMind DB file"):
        AsnDatabase.open(text)
    whole = geolite_db(tmp_path).read_bytes()
    truncated = tmp_path / "truncated.mmdb"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(RegistryError, match=r"truncated\.mmdb: not a MaxMind DB file"):
        AsnDatabase.open(truncated)
    city = MmdbWriter(6, 24, "GeoLite2-City")
    city.insert("1.0.0.0/8", {"city": {"names": {"en": "X"}}})
    with pytest.raises(RegistryError, match=r"a GeoLite2-City database has no AS fields"):
        AsnDatabase.open(city.write(tmp_path / "city.mmdb"))
    with pytest.raises(UnreadableInputError, match="no such file"):
        AsnDatabase.open(tmp_path / "missing.mmdb")


def test_asn_database_corrupt_data_section_is_a_registry_error(tmp_path: Path) -> None:
    path = geolite_db(tmp_path)
    raw = bytearray(path.read_bytes())
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
        tree_size = meta.node_count * meta.record_size * 2 // 8
    # The first record written (2001:da8::/32, the shortest network) gets the control byte of a
    # "map of 65821 + 0xFFFFFF pairs", which runs past the end of the file.
    raw[tree_size + 16: tree_size + 20] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(raw))
    with AsnDatabase.open(path) as db:
        with pytest.raises(RegistryError, match=r"GeoLite2-ASN\.mmdb: corrupt MaxMind DB"):
            db.lookup("2001:da8::1")


# -- AS-name rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("org", "category"),
    [
        (CERNET, "education"),
        ("ERX-CERNET-BKB China Education and Research Network Center", "education"),
        ("CSTNET-AS-AP Computer Network Information Center of Chinese Academy of Sciences CNIC-CAS", "research"),
        ("University Hospital Zurich", "healthcare"),
        ("University of Minnesota", "education"),
        ("Technische Universität München", "education"),
        ("Ministry of Finance of the Example Republic", "government"),
        ("DoD Network Information Center", "government"),
        ("State Grid Corporation of China", "soe"),
        (ALIBABA, "hosting"),
        ("Shenzhen Tencent Computer Systems Company Limited", "hosting"),
        ("CHINANET NINGXIA province ZHONGWEI IDC network", "hosting"),
        ("Hetzner Online GmbH", "hosting"),
        (CHINANET, "residential"),
        ("CHINA UNICOM China169 Backbone", "residential"),
        ("China Mobile Communications Group Co., Ltd.", "residential"),
        ("Comcast Cable Communications, LLC", "residential"),
        ("Acme Widgets Ltd", "enterprise"),
        ("XQZ", None),
        ("", None),
    ],
)
def test_default_asn_rules(org: str, category: str | None) -> None:
    rules = load_asn_rules(categories=load_categories())
    rule = rules.classify(org)
    assert (rule.category if rule else None) == category


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("pattern = '(unclosed'\ncategory = \"education\"\nconfidence = 0.5\nwhy = \"w\"\n", r"rules\.toml:3: bad regular expression"),
        ("pattern = 'x'\ncategory = \"army\"\nconfidence = 0.5\nwhy = \"w\"\n", r"rules\.toml:3: unknown category 'army' \(allowed: government,"),
        ("pattern = 'x'\ncategory = \"education\"\nconfidence = 0.9\nwhy = \"w\"\n", r"rules\.toml:3: confidence must be a number in \(0, 0\.7\], got 0\.9"),
        ("pattern = 'x'\ncategory = \"education\"\nconfidence = 0.5\n", r"rules\.toml:3: every rule needs a 'why'"),
        ("pattern = 'x'\ncategory = \"education\"\nconfidence = 0.5\nwhy = \"w\"\nweight = 2\n", r"rules\.toml:3: unknown key weight"),
        ("pattern = ''\ncategory = \"education\"\nconfidence = 0.5\nwhy = \"w\"\n", r"rules\.toml:3: pattern must be a non-empty string"),
    ],
)
def test_asn_rules_malformed(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("# header\n\n[[rule]]\n" + body)
    with pytest.raises(RegistryError, match=message):
        load_asn_rules(path, categories=load_categories())


# -- Attributor --------------------------------------------------------------------------------


@pytest.fixture()
def attributor(tmp_path: Path) -> Any:
    cats = load_categories()
    user = load_registry(_write(tmp_path, (
        "cidr,unit,category,contact\n"
        "58.192.32.0/24,Example University Lab,education,lab@example.edu\n"
        "10.0.0.0/8,Example Group,enterprise,\n"
        "10.5.0.0/16,Example Group Finance,enterprise,\n"
        "2001:db8:100::/48,Example Bureau,government,\n"
    ), "units.csv"), cats)
    curated = load_registry(_write(tmp_path, (
        "cidr,unit,category\n"
        "58.192.0.0/16,Curated Campus Network,education\n"
        "10.5.5.0/24,Curated Would-Lose,research\n"
    ), "cernet.csv"), cats, label="curated/cernet.csv")
    geo = AsnDatabase.open(geolite_db(tmp_path))
    rules = load_asn_rules(categories=cats)
    with Attributor(cats, registries=[user], curated=[curated], asn_databases=[geo], asn_rules=rules) as a:
        yield a


def test_attributor_registry_wins_and_carries_asn(attributor: Attributor) -> None:
    got = attributor.attribute("58.192.32.9")
    assert got == dataclasses.replace(got, unit="Example University Lab", category="education",
                                      public_institution=True, source="registry:units.csv",
                                      confidence=REGISTRY_CONFIDENCE, network="58.192.32.0/24",
                                      evidence="units.csv:2", asn=4538, as_org=CERNET)
    assert dict(got.extra) == {"contact": "lab@example.edu"}


def test_attributor_curated_beats_asn_but_not_registry(attributor: Attributor) -> None:
    curated = attributor.attribute("58.192.33.1")
    assert (curated.unit, curated.source, curated.confidence, curated.evidence, curated.asn) == (
        "Curated Campus Network", "registry:curated/cernet.csv", CURATED_CONFIDENCE, "curated/cernet.csv:2", 4538)
    # A user registry /16 beats a more specific curated /24: tiers are absolute.
    user = attributor.attribute("10.5.5.5")
    assert (user.unit, user.category, user.public_institution, user.network) == (
        "Example Group Finance", "enterprise", False, "10.5.0.0/16")
    assert attributor.attribute("10.6.0.1").unit == "Example Group"


def test_attributor_asn_rules_when_no_registry_knows(attributor: Attributor) -> None:
    cernet = attributor.attribute("58.193.0.1")
    assert (cernet.unit, cernet.category, cernet.public_institution, cernet.source, cernet.confidence,
            cernet.network, cernet.asn) == (CERNET, "education", True, "asn:GeoLite2-ASN.mmdb", 0.7,
                                            "58.192.0.0/13", 4538)
    assert cernet.evidence.startswith("asn_rules.toml:")
    cloud = attributor.attribute("58.200.9.9")
    assert (cloud.category, cloud.public_institution, cloud.confidence, cloud.asn) == ("hosting", False, 0.6, 37963)
    home = attributor.attribute("202.96.1.1")
    assert (home.category, home.confidence) == ("residential", 0.3)


def test_attributor_asn_without_rule_and_unknown(attributor: Attributor) -> None:
    unmatched = attributor.attribute("198.51.100.7")
    assert (unmatched.unit, unmatched.category, unmatched.confidence, unmatched.asn, unmatched.evidence) == (
        "XQZ", "unknown", ASN_UNMATCHED_CONFIDENCE, 64500, "")
    nothing = attributor.attribute("192.0.2.1")
    assert nothing == dataclasses.replace(nothing, unit=None, category="unknown", public_institution=False,
                                          source="none", confidence=0.0, network=None, asn=None, as_org=None)
    assert attributor.attribute("2001:db9::1").confidence == 0.0


def test_attributor_ipv6(attributor: Attributor) -> None:
    bureau = attributor.attribute("2001:db8:100:1::5")
    assert (bureau.unit, bureau.category, bureau.public_institution, bureau.network) == (
        "Example Bureau", "government", True, "2001:db8:100::/48")
    cernet2 = attributor.attribute("2001:da8:5::1")
    assert (cernet2.unit, cernet2.category, cernet2.asn) == ("CERNET2", "education", 23910)


def test_attributor_batch_matches_single(attributor: Attributor) -> None:
    ips = ["58.192.32.9", "10.5.5.5", "58.193.0.1", "192.0.2.1", "2001:da8::1", "58.192.32.9", "::ffff:10.6.0.1"]
    assert attributor.attribute_many(ips) == [attributor.attribute(ip) for ip in ips]
    with pytest.raises(InputError, match=r"not an IP address: '10\.0\.0\.300'"):
        attributor.attribute_many(["10.0.0.1", "10.0.0.300"])
    with pytest.raises(InputError, match="not an IP address"):
        attributor.attribute("example.org")


def test_attributor_from_files_with_public_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "cidr,unit,category\n10.0.0.0/8,Example SOE,soe\n")
    with Attributor.from_files([path], public=["government"]) as a:
        got = a.attribute("10.1.2.3")
        assert (got.category, got.public_institution, got.source) == ("soe", False, "registry:units.csv")
    with Attributor.from_files([path], asn_databases=[dbip_db(tmp_path)], curated=[]) as a:
        hospital = a.attribute("128.101.101.1")
        assert (hospital.category, hospital.public_institution, hospital.asn) == ("healthcare", True, 57)
    with pytest.raises(RegistryError):
        Attributor.from_files([path], asn_databases=[path])


def test_mapping_fields_are_read_only(attributor: Attributor) -> None:
    got = attributor.attribute("58.192.32.9")
    assert isinstance(got.extra, Mapping)
    with pytest.raises(TypeError):
        got.extra["contact"] = "x"  # type: ignore[index]


def test_prefix_map_large_batch_uses_sorted_path_with_same_answers() -> None:
    rng = np.random.default_rng(5)
    items = [(f"{a}.{b}.0.0/16", a * 256 + b) for a, b in rng.integers(0, 256, size=(3000, 2)).tolist()]
    items += [(f"{a}.{b}.{c}.0/24", -1 - n) for n, (a, b, c) in enumerate(rng.integers(0, 256, size=(3000, 3)).tolist())]
    pm = PrefixMap.build(items)
    ints = rng.integers(0, 1 << 32, size=20_000, dtype=np.uint64).astype(np.uint32)
    ints[:3000] = [int(ipaddress.ip_network(c).network_address) + 7 for c, _ in items[3000:6000]]
    texts = [str(ipaddress.IPv4Address(int(x))) for x in ints]
    expected = [pm.lookup(t) for t in texts]
    assert sum(v is not None for v in expected) > 3000
    assert pm.lookup_ipv4_ints(ints) == expected
    assert pm.lookup_many(texts) == expected
