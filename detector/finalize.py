"""From decoded session state to the ``sessions[]`` record of findings.json.

Decides the session's coin and algorithm (protocol first, then wallet, pool, dialect default —
the basis is recorded), splits the login into wallet and worker, names the pool, and estimates
the hashrate from the shares: H = Σ work per share / Δt over the connection's observed window,
with a 90 % exact Poisson interval on the share count (detector.estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from detector import chains, estimate, poollists
from detector.dialects.vocab import dialects_document
from detector.rules import load_rules
from detector.session import Session
from detector.wallets import classify_wallet, split_login

CONFIDENCE_LEVEL = 0.90
UNKNOWN = "unknown"  #: the algorithm of a session nothing identifies


@cache
def _dialect_tables() -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
    data = dialects_document()
    by_protocol = {name: (entry["algorithm"], entry.get("coin")) for name, entry in data["protocol_algorithms"].items()}
    return by_protocol, dict(data["dialect_default_algorithm"])


@dataclass(frozen=True, slots=True)
class Identity:
    coin: str | None
    algorithm: str
    basis: str  #: where the algorithm came from


ENCRYPTED = ("tls", "sv2")  #: dialects of sessions identified without decoding them
SHAPE_ONLY = "unknown"  #: the dialect of a session that rests on its flow shape alone


def identify(s: Session, wallet_coin: str | None, pool_coins: tuple[str, ...]) -> Identity:
    rules = load_rules()
    if s.dialect in ENCRYPTED or s.dialect == SHAPE_ONLY:
        algorithms = {rules.coins.get(c) for c in pool_coins} - {None}
        if len(algorithms) == 1:
            coin = pool_coins[0] if len(pool_coins) == 1 else None
            return Identity(coin, algorithms.pop(), "pool's coin" if coin else "pool's coins share one algorithm")
        return Identity(None, UNKNOWN, "not observable: encrypted, and the pool mines several coins")
    by_protocol, by_dialect = _dialect_tables()
    hint = (s.algo_hint or "").lower()
    if hint in by_protocol:
        algorithm, variant_coin = by_protocol[hint]
        if wallet_coin and rules.coins.get(wallet_coin) == algorithm:
            coin = wallet_coin
        else:  # e.g. NiceHash pays in BTC for ethash work: the wallet's coin is not what is mined
            coin = variant_coin or _coin_for(algorithm, pool_coins, rules.coins)
        return Identity(coin, algorithm, f"protocol ({s.algo_hint})")
    if wallet_coin and wallet_coin in rules.coins:
        return Identity(wallet_coin, rules.coins[wallet_coin], "wallet address format")
    if len(pool_coins) == 1 and pool_coins[0] in rules.coins:
        return Identity(pool_coins[0], rules.coins[pool_coins[0]], "pool's coin")
    if s.chain_hint is not None and s.dialect == "stratum":
        height, when = s.chain_hint
        found = chains.match(height, when)
        algorithms = {c.algorithm for c in found}
        if len(algorithms) == 1:
            coins = {c.coin for c in found}
            both = coins & set(pool_coins)
            coin = coins.pop() if len(coins) == 1 else both.pop() if len(both) == 1 else None
            names = "/".join(c.coin for c in found)
            return Identity(coin, algorithms.pop(),
                            f"coinbase height {height:,} at the job's block time matches {names}")
    algorithm = by_dialect.get(s.dialect or "stratum", "sha256d")
    return Identity(_coin_for(algorithm, pool_coins, rules.coins), algorithm,
                    f"assumed: default for the {s.dialect} dialect")


def coins_for_host(host: str | None, pool_coins: tuple[str, ...]) -> tuple[str, ...]:
    """A multi-coin pool's coins, narrowed by a coin ticker that starts a label of the host name
    (pools name their endpoints per coin: xmr-eu1.nanopool.org, eth.2miners.com, rvn.2miners.com)."""
    if not host or len(pool_coins) < 2:
        return tuple(pool_coins)
    labels = host.lower().split(".")[:-2] or host.lower().split(".")[:1]
    named = [c for c in pool_coins if any(label.split("-")[0] == c.lower() for label in labels)]
    return tuple(named) if len(named) == 1 else tuple(pool_coins)


def _coin_for(algorithm: str, pool_coins: tuple[str, ...], coins: dict[str, str]) -> str | None:
    matching = [c for c in pool_coins if coins.get(c) == algorithm]
    if len(matching) == 1:
        return matching[0]
    candidates = [c for c, a in coins.items() if a == algorithm]
    return candidates[0] if len(candidates) == 1 else None


def session_record(s: Session, pool_names: dict[str, str],
                   assumed: dict[str, float] | None = None) -> dict[str, Any]:
    """The findings.json record of one confirmed session."""
    rules = load_rules()
    parts = split_login(s.login) if s.login else None
    wallet = classify_wallet(parts.wallet) if parts and parts.wallet else None
    # the pool-side worker (login suffix) first: Claymore's own "worker" member is a constant default
    worker = (parts.worker if parts else None) or s.worker
    pool, pool_source = s.pool, s.pool_source
    if pool is None and s.server in pool_names:
        pool, pool_source = pool_names[s.server], "dns"
    known = poollists.active().pool_for_host(pool) if pool else None
    ident = identify(s, wallet.coin if wallet else None, coins_for_host(pool, known.coins) if known else ())
    seconds = max(s.last_seen - s.first_seen, 0.0)
    unit = rules.algorithms[ident.algorithm].unit if ident.algorithm in rules.algorithms else "H/s"
    return {
        "client": s.client,
        "client_port": s.client_port,
        "server": s.server,
        "server_port": s.server_port,
        "dialect": s.dialect,
        "transport": s.transport,
        "coin": ident.coin,
        "algorithm": ident.algorithm,
        "algorithm_basis": ident.basis,
        "pool": pool,
        "pool_source": pool_source,
        "pool_operator": known.operator if known else None,
        "worker": worker,
        "login": s.login,
        "account": parts.account if parts else None,
        "wallet": wallet.address if wallet else None,
        "wallet_coin": wallet.coin if wallet else None,
        "agent": s.agent,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "duration_s": round(seconds, 6),
        "submits": s.submits,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "duplicate_submits": s.duplicates,
        "difficulty": _difficulty(s),
        "hashrate": hashrate(s, ident.algorithm, unit, seconds, (assumed or {}).get(ident.algorithm)),
        "reported_hashrate": _reported(s),
        "bytes_c2s": s.bytes_c2s,
        "bytes_s2c": s.bytes_s2c,
        "packets_c2s": s.packets_c2s,
        "packets_s2c": s.packets_s2c,
        "stream_gaps": s.gaps,
        "redirects": s.redirects[:20],
        "methods": dict(sorted(s.methods.items())),
        "confidence": "confirmed" if s.confirmed else (s.confidence or "suspected"),
        "tls": s.tls,
        "evidence": s.evidence,
        "notes": s.notes,
    }


def share_work_total(s: Session, algorithm: str) -> tuple[float, int, int]:
    """(Σ work of shares with known difficulty, their count, shares of unknown difficulty)."""
    total, known, unknown = 0.0, 0, 0
    for (kind, value), count in s.share_counts.items():
        if kind == "unknown":
            unknown += count
            continue
        work = _work(algorithm, kind, value)
        if work is None:
            unknown += count
        else:
            total += work * count
            known += count
    return total, known, unknown


def _work(algorithm: str, kind: str, value: float) -> float | None:
    try:
        if kind == "diff":
            return estimate.share_work(algorithm, difficulty=value)
        return estimate.share_work(algorithm, target=int(value))
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def hashrate(s: Session, algorithm: str, unit: str, seconds: float, assumed: float | None = None) -> dict[str, Any]:
    total, known, unknown = share_work_total(s, algorithm)
    out: dict[str, Any] = {"value": None, "low": None, "high": None, "unit": unit,
                           "confidence_level": CONFIDENCE_LEVEL, "shares": known, "seconds": round(seconds, 3),
                           "work": total}
    if s.dialect == SHAPE_ONLY:
        out["basis"] = "not observable: the flow's shape alone suggests mining; nothing in it was decoded"
        return out
    if s.dialect in ENCRYPTED:
        if assumed is not None:  # the user's figure, not an observation: no interval, labelled everywhere
            out.update(value=assumed, low=assumed, high=assumed, assumed=True, work=assumed * seconds,
                       basis=f"ASSUMED by the user (--assume-hashrate {algorithm}={assumed:g}): the session is "
                             f"encrypted ({s.dialect}) and its hashrate is not observable")
            return out
        out["basis"] = f"not observable: the session is encrypted ({s.dialect}); shares and difficulty cannot be seen"
        return out
    if seconds <= 0:
        out["basis"] = "not observable: the session has no duration"
        return out
    if unknown and not known:
        out["basis"] = f"not observable: {unknown} shares seen but their difficulty was not (capture starts after it was set)"
        return out
    if known == 0:
        current = _work(algorithm, *s.current_share) if s.current_share else None
        if current is None:
            out["basis"] = "not observable: no share and no share difficulty seen"
            return out
        est = estimate.estimate_hashrate(current, 0, seconds, CONFIDENCE_LEVEL)
    else:
        est = estimate.estimate_hashrate(total, known, seconds, CONFIDENCE_LEVEL)
    if est is None:
        out["basis"] = "not observable"
        return out
    out.update(value=est.value, low=est.low, high=est.high, basis=est.basis)
    if unknown:
        out["basis"] += f"; {unknown} shares of unknown difficulty left out (the estimate is low)"
    return out


def _difficulty(s: Session) -> dict[str, Any]:
    return {
        "current": {"kind": s.current_share[0], "value": s.current_share[1]} if s.current_share else None,
        "history": [{"ts": ts, "kind": kind, "value": value} for ts, kind, value in s.difficulty_history],
    }


def _reported(s: Session) -> dict[str, Any] | None:
    if not s.reported:
        return None
    values = [v for _, v in s.reported]
    return {"mean": sum(values) / len(values), "last": values[-1], "samples": len(values), "unit": "H/s",
            "basis": "the miner's own eth_submitHashrate claims"}
