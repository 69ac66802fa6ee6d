"""Longest-prefix match over millions of IPv4 and IPv6 prefixes.

Design: flattened intervals, one table per address family.
    Prefixes form a laminar family (two prefixes are either disjoint or one contains the other),
    so the address space cut at every prefix start and every prefix end is a sorted list of
    *elementary intervals*, each owned by exactly one prefix: the longest one that covers it (or
    none). ``build`` computes those intervals once, with numpy and no per-prefix Python work
    beyond parsing, and merges neighbours with the same owner. A lookup is then one binary search
    over the interval starts: ``owner[searchsorted(starts, ip, "right") - 1]``.

    Why not a (level-compressed) trie: a trie in Python is a pointer chase per bit or per level,
    costly to build for a million prefixes and impossible to vectorise; the interval table is two
    flat arrays (about 16 bytes per prefix for IPv4), builds with sorts and cumulative sums, and
    answers a numpy batch of addresses with a single ``searchsorted``. Updates need a rebuild,
    which suits registries and ASN tables loaded once at start-up.

    numpy is imported when the first table is built (``PrefixMap.build``), not with this module:
    the address parsers below are pure Python, and a scan without a registry or an ASN database
    never loads numpy.

    IPv4 interval starts are ``uint32``; IPv6 starts are 16-byte big-endian strings (numpy ``S16``),
    whose byte-wise ordering is numeric ordering, so the same sort/search code serves both.

Semantics:
    * Overlapping prefixes resolve by longest prefix; an identical prefix given twice keeps the
      *later* value (this is how later registry files override earlier ones).
    * A CIDR must not have host bits set (``10.0.0.1/24`` is rejected); a bare address is a
      /32 or /128. IPv4-mapped IPv6 prefixes (``::ffff:a.b.c.d/96+n``) are stored as IPv4, and
      IPv4-mapped addresses are looked up as IPv4, so both spellings of an address agree.
    * An IPv6 zone index (``fe80::1%eth0``) is ignored on lookup.

Public API:
    parse_cidr(text) -> (version, network_int, prefix_len)   raises ValueError saying what is wrong
                                            (HostBitsError, a ValueError, for host bits set)
    parse_ip(text) -> (version, packed bytes);  format_cidr(version, network_int, prefix_len) -> str
    PrefixMap.build(items)               items: iterable of (cidr string, value)
    PrefixMap.lookup(ip) -> value | None;  PrefixMap.lookup_packed(version, packed) -> value | None
    PrefixMap.lookup_many(ips) -> list[value | None]
    PrefixMap.index_ipv4(ints) -> np.ndarray[int32]   value index per address, -1 for no match
    PrefixMap.lookup_ipv4_ints(ints) -> list[value | None]
    PrefixMap.values, len(map), map.interval_counts
Invalid addresses and CIDRs raise ``ValueError``; callers facing user input turn that into an
``InputError`` (see ``detector.attribution``).
"""

from __future__ import annotations

import bisect
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["HostBitsError", "PrefixMap", "format_cidr", "parse_cidr", "parse_ip"]

V = TypeVar("V")

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
# numpy dtypes by name (numpy is imported lazily, see the module docstring)
_V6_DTYPE = "S16"  # IPv6 interval starts: 16-byte big-endian strings
_V4_DTYPE = "uint32"  # IPv4 interval starts
_BE_U32 = ">u4"  # packed IPv4 addresses as they come from inet_pton
_SHOW = 60  # characters of a bad input quoted in an error message
_SORT_BATCH = 4096  # from this many IPv4 queries on, sort them first (see index_ipv4)


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOW else text[:_SHOW] + "...")


def parse_ip(text: str) -> tuple[int, bytes]:
    """Parse one address into (version, packed big-endian bytes); IPv4-mapped IPv6 becomes IPv4.

    Raises ValueError for anything that is not a plain IPv4 / IPv6 address.
    """
    try:
        if ":" not in text:
            return 4, _inet_pton(_AF_INET, text)
        packed = _inet_pton(_AF_INET6, text.split("%", 1)[0])
    except (OSError, ValueError, TypeError):
        raise ValueError(f"not an IP address: {_show(str(text))}") from None
    if packed[:12] == _MAPPED_PREFIX:
        return 4, packed[12:]
    return 6, packed


