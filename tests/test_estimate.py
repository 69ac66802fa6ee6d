"""Share work, target conversions, Poisson intervals, hashrate and energy (detector.estimate).

Targets and difficulties are the ones real pools sent in the shared corpus captures; expected
values are worked out by hand in the comments.
"""

from __future__ import annotations

import math
import time

import pytest

from detector.estimate import (
    EQUIHASH_DIFF1,
    energy_kwh,
    equihash_target_to_difficulty,
    estimate_hashrate,
    eth_target_to_difficulty,
    kwh_per_day,
    monero_target_to_difficulty,
    poisson_interval,
    share_work,
)

TWO_32 = 1 << 32

# ------------------------------------------------------------------------------ share work


@pytest.mark.parametrize(("algorithm", "difficulty", "work"), [
    ("sha256d", 4096, 4096 * TWO_32),  # bitminter mining.set_difficulty [4096] (bitcoin-mining.pcap)
    ("sha256d", 64, 64 * TWO_32),      # bitminter mining.set_difficulty [64]
    ("sha256", 1, TWO_32),             # alias
    ("scrypt", 1, 65536),              # node-stratum-pool multiplier 2^16
    ("scrypt", 2048, 2048 * 65536),
    ("ethash", 0.5, TWO_32 / 2),       # NiceHash EthereumStratum/1.0.0 spec example set_difficulty 0.5
    ("daggerhashimoto", 1.0, TWO_32),
    ("etchash", 2, 2 * TWO_32),
    ("equihash", 1, 8192),             # 2^256 / powLimit
    ("rx/0", 10000, 10000),            # CryptoNote difficulty counts hashes
    ("cn/r", 20000, 20000),
])
def test_share_work_from_difficulty(algorithm: str, difficulty: float, work: float) -> None:
    assert share_work(algorithm, difficulty=difficulty) == work


def test_share_work_from_eth_proxy_target() -> None:
    # nanopool eth_getWork result in ndpi/mining.pcapng: target 0x00000000dbe6fece...; 2^256/T = 5e9
    target = int("00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e", 16)
    assert share_work("ethash", target=target) == pytest.approx(5e9, rel=1e-12)
    assert eth_target_to_difficulty("0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e") == 5e9


def test_eth_target_without_leading_zeros() -> None:
    # ndpi/old/ethereum.pcap sends the target with its leading zero digits stripped: 2^256//T = 4e9
    assert eth_target_to_difficulty("0x0112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba") == 4e9


def test_share_work_from_equihash_target() -> None:
    # flypool mining.set_target in ndpi/mining.pcapng: T = floor(2^252/1000)-ish -> 16000 Sols/share
    hex_target = "0004189374bc6a7ef9db22d0e5604189374bc6a7ef9db22d0e5604189374bc6a"
    assert share_work("equihash", target=int(hex_target, 16)) == 16000.0
    assert equihash_target_to_difficulty(hex_target) == 1.953125  # powLimit/T = 1000/512
    # the two conventions agree: D * 8192 Sols == 2^256/T up to powLimit = 2^243 - 1
    d = equihash_target_to_difficulty(hex_target)
    assert share_work("equihash", difficulty=d) == pytest.approx(16000.0, rel=1e-12)
    assert EQUIHASH_DIFF1 == (1 << 243) - 1


def test_share_work_from_cryptonote_target() -> None:
    t64 = ((1 << 64) - 1) // (0xFFFFFFFF // 0x00068DB8)  # 'b88d0600' expanded as xmrig does
    assert share_work("randomx", target=t64) == pytest.approx(10000.0, rel=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one"),
    ({"difficulty": 1, "target": 1}, "exactly one"),
    ({"difficulty": 0}, "positive"),
    ({"difficulty": -3}, "positive"),
    ({"difficulty": float("nan")}, "positive"),
    ({"difficulty": float("inf")}, "positive"),
    ({"difficulty": True}, "number"),
    ({"difficulty": "4096"}, "number"),
    ({"target": 0}, "out of range"),
    ({"target": 1 << 256}, "out of range"),
    ({"target": 3.5}, "int"),
])
def test_share_work_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        share_work("sha256d", **kwargs)


def test_share_work_unknown_algorithm_and_unsourced_convention() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        share_work("no-such-algo", difficulty=1)
    with pytest.raises(ValueError, match="no sourced difficulty convention"):
        share_work("kawpow", difficulty=1)
    assert share_work("kawpow", target=1 << 224) == 2.0 ** 32
    with pytest.raises(ValueError, match="out of range"):
        share_work("rx/0", target=1 << 64)


# ------------------------------------------------------------------------------ CryptoNote targets

