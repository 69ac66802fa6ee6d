"""User-supplied pool lists, and the pool intelligence a scan uses.

Auditors bring their own lists of mining domains. ``load_pool_list`` reads the common formats,
one name per line, keeping each name's ``file:line`` as its source:

    pool.example.com                    plain domain list
    0.0.0.0 pool.example.com            hosts file (any address; several names per line allowed)
    ||pool.example.com^                 adblock style (as CoinBlockerLists also publishes)
    # comment, ! comment                ignored; so are blank lines and IP addresses

CoinBlockerLists (AGPL-3.0) is such a list: use it by passing its file, it is not bundled.
Names on the allow-list (rules/allowlist.toml: exchanges, wallets, explorers that such lists
carry) are never treated as pools. ``intelligence(pool_lists)`` builds the ``PoolIntel`` (from
detector.sidecar.intel) that a scan and the sidecar both use: rules/pools.toml, the user's
lists, minus the allow-list.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from detector.errors import RegistryError, UnreadableInputError
from detector.rules import Pool
from detector.sidecar.intel import PoolIntel, normalise_name

MAX_NAMES = 2_000_000  #: names read from one list (the biggest public lists hold ~100k)
MAX_LINE = 4096
_ADBLOCK = re.compile(r"^\|\|([^/^$]+)\^?")
_NAME = re.compile(r"^[a-z0-9*_](?:[a-z0-9_-]{0,62}\.)+[a-z0-9-]{1,63}$")


def _names(line: str) -> list[str]:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("!"):
        return []
    m = _ADBLOCK.match(line)
    if m:
        return [m.group(1)]
    fields = line.split()
    if len(fields) > 1 and _is_address(fields[0]):
        return fields[1:]
    return fields[:1]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def load_pool_list(path: str | Path) -> tuple[Pool, ...]:
    """Pools (one per name) from a user's list; RegistryError names file:line of a bad file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read pool list ({exc.strerror or exc})") from None
    if b"\x00" in raw[:4096]:
        raise RegistryError(f"{path}:1: not a text pool list (binary data)")
    pools: dict[str, Pool] = {}
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        if len(line) > MAX_LINE:
            raise RegistryError(f"{path}:{number}: line longer than {MAX_LINE} characters")
        for item in _names(line):
            name = normalise_name(item.lstrip("*.").lower())
            if name is None or _is_address(name) or not _NAME.match(name) or name in pools:
                continue
            pools[name] = Pool(name=f"{path.name}: {name}", operator="(user pool list)", domains=(name,),
                               coins=(), ports=(), browser=False, sources=(f"{path}:{number}",))
            if len(pools) > MAX_NAMES:
                raise RegistryError(f"{path}:{number}: more than {MAX_NAMES} names")
    if not pools:
        raise RegistryError(f"{path}:1: no domain names found (expected a domain list, hosts file or ||name^ lines)")
    return tuple(pools.values())


_ACTIVE: contextvars.ContextVar[PoolIntel | None] = contextvars.ContextVar("minesweep_pool_intel", default=None)
_DEFAULT: PoolIntel | None = None


def intelligence(pool_lists: Sequence[str | Path] = ()) -> PoolIntel:
    extra = [pool for path in pool_lists for pool in load_pool_list(path)]
    return PoolIntel(extra_pools=extra)


def active() -> PoolIntel:
    """The pool intelligence of the scan in progress (rules/pools.toml minus the allow-list when
    no scan set one)."""
    intel = _ACTIVE.get()
    if intel is not None:
        return intel
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PoolIntel()
    return _DEFAULT


@contextlib.contextmanager
def using(intel: PoolIntel) -> Iterator[PoolIntel]:
    token = _ACTIVE.set(intel)
    try:
        yield intel
    finally:
        _ACTIVE.reset(token)
