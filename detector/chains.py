"""Which chain a Stratum v1 job is for, from its coinbase height and block time.

BIP 34 puts the block height at the start of the coinbase scriptSig, which a pool sends in
``mining.notify`` as the first coinbase part (coinb1); the job's ``ntime`` is the block time.
Comparing the height with each chain's expected height at that time (rules/chains.toml) names
the chain — enough to tell a Litecoin/Dogecoin (scrypt) job from a Bitcoin (sha256d) one when
nothing else on the wire does.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import cache

from detector.errors import RegistryError
from detector.rules import default_rules_dir, read_toml

_COINBASE_PREFIX = 4 + 1 + 36  # version, input count, previous output (null for a coinbase)


@dataclass(frozen=True, slots=True)
class Chain:
    coin: str
    algorithm: str
    anchor_height: int
    anchor_time: float
    block_seconds: float

    def expected_height(self, when: float) -> float:
        return self.anchor_height + (when - self.anchor_time) / self.block_seconds


@cache
def chains() -> tuple[tuple[Chain, ...], float]:
    path = default_rules_dir() / "chains.toml"
    try:
        data = dict(read_toml(path))
        tolerance = float(data.pop("tolerance"))
        out = tuple(
            Chain(coin, str(v["algorithm"]), int(v["anchor_height"]),
                  _dt.datetime.fromisoformat(str(v["anchor_time"]).replace("Z", "+00:00")).timestamp(),
                  float(v["block_seconds"]))
            for coin, v in data.items()
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{path}: malformed chain table ({exc})") from None
    return out, tolerance


def coinbase_height(coinb1_hex: str) -> int | None:
    """The BIP 34 height at the start of a coinbase's scriptSig, or None."""
    try:
        raw = bytes.fromhex(coinb1_hex[:200])
    except ValueError:
        return None
    if len(raw) < _COINBASE_PREFIX + 3 or raw[4] != 1 or raw[5:37] != bytes(32):
        return None
    script = raw[_COINBASE_PREFIX + 1:]  # skip the one-byte script length (coinbase scripts are < 253 bytes)
    push = script[0]
    if not 1 <= push <= 4 or len(script) < 1 + push:
        return None
    return int.from_bytes(script[1 : 1 + push], "little")


def match(height: int, block_time: float) -> list[Chain]:
    """Chains whose expected height at ``block_time`` is within tolerance of ``height``."""
    table, tolerance = chains()
    return [c for c in table if abs(height - c.expected_height(block_time)) <= tolerance * c.expected_height(block_time)]