def parse_cidr(text: str) -> tuple[int, int, int]:
    """Parse ``addr/len`` (or a bare address) into (version, network as int, prefix length).

    Raises ValueError naming what is wrong: not an address, bad prefix length, host bits set.
    """
    addr, slash, length = text.partition("/")
    try:
        version, packed = parse_ip(addr)
    except ValueError:
        raise ValueError(f"bad CIDR {_show(text)}: {_show(addr)} is not an IP address") from None
    bits = 32 if version == 4 else 128
    mapped = version == 4 and ":" in addr
    if not slash:
        plen = bits
    elif not (length.isascii() and length.isdigit()) or len(length) > 3:
        raise ValueError(f"bad CIDR {_show(text)}: prefix length {_show(length)} is not a number")
    else:
        plen = int(length)
        if mapped:
            if plen < 96:
                # ::ffff:0:0/80 and the like: keep it an IPv6 prefix, looked up as such.
                version, packed, bits = 6, _MAPPED_PREFIX + packed, 128
            else:
                plen -= 96
        if plen > bits:
            raise ValueError(
                f"bad CIDR {_show(text)}: prefix length {length} is over {128 if mapped else bits}"
            )
    net = int.from_bytes(packed, "big")
    host = (1 << (bits - plen)) - 1
    if net & host:
        raise HostBitsError(text, version, net & ~host, plen)
    return version, net, plen


class HostBitsError(ValueError):
    """A CIDR has host bits set; carries the enclosing network for callers that accept it."""

    def __init__(self, text: str, version: int, network: int, prefix_len: int) -> None:
        self.version, self.network, self.prefix_len = version, network, prefix_len
        self.cidr = format_cidr(version, network, prefix_len)
        super().__init__(f"host bits set in {_show(text)} (the network is {self.cidr})")


def format_cidr(version: int, net: int, plen: int) -> str:
    """Canonical text of a prefix, e.g. ``10.0.0.0/8``, ``2001:db8::/32``."""
    if version == 4:
        return f"{socket.inet_ntop(_AF_INET, net.to_bytes(4, 'big'))}/{plen}"
    return f"{socket.inet_ntop(_AF_INET6, net.to_bytes(16, 'big'))}/{plen}"