@pytest.mark.parametrize(("target", "difficulty"), [
    ("b88d0600", 10000.0),   # BRIEF example (xmrig Job.cpp arithmetic)
    ("dc460300", 20000.0),   # ndpi/mining.pcapng, xmr-stak job target
    ("711b0d00", 5000.0),    # zeek-cryptomining coinhive-stratum.pcap, supportxmr jobs
    ("91fd0600", 9375.0),
    ("70a50700", 8571.0),
    ("ffffffff", 1.0),
    ("01000000", 4294967295.0),
    ((((1 << 64) - 1) // 1_000_000).to_bytes(8, "little").hex(), 1_000_000.0),  # 8-byte target
])
def test_monero_target_to_difficulty(target: str, difficulty: float) -> None:
    assert monero_target_to_difficulty(target) == difficulty


@pytest.mark.parametrize("target", [
    "", "zz", "b88d06", "b88d0600ff", "00000000", "0000000000000000", "b88d060g", None, 10000,
    "B88D0600 ", "0x0b88d06", "ａｂｃｄｅｆ12",
])
def test_monero_target_malformed_is_zero(target: object) -> None:
    assert monero_target_to_difficulty(target) == 0.0  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [eth_target_to_difficulty, equihash_target_to_difficulty])
@pytest.mark.parametrize("target", ["", "0x", "0x0", "00", "xyz", "1" * 65, None, 5, "0x" + "é" * 4])
def test_256bit_target_malformed_is_zero(function, target: object) -> None:
    assert function(target) == 0.0


def test_huge_target_strings_are_rejected_fast() -> None:
    started = time.perf_counter()
    assert monero_target_to_difficulty("f" * 10_000_000) == 0.0
    assert eth_target_to_difficulty("f" * 10_000_000) == 0.0
    assert time.perf_counter() - started < 0.2


# ------------------------------------------------------------------------------ Poisson bounds

@pytest.mark.parametrize(("n", "conf", "low", "high"), [
    (0, 0.90, 0.0, math.log(10)),                     # one-sided: -ln(1 - 0.90)
    (0, 0.95, 0.0, -math.log(0.05)),
    (1, 0.90, -math.log(0.95), 4.743864518390577),    # lower = -ln(1 - a/2) for n = 1
    (10, 0.95, 4.7953886961324335, 18.39035604201778),  # Garwood table: 4.795, 18.390
])
def test_poisson_interval(n: int, conf: float, low: float, high: float) -> None:
    lo, hi = poisson_interval(n, conf)
    assert lo == pytest.approx(low, rel=1e-12, abs=1e-300)
    assert hi == pytest.approx(high, rel=1e-12)


def test_poisson_interval_against_chi_square() -> None:
    from scipy.stats import chi2

    for n in (1, 2, 5, 17, 250):
        assert poisson_interval(n, 0.9) == pytest.approx(
            (chi2.ppf(0.05, 2 * n) / 2, chi2.ppf(0.95, 2 * n + 2) / 2), rel=1e-10)


@pytest.mark.parametrize(("n", "conf"), [(-1, 0.9), (1.5, 0.9), (True, 0.9), (3, 0.0), (3, 1.0), (3, 1.5), (3, "0.9")])
def test_poisson_interval_bad_arguments(n: object, conf: object) -> None:
    with pytest.raises(ValueError):
        poisson_interval(n, conf)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ hashrate

def test_estimate_hashrate_with_shares() -> None:
    work = 12 * 4096 * TWO_32  # 12 shares at bitminter's difficulty 4096 in 10 minutes
    est = estimate_hashrate(work, 12, 600.0)
    assert est is not None
    lo, hi = poisson_interval(12, 0.90)
    assert est.value == work / 600.0 == 351843720888.32
    assert est.low == pytest.approx(lo * 4096 * TWO_32 / 600.0, rel=1e-15)
    assert est.high == pytest.approx(hi * 4096 * TWO_32 / 600.0, rel=1e-15)
    assert est.unit == "H/s" and est.n_shares == 12 and est.seconds == 600.0 and est.conf == 0.90
    assert est.basis == "12 share(s) in 600 s, mean 1.75922e+13 H/share; 90% exact Poisson (Garwood) interval"


def test_estimate_hashrate_no_share_is_upper_bound_only() -> None:
    per_share = 4096 * TWO_32
    est = estimate_hashrate(0.0, 0, 600.0, work_per_share=per_share)
    assert est is not None and est.value is None and est.low == 0.0
    assert est.high == pytest.approx(math.log(10) * per_share / 600.0, rel=1e-12)
    assert est.basis.startswith("upper bound: no share in 600 s")
    # the aggregator passes the current share's work as total_work with n == 0
    same = estimate_hashrate(per_share, 0, 600.0)
    assert same is not None and same.high == est.high and same.value is None


def test_estimate_hashrate_no_share_no_difficulty() -> None:
    est = estimate_hashrate(0.0, 0, 60.0)
    assert est is not None and (est.value, est.low, est.high) == (None, 0.0, None)
    assert est.basis.startswith("upper bound: no share in 60 s")


def test_estimate_hashrate_equihash_unit() -> None:
    est = estimate_hashrate(30 * 16000.0, 30, 900.0, 0.95, unit="Sol/s")
    assert est is not None and est.unit == "Sol/s" and est.value == 30 * 16000.0 / 900.0
    assert "Sol/share" in est.basis and "95%" in est.basis


@pytest.mark.parametrize("seconds", [0, 0.0, -5.0])
def test_estimate_hashrate_without_window_is_none(seconds: float) -> None:
    assert estimate_hashrate(1e12, 3, seconds) is None


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1e12, -1, 60.0), {}), ((1e12, 2.0, 60.0), {}), ((0.0, 3, 60.0), {}), ((-1.0, 3, 60.0), {}),
    ((float("nan"), 3, 60.0), {}), ((1e12, 3, float("inf")), {}), ((1e12, 3, 60.0, 1.2), {}),
    ((0.0, 0, 60.0), {"work_per_share": -5.0}),
])
def test_estimate_hashrate_bad_arguments(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        estimate_hashrate(*args, **kwargs)


# ------------------------------------------------------------------------------ energy

def test_energy_formula_exact() -> None:
    # 1 TH/s of SHA-256d for one hour at PUE 1: 1e12 H/s * 17.5e-12 J/H * 3600 s / 3.6e6 = 0.0175 kWh
    e = energy_kwh(1e12, "sha256d", 1.0, pue=1.0)
    assert (e.low, e.best, e.high) == pytest.approx((0.0175, 0.0295, 0.098), rel=1e-12)
    assert e.unit == "kWh" and e.algorithm == "sha256d" and e.pue == 1.0
    assert "17.5 / 29.5 / 98 J/TH" in e.basis


def test_default_pue_applies() -> None:
    e = energy_kwh(1e12, "sha256d", 1.0)
    assert e.pue == 1.10
    assert e.best == pytest.approx(0.0295 * 1.10, rel=1e-12)


def test_jiangsu_units_sanity_check() -> None:
    """BRIEF section 1: 10 PH/s and 260,000 kWh/day cannot both be SHA-256."""
    sha = kwh_per_day(10e15, "sha256d", pue=1.0)
    assert (sha.low, sha.best, sha.high) == pytest.approx((4200.0, 7080.0, 23520.0), rel=1e-12)
    assert sha.high < 260_000 / 10  # even all-S9 SHA-256 is an order of magnitude short
    # 260,000 kWh/day = 10.83 MW = 1,083 J/TH at 10 PH/s (BRIEF: "~1,080 J/TH")
    watts = 260_000 * 1000 / 24
    assert watts / 10e15 * 1e12 == pytest.approx(1083.33, rel=1e-5)
    # the same power buys ~5.3 TH/s of Ethash at the RTX 3070 basket figure (2.03 J/MH)
    eth_rate = watts / 2.03e-6
    assert kwh_per_day(eth_rate, "ethash", pue=1.0).best == pytest.approx(260_000, rel=1e-12)
    assert eth_rate == pytest.approx(5.336e12, rel=1e-3)


def test_energy_per_algorithm_units() -> None:
    # 1 kH/s RandomX for a day: 1000 * 15.9e-3 J/H * 86400 s / 3.6e6 = 0.3816 kWh at best
    assert kwh_per_day(1000, "rx/0", pue=1.0).best == pytest.approx(0.3816, rel=1e-12)
    # 420 kSol/s Equihash (one Z15) for a day at 3.6 J/kSol: 420e3 * 3.6e-3 * 24 / 1000 = 36.288 kWh
    assert kwh_per_day(420e3, "equihash", pue=1.0).low == pytest.approx(36.288, rel=1e-12)


def test_energy_zero_hashrate_is_zero() -> None:
    e = kwh_per_day(0.0, "ethash")
    assert (e.low, e.best, e.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("args", "message"), [
    ((1e12, "sha256d", 1.0, 0.9), "pue must be >= 1.0"),
    ((1e12, "sha256d", 1.0, 0.0), "pue must be positive"),
    ((-1.0, "sha256d", 1.0, 1.0), "hashrate must be"),
    ((1e12, "sha256d", float("nan"), 1.0), "hours must be"),
    ((1e12, "kheavyhash", 1.0, 1.0), "no efficiency profile"),
    ((1e12, "unobtainium", 1.0, 1.0), "unknown algorithm"),
])
def test_energy_bad_arguments(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        energy_kwh(*args)
