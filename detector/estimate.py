"""Hashrate and energy estimation from observed shares: pure functions, documented formulas.

Work per share (conventions and their sources are in ``rules/algorithms.toml``):

* from a stratum difficulty D:  ``W = D * work_per_difficulty``  (2^32 for SHA-256d and
  EthereumStratum/1.0.0, 2^16 for Scrypt, 8192 Sols for Equihash 200,9 relative to powLimit,
  1 for CryptoNote/RandomX where difficulty already counts hashes);
* from a share target T: ``W = 2^256 / T`` for 256-bit targets (a share is a hash <= T, which a
  uniformly random 256-bit hash meets with probability T / 2^256), and
  ``W = (2^64 - 1) / t64`` for CryptoNote's 64-bit targets (xmrig ``Job.cpp``).

Hashrate: ``H = sum(W_i) / dt`` over the window the shares cover (ckpool, NOMP, xmrig-proxy do
the same). Share arrivals are a Poisson process, so the count n carries the uncertainty: the
interval is the exact (Garwood 1936, chi-square) two-sided Poisson interval for n scaled by the
mean work per share, ``[L(n), U(n)] * (sum(W)/n) / dt``, with ``L(n) = chi2.ppf(a/2, 2n)/2`` and
``U(n) = chi2.ppf(1-a/2, 2n+2)/2``, ``a = 1 - conf``. With no share only an upper bound is
honest: ``U(0) = chi2.ppf(conf, 2)/2 = -ln(1-conf)`` shares' worth of work at the current share
difficulty.

Energy: ``kWh = H [H/s] * e [J/H] * hours * 3600 [s/h] * PUE / 3.6e6 [J/kWh]``, computed for the
low / best / high efficiency of the algorithm (``rules/hardware.toml``), as CBECI does.

Public functions: :func:`share_work`, :func:`monero_target_to_difficulty`,
:func:`eth_target_to_difficulty`, :func:`equihash_target_to_difficulty`,
:func:`poisson_interval`, :func:`estimate_hashrate`, :func:`energy_kwh`, :func:`kwh_per_day`.
Bad arguments raise ``ValueError`` with a one-line message, except the three target converters,
which take strings straight off the wire and return 0.0 (unknown) for anything malformed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .gammainv import gammaincinv
from .rules import Algorithm, Rules, load_rules

__all__ = [
    "EnergyRange",
    "Estimate",
    "energy_kwh",
    "equihash_target_to_difficulty",
    "estimate_hashrate",
    "eth_target_to_difficulty",
    "kwh_per_day",
    "monero_target_to_difficulty",
    "poisson_interval",
    "share_work",
]

_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1
_TWO_256 = 1 << 256
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
#: Equihash powLimit, the difficulty-1 target (ZIP 301; z-nomp / node-stratum-pool diff1).
EQUIHASH_DIFF1 = int("0007" + "f" * 60, 16)
_J_PER_KWH = 3.6e6


@dataclass(frozen=True, slots=True)
class Estimate:
    """A hashrate estimate with its exact Poisson interval."""

    value: float | None  #: sum of share work / seconds; None when no share was seen
    low: float | None  #: lower bound of the interval (0.0 with no share)
    high: float | None  #: upper bound; None only when unknowable (no share, no difficulty)
    unit: str  #: "H/s" or "Sol/s"
    basis: str  #: how it was computed, for reports
    n_shares: int = 0
    seconds: float = 0.0
    conf: float = 0.90


@dataclass(frozen=True, slots=True)
class EnergyRange:
    """Energy for a hashrate over a period, at low / best / high efficiency."""

    low: float
    best: float
    high: float
    unit: str  #: "kWh"
    algorithm: str
    pue: float
    basis: str


def _algorithm(name: str, rules: Rules | None) -> Algorithm:
    algo = (rules or load_rules()).algorithm(name)
    if algo is None:
        raise ValueError(f"unknown algorithm {name!r}")
    return algo


def _finite_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, not {value!r}")
    return float(value)


def share_work(
    algorithm: str,
    *,
    difficulty: float | None = None,
    target: int | None = None,
    rules: Rules | None = None,
) -> float:
    """Hashes (or Equihash solutions) one share represents; give exactly one of the two.

    ``difficulty`` is the stratum share difficulty in the algorithm's pool convention;
    ``target`` is the integer the share hash is compared with: the 256-bit target for
    ``be256`` algorithms, the expanded 64-bit target for CryptoNote ones.
    """
    algo = _algorithm(algorithm, rules)
    if (difficulty is None) == (target is None):
        raise ValueError("give exactly one of difficulty= or target=")
    if difficulty is not None:
        d = _finite_positive("difficulty", difficulty)
        if algo.work_per_difficulty is None:
            raise ValueError(f"no sourced difficulty convention for {algo.name}; give target=")
        return d * algo.work_per_difficulty
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValueError("target must be an int")
    limit = _U64 if algo.target_encoding == "cryptonote" else _TWO_256 - 1
    if not 0 < target <= limit:
        raise ValueError(f"target out of range for {algo.name}: must be 1..{limit:#x}")
    if algo.target_encoding == "cryptonote":
        return _U64 / target
    return _TWO_256 / target


def _hex_int(text: object, max_digits: int) -> int:
    """Value of a hex string with optional 0x, or 0 when it is not 1..max_digits hex digits."""
    if not isinstance(text, str) or len(text) > max_digits + 2:
        return 0
    s = text[2:] if text[:2] in ("0x", "0X") else text
    if not s or len(s) > max_digits or not _HEX.match(s):
        return 0
    return int(s, 16)


def monero_target_to_difficulty(hex_target: str) -> float:
    """CryptoNote job target (4- or 8-byte little-endian hex) -> share difficulty.

    As xmrig ``Job::setTarget``: a 4-byte target t32 expands to
    ``t64 = (2^64-1) // ((2^32-1) // t32)``; difficulty is ``(2^64-1) // t64`` (integer
    arithmetic). ``'b88d0600'`` -> 10000.0. A malformed or zero target gives 0.0 (callers
    treat a falsy difficulty as unknown); this never raises.
    """
    if not isinstance(hex_target, str) or len(hex_target) not in (8, 16) or not _HEX.match(hex_target):
        return 0.0
    raw = int.from_bytes(bytes.fromhex(hex_target), "little")
    if len(hex_target) == 8:
        if raw == 0:
            return 0.0
        raw = _U64 // (_U32 // raw)
    return float(_U64 // raw) if raw else 0.0


def eth_target_to_difficulty(hex256: str) -> float:
    """Ethash share target (big-endian hex, optional 0x) -> difficulty = hashes per share.

    As open-ethereum-pool ``util.TargetHexToDiff``: ``2^256 // target``. A malformed or zero
    target gives 0.0; this never raises.
    """
    target = _hex_int(hex256, 64)
    return float(_TWO_256 // target) if target else 0.0


def equihash_target_to_difficulty(hex256: str) -> float:
    """Equihash ``mining.set_target`` (256-bit big-endian hex) -> pool difficulty.

    Difficulty relative to powLimit ``0x0007ff..ff`` (ZIP 301; z-nomp's diff1):
    ``powLimit / target``. Solutions per share are ``2^256 / target`` (see :func:`share_work`).
    A malformed or zero target gives 0.0; this never raises.
    """
    target = _hex_int(hex256, 64)
    return EQUIHASH_DIFF1 / target if target else 0.0


def poisson_interval(n: int, conf: float = 0.90) -> tuple[float, float]:
    """Exact two-sided (Garwood) confidence interval for a Poisson mean given count ``n``.

    ``(chi2.ppf(a/2, 2n)/2, chi2.ppf(1-a/2, 2n+2)/2)`` with ``a = 1-conf``; for ``n == 0`` the
    lower bound is 0 and the upper bound is the one-sided ``chi2.ppf(conf, 2)/2 = -ln(1-conf)``.
    ``chi2.ppf(p, 2k)/2`` is the gamma quantile ``P^-1(k, p)``, computed in pure Python by
    :func:`detector.gammainv.gammaincinv` (no scipy import).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative int")
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 < conf < 1.0:
        raise ValueError("conf must be strictly between 0 and 1")
    if n == 0:
        return 0.0, gammaincinv(1.0, conf)
    alpha = 1.0 - conf
    return gammaincinv(n, alpha / 2), gammaincinv(n + 1, 1.0 - alpha / 2)


def estimate_hashrate(
    total_work: float,
    n_shares: int,
    seconds: float,
    conf: float = 0.90,
    *,
    work_per_share: float | None = None,
    unit: str = "H/s",
) -> Estimate | None:
    """Hashrate from ``n_shares`` shares worth ``total_work`` hashes seen over ``seconds``.

    ``value = total_work / seconds``; the interval scales the Poisson bounds of ``n_shares`` by
    the mean work per share. With no share, ``value`` is None, ``low`` 0 and ``high`` the
    upper bound for one share's work at the difficulty in force: ``work_per_share`` if given,
    else ``total_work`` read as that work (a positive ``total_work`` with ``n_shares == 0``
    can mean nothing else); with neither, ``high`` is None too. Returns None when
    ``seconds <= 0`` (no window to divide by).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise ValueError("seconds must be a finite number")
    if seconds <= 0:
        return None
    if isinstance(n_shares, bool) or not isinstance(n_shares, int) or n_shares < 0:
        raise ValueError("n_shares must be a non-negative int")
    lo, hi = poisson_interval(n_shares, conf)
    pct = f"{conf:.0%}"
    span = f"{seconds:g} s"
    if n_shares == 0:
        if work_per_share is None and isinstance(total_work, (int, float)) and not isinstance(total_work, bool) \
                and math.isfinite(total_work) and total_work > 0:
            work_per_share = float(total_work)
        if work_per_share is None:
            return Estimate(None, 0.0, None, unit,
                            f"upper bound: no share in {span}; share difficulty unknown, no bound",
                            0, float(seconds), conf)
        w = _finite_positive("work_per_share", work_per_share)
        return Estimate(None, 0.0, hi * w / seconds, unit,
                        f"upper bound: no share in {span}; {pct} one-sided Poisson bound "
                        f"({hi:.4g} shares of {w:.6g} {unit[:-2]} each)",
                        0, float(seconds), conf)
    total = _finite_positive("total_work", total_work)
    mean = total / n_shares
    return Estimate(total / seconds, lo * mean / seconds, hi * mean / seconds, unit,
                    f"{n_shares} share(s) in {span}, mean {mean:.6g} {unit[:-2]}/share; "
                    f"{pct} exact Poisson (Garwood) interval",
                    n_shares, float(seconds), conf)


def energy_kwh(
    hashrate_hps: float,
    algorithm: str,
    hours: float,
    pue: float | None = None,
    *,
    rules: Rules | None = None,
) -> EnergyRange:
    """Energy in kWh at low / best / high efficiency: ``H * J/H * hours * 3600 * PUE / 3.6e6``.

    ``hashrate_hps`` is in the algorithm's unit (H/s or Sol/s); ``pue`` defaults to the rules'
    default PUE and must be >= 1.
    """
    rules = rules or load_rules()
    algo = _algorithm(algorithm, rules)
    profile = rules.hardware.get(algo.name)
    if profile is None:
        raise ValueError(f"no efficiency profile for {algo.name} in rules/hardware.toml")
    for name, value in (("hashrate", hashrate_hps), ("hours", hours)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative finite number, not {value!r}")
    factor = rules.default_pue if pue is None else _finite_positive("pue", pue)
    if factor < 1.0:
        raise ValueError(f"pue must be >= 1.0, not {factor}")
    seconds = float(hours) * 3600.0

    def kwh(j_per_unit: float) -> float:
        return float(hashrate_hps) * j_per_unit * seconds * factor / _J_PER_KWH

    return EnergyRange(
        low=kwh(profile.low.joules_per_unit),
        best=kwh(profile.best.joules_per_unit),
        high=kwh(profile.high.joules_per_unit),
        unit="kWh",
        algorithm=algo.name,
        pue=factor,
        basis=(f"{algo.name} at {profile.low.value:g} / {profile.best.value:g} / {profile.high.value:g} "
               f"{profile.unit} ({profile.low.model}; {profile.best.model}; {profile.high.model}), "
               f"PUE {factor:g}, {float(hours):g} h"),
    )


def kwh_per_day(
    hashrate_hps: float, algorithm: str, pue: float | None = None, *, rules: Rules | None = None
) -> EnergyRange:
    """:func:`energy_kwh` over 24 hours."""
    return energy_kwh(hashrate_hps, algorithm, 24.0, pue, rules=rules)