def _keep_last(starts: np.ndarray, plens: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of each (start, prefix length), sorted by start."""
    import numpy as np

    n = len(starts)
    order = np.lexsort((np.arange(n), plens, starts))
    s, p = starts[order], plens[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = (s[1:] != s[:-1]) | (p[1:] != p[:-1])
    return order[last]


def _paint(k: int, lo: np.ndarray, hi: np.ndarray, plens: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Owner (longest covering prefix's value index, -1 if none) of each of k elementary intervals.

    Prefix i covers intervals [lo[i], hi[i]). Prefixes of one length are disjoint, so each length
    is painted in one vectorised step, shortest first, longer ones overwriting: either by direct
    index when the level covers few intervals, or by a difference array and a cumulative sum.
    """
    import numpy as np

    owner = np.full(k, -1, dtype=np.int64)
    for length in np.flatnonzero(np.bincount(plens)):
        sel = plens == length
        low, h, v = lo[sel], hi[sel], owners[sel]
        spans = h - low
        total = int(spans.sum())
        if total * 4 < k:
            first = np.repeat(low - (np.cumsum(spans) - spans), spans)
            owner[first + np.arange(total)] = np.repeat(v, spans)
        else:
            diff = np.zeros(k + 1, dtype=np.int64)
            diff[low] += v + 1  # starts of one level are distinct, and so are its ends
            diff[h] -= v + 1
            level = np.cumsum(diff[:k])
            hit = level != 0
            owner[hit] = level[hit] - 1
    return owner


def _intervals(
    starts: np.ndarray, ends: np.ndarray, overflow: np.ndarray, plens: np.ndarray, owners: np.ndarray,
    zero: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping (interval start, owner) arrays for one family; ends[i] is exclusive."""
    import numpy as np

    bounds = np.sort(np.concatenate([zero, starts, ends[~overflow]]))
    distinct = np.ones(len(bounds), dtype=bool)
    distinct[1:] = bounds[1:] != bounds[:-1]
    bounds = bounds[distinct]  # sort + mask: np.unique is several times slower here
    k = len(bounds)
    lo = np.searchsorted(bounds, starts)
    hi = np.where(overflow, k, np.searchsorted(bounds, ends))
    owner = _paint(k, lo, hi, plens, owners)
    keep = np.ones(k, dtype=bool)
    keep[1:] = owner[1:] != owner[:-1]
    return bounds[keep], owner[keep].astype(np.int32)


class PrefixMap(Generic[V]):
    """Immutable longest-prefix-match table from CIDR prefixes to values (see module docstring)."""

    __slots__ = ("_v4_starts", "_v4_owner", "_v4_view", "_v4_owner_view", "_v6_starts", "_v6_owner",
                 "_v6_owner_view", "_values", "_objects", "_count")

    def __init__(
        self, v4: tuple[np.ndarray, np.ndarray], v6: tuple[np.ndarray, np.ndarray],
        values: list[V], count: int,
    ) -> None:
        """Internal: use ``PrefixMap.build``."""
        import numpy as np

        self._v4_starts, self._v4_owner = v4
        self._v6_starts, self._v6_owner = v6
        # memoryviews give Python ints on scalar access, much faster than numpy scalars
        self._v4_view = memoryview(self._v4_starts)
        self._v4_owner_view = memoryview(self._v4_owner)
        self._v6_owner_view = memoryview(self._v6_owner)
        self._values = values
        objects = np.empty(len(values) + 1, dtype=object)  # last slot (index -1) is None
        objects[:-1] = np.fromiter(values, dtype=object, count=len(values))
        self._objects = objects
        self._count = count

    @classmethod
    def build(cls, items: Iterable[tuple[str, V]]) -> PrefixMap[V]:
        """Build from (cidr, value) pairs; raises ValueError naming a bad item."""
        values: list[V] = []
        v4_packed: list[bytes] = []
        v4_len: list[int] = []
        v4_idx: list[int] = []
        v4_text: list[str] = []
        v6_net: list[int] = []
        v6_len: list[int] = []
        v6_idx: list[int] = []
        pton, af_inet = _inet_pton, _AF_INET
        for n, (cidr, value) in enumerate(items):
            values.append(value)
            try:  # fast path for "a.b.c.d/len"; prefix length and host bits are checked in bulk
                addr, slash, length = cidr.partition("/")
                if slash and length.isdigit() and len(length) <= 2 and length.isascii():
                    v4_packed.append(pton(af_inet, addr))
                    v4_len.append(int(length)), v4_idx.append(n), v4_text.append(cidr)
                    continue
            except (OSError, ValueError, TypeError, AttributeError):
                pass
            if not isinstance(cidr, str):
                raise ValueError(f"item {n + 1}: a CIDR must be text, got {type(cidr).__name__}")
            try:
                version, net, plen = parse_cidr(cidr)
            except ValueError as exc:
                raise ValueError(f"item {n + 1}: {exc}") from None
            if version == 4:
                v4_packed.append(net.to_bytes(4, "big"))
                v4_len.append(plen), v4_idx.append(n), v4_text.append(cidr)
            else:
                v6_net.append(net), v6_len.append(plen), v6_idx.append(n)
        v4 = cls._build_v4(v4_packed, v4_len, v4_idx, v4_text)
        v6 = cls._build_v6(v6_net, v6_len, v6_idx)
        return cls(v4[:2], v6[:2], values, v4[2] + v6[2])

    @staticmethod
    def _build_v4(
        packed: list[bytes], lens: list[int], idx: list[int], texts: list[str],
    ) -> tuple[np.ndarray, np.ndarray, int]:
        import numpy as np

        if not packed:
            return np.zeros(1, _V4_DTYPE), np.full(1, -1, np.int32), 0
        starts = np.frombuffer(b"".join(packed), dtype=_BE_U32).astype(np.uint64)
        wide = np.array(lens, dtype=np.int64)
        bad = wide > 32
        ok = ~bad
        host = np.zeros(len(wide), dtype=np.uint64)
        host[ok] = (np.uint64(1) << (32 - wide[ok]).astype(np.uint64)) - np.uint64(1)
        bad |= (starts & host) != 0
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            try:
                parse_cidr(texts[first])
            except ValueError as exc:
                raise ValueError(f"item {idx[first] + 1}: {exc}") from None
        plens = wide.astype(np.uint8)
        keep = _keep_last(starts, plens)
        starts, plens, owners = starts[keep], plens[keep], np.array(idx, dtype=np.int64)[keep]
        ends = starts + (np.uint64(1) << (np.uint64(32) - plens.astype(np.uint64)))
        bounds, owner = _intervals(starts, ends, np.zeros(len(starts), bool), plens, owners,
                                   np.zeros(1, np.uint64))
        if bounds[-1] == 1 << 32:  # the interval that would start past 255.255.255.255
            bounds, owner = bounds[:-1], owner[:-1]
        return bounds.astype(_V4_DTYPE), owner, len(keep)

    @staticmethod
    def _build_v6(nets: list[int], lens: list[int], idx: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
        import numpy as np

        if not nets:
            return np.zeros(1, _V6_DTYPE), np.full(1, -1, np.int32), 0
        top = 1 << 128
        ends_int = [net + (1 << (128 - plen)) for net, plen in zip(nets, lens)]
        overflow = np.array([e == top for e in ends_int], dtype=bool)
        starts = np.frombuffer(b"".join(n.to_bytes(16, "big") for n in nets), dtype=_V6_DTYPE)
        ends = np.frombuffer(b"".join((e % top).to_bytes(16, "big") for e in ends_int), dtype=_V6_DTYPE)
        plens = np.array(lens, dtype=np.uint8)
        keep = _keep_last(starts, plens)
        owners = np.array(idx, dtype=np.int64)[keep]
        bounds, owner = _intervals(starts[keep], ends[keep], overflow[keep], plens[keep], owners,
                                   np.zeros(1, _V6_DTYPE))
        return bounds, owner, len(keep)

    # -- lookups -------------------------------------------------------------------------------

    def lookup(self, ip: str) -> V | None:
        """Value of the longest prefix containing ``ip``, or None; ValueError if not an address."""
        version, packed = parse_ip(ip)
        return self.lookup_packed(version, packed)

    def lookup_packed(self, version: int, packed: bytes) -> V | None:
        """Like ``lookup`` for an address already parsed by ``parse_ip``."""
        if version == 4:
            i = self._v4_owner_view[bisect.bisect_right(self._v4_view, int.from_bytes(packed, "big")) - 1]
        else:
            i = self._v6_owner_view[int(self._v6_starts.searchsorted(packed, "right")) - 1]
        return self._values[i] if i >= 0 else None

    def lookup_many(self, ips: Sequence[str]) -> list[V | None]:
        """Values for many addresses (any mix of families), in order."""
        import numpy as np

        try:  # fast path: all IPv4 (inet_pton refuses anything else, then the general loop runs)
            packed4 = b"".join([_inet_pton(_AF_INET, ip) for ip in ips])
        except (OSError, ValueError, TypeError):
            pass
        else:
            ints = np.frombuffer(packed4, dtype=_BE_U32).astype(_V4_DTYPE)
            return self._objects[self.index_ipv4(ints)].tolist()
        n = len(ips)
        idx = np.full(n, -1, dtype=np.int32)
        v4_pos: list[int] = []
        v4_packed: list[bytes] = []
        v6_pos: list[int] = []
        v6_packed: list[bytes] = []
        for pos, ip in enumerate(ips):
            version, packed = parse_ip(ip)
            if version == 4:
                v4_pos.append(pos), v4_packed.append(packed)
            else:
                v6_pos.append(pos), v6_packed.append(packed)
        if v4_pos:
            ints = np.frombuffer(b"".join(v4_packed), dtype=_BE_U32).astype(_V4_DTYPE)
            idx[np.array(v4_pos, dtype=np.intp)] = self.index_ipv4(ints)
        if v6_pos:
            keys = np.frombuffer(b"".join(v6_packed), dtype=_V6_DTYPE)
            found = self._v6_owner[np.searchsorted(self._v6_starts, keys, "right") - 1]
            idx[np.array(v6_pos, dtype=np.intp)] = found
        return self._objects[idx].tolist()

    def index_ipv4(self, ips: npt.ArrayLike) -> np.ndarray:
        """Index into ``values`` (int32, -1 for no match) for an array of IPv4 addresses as ints."""
        import numpy as np

        arr = np.asarray(ips)
        if arr.dtype != np.uint32:
            if arr.size and (arr.min() < 0 or arr.max() > 0xFFFFFFFF):
                raise ValueError("IPv4 address integers must be in 0..4294967295")
            arr = arr.astype(_V4_DTYPE)
        arr = arr.ravel()
        n = len(arr)
        if n < _SORT_BATCH:
            return self._v4_owner[np.searchsorted(self._v4_starts, arr, "right") - 1]
        # Random queries make every binary search miss the cache; sorted queries let
        # searchsorted walk the table once. Sort (address << 32 | position) so one fast
        # integer sort also carries each answer back to its position.
        keys = (arr.astype(np.uint64) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
        keys.sort()
        found = np.searchsorted(self._v4_starts, (keys >> np.uint64(32)).astype(_V4_DTYPE), "right") - 1
        out = np.empty(n, dtype=np.int32)
        out[(keys & np.uint64(0xFFFFFFFF)).astype(np.intp)] = self._v4_owner[found]
        return out

    def lookup_ipv4_ints(self, ips: npt.ArrayLike) -> list[V | None]:
        """Values for an array of IPv4 addresses as ints, in order."""
        return self._objects[self.index_ipv4(ips)].tolist()

    # -- introspection -------------------------------------------------------------------------

    @property
    def values(self) -> Sequence[V]:
        """All values given to ``build`` in input order (``index_ipv4`` indexes this)."""
        return self._values

    @property
    def interval_counts(self) -> tuple[int, int]:
        """Number of (IPv4, IPv6) elementary intervals after flattening."""
        return len(self._v4_starts), len(self._v6_starts)

    def __len__(self) -> int:
        """Number of distinct prefixes (identical prefixes counted once)."""
        return self._count

    def __repr__(self) -> str:
        v4, v6 = self.interval_counts
        return f"PrefixMap({self._count} prefixes, {v4} IPv4 / {v6} IPv6 intervals)"
