"""Pure-Python inverse incomplete gamma (detector.gammainv) and the Poisson interval built on it.

scipy stays a dependency of the project, so it is the reference here: ``scipy.special`` for the
functions, and the old ``poisson_interval`` formula (scipy's ``gammaincinv``) for the interval.
Values computed once with mpmath at 50 digits check the 1e-13 target, and stand in for scipy
where scipy itself is inexact (far lower tail at a >= 1e6, from its asymptotic ``gammainc``).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest
from conftest import REPO
from scipy import special

from detector.estimate import poisson_interval
from detector.gammainv import gammainc_pq, gammaincinv

A_GRID = [0.5, 1, 1.5, 2, 2.7, 3, 5, 10, 37, 100, 1000, 12345, 1e5, 1e6, 1e7]
P_GRID = [1e-6, 0.005, 0.05, 0.5, 0.95, 0.995, 1 - 1e-6]

#: x with P(a, x) = p by mpmath 1.3 at 50 digits (Newton steps on the power series of P, p taken
#: as the exact value of the double), rounded to 22 digits.
MPMATH_QUANTILES = {
    (0.5, 0.005): 0.00001963521111025795188504,
    (0.5, 0.995): 3.939719288311207875566,
    (1.5, 1e-06): 0.0001209052436006214098266,
    (2.7, 0.95): 5.842624516025221319148,
    (3, 0.05): 0.8176914471639533453269,
    (10, 0.5): 9.66871461471413115175,
    (37, 0.995): 54.53718868214244721442,
    (100, 1e-06): 59.43632069812289419397,
    (1000, 0.05): 948.5598493836511296771,
    (12345, 0.999999): 12880.36044600984741951,
    (1e5, 0.005): 99187.32963316483697992,
    (1e6, 1e-06): 995253.7719775000991132868,
    (1e6, 0.95): 1001645.421945190100229,
    (1e7, 1e-06): 9984975.550195090186287352,
    (1e7, 0.05): 9994799.084697774789036,
    (1e7, 0.995): 10008147.36575360575187,
}
#: Grid cells where scipy.special.gammaincinv itself is off (1.4e-9 and 2.3e-6 relative against
#: the mpmath values above): checked against mpmath instead.
SCIPY_INEXACT = {(1e6, 1e-6), (1e7, 1e-6)}


def _rel(x: float, ref: float) -> float:
    return abs(x - ref) / abs(ref)


# ------------------------------------------------------------------------------ gammaincinv


@pytest.mark.parametrize("p", P_GRID)
@pytest.mark.parametrize("a", A_GRID)
def test_gammaincinv_matches_scipy(a: float, p: float) -> None:
    x = gammaincinv(a, p)
    ref = MPMATH_QUANTILES[a, p] if (a, p) in SCIPY_INEXACT else float(special.gammaincinv(a, p))
    assert _rel(x, ref) <= 1e-10


@pytest.mark.parametrize(("a", "p"), list(MPMATH_QUANTILES))
def test_gammaincinv_matches_mpmath_to_1e13(a: float, p: float) -> None:
    assert _rel(gammaincinv(a, p), MPMATH_QUANTILES[a, p]) <= 1e-13


@pytest.mark.parametrize("p", P_GRID)
@pytest.mark.parametrize("a", A_GRID)
def test_gammaincinv_round_trip(a: float, p: float) -> None:
    """P(a, x) (or Q for the upper tail, which is what keeps its precision) gives p back."""
    lower, upper = gammainc_pq(a, gammaincinv(a, p))
    if p <= 0.5:
        assert lower == pytest.approx(p, rel=1e-10)
    else:
        assert upper == pytest.approx(1.0 - p, rel=1e-8)


@pytest.mark.parametrize(("a", "p"), [
    (0.1, 1e-20), (0.5, 1e-150), (2.0, 1e-100), (10.0, 1e-20), (37.0, 1 - 2.0**-53),
    (1000.0, 1e-300), (0.3, 0.999), (4.5, 0.7), (123.456, 0.3),
])
def test_gammaincinv_far_tails_match_scipy(a: float, p: float) -> None:
    assert _rel(gammaincinv(a, p), float(special.gammaincinv(a, p))) <= 1e-12


@pytest.mark.parametrize("p", [1e-300, 1e-6, 0.05, 0.5, 0.95, 1 - 1e-6])
def test_gammaincinv_a_one_is_closed_form(p: float) -> None:
    assert gammaincinv(1, p) == -math.log1p(-p)


def test_gammaincinv_endpoints_and_underflow() -> None:
    assert gammaincinv(3.0, 0.0) == 0.0
    assert gammaincinv(3.0, 1.0) == math.inf
    assert gammaincinv(0.1, 1e-300) == 0.0  # the true x, ~1e-2999, underflows (scipy agrees)
    assert special.gammaincinv(0.1, 1e-300) == 0.0


def test_gammaincinv_is_increasing_in_p() -> None:
    for a in (0.5, 3.0, 250.0, 1e6):
        xs = [gammaincinv(a, p) for p in (1e-12, 1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9)]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)


@pytest.mark.parametrize("a", [1e11, 1e15, 1e100, 1e300])
def test_gammaincinv_huge_a_is_fast_and_sane(a: float) -> None:
    started = time.perf_counter()
    lo, mid, hi = gammaincinv(a, 0.05), gammaincinv(a, 0.5), gammaincinv(a, 0.95)
    assert time.perf_counter() - started < 0.5
    assert lo <= mid <= hi
    # Normal limit: (x - a) / sqrt(a) -> z; ±1.6449 at 5 % / 95 %, within O(1/sqrt(a)).
    if a < 1e30:
        assert (hi - a) / math.sqrt(a) == pytest.approx(1.6448536269514722, abs=1e-4)
        assert (lo - a) / math.sqrt(a) == pytest.approx(-1.6448536269514722, abs=1e-4)
    else:
        assert lo == mid == hi == a  # the spread is below an ulp of a


@pytest.mark.parametrize(("a", "p"), [
    (0, 0.5), (-1, 0.5), (math.nan, 0.5), (math.inf, 0.5), (True, 0.5), ("2", 0.5), (None, 0.5),
    (2, -0.1), (2, 1.1), (2, math.nan), (2, math.inf), (2, True), (2, "0.5"), (2, None),
])
def test_gammaincinv_bad_arguments(a: object, p: object) -> None:
    with pytest.raises(ValueError):
        gammaincinv(a, p)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ gammainc_pq


@pytest.mark.parametrize(("a", "x"), [
    (0.5, 1e-10), (0.5, 0.3), (0.5, 2.0), (1.0, 1.0), (2.7, 0.01), (2.7, 3.7), (3.0, 40.0),
    (10.0, 9.0), (10.0, 11.0), (37.0, 20.0), (37.0, 60.0), (100.0, 99.5), (100.0, 150.0),
    (1000.0, 900.0), (1000.0, 1001.0), (1000.0, 1100.0),
])
def test_gammainc_pq_matches_scipy(a: float, x: float) -> None:
    lower, upper = gammainc_pq(a, x)
    assert lower == pytest.approx(float(special.gammainc(a, x)), rel=1e-12)
    assert upper == pytest.approx(float(special.gammaincc(a, x)), rel=1e-12)


def test_gammainc_pq_tails_do_not_underflow_early() -> None:
    lower, upper = gammainc_pq(100.0, 1.0)  # P ~ 1e-158
    assert lower == pytest.approx(float(special.gammainc(100.0, 1.0)), rel=1e-12) and upper == 1.0
    lower, upper = gammainc_pq(2.0, 600.0)  # Q ~ 1e-258
    assert upper == pytest.approx(float(special.gammaincc(2.0, 600.0)), rel=1e-12) and lower == 1.0


def test_gammainc_pq_edges() -> None:
    assert gammainc_pq(2.0, 0.0) == (0.0, 1.0)
    assert gammainc_pq(2.0, math.inf) == (1.0, 0.0)
    with pytest.raises(ValueError):
        gammainc_pq(2.0, -1.0)
    with pytest.raises(ValueError):
        gammainc_pq(2.0, math.nan)
    with pytest.raises(ValueError):
        gammainc_pq(1e11, 1e11)  # the series would need ~3e6 terms: refused, not slow


# ------------------------------------------------------------------------------ Poisson interval


def _old_poisson_interval(n: int, conf: float) -> tuple[float, float]:
    """The formula detector.estimate used before, on scipy.special.gammaincinv."""
    if n == 0:
        return 0.0, float(special.gammaincinv(1.0, conf))
    alpha = 1.0 - conf
    return float(special.gammaincinv(n, alpha / 2)), float(special.gammaincinv(n + 1, 1.0 - alpha / 2))


@pytest.mark.parametrize("conf", [0.90, 0.95, 0.99])
def test_poisson_interval_matches_old_scipy_formula(conf: float) -> None:
    for n in [*range(201), 1000, 4096, 12345, 10**5, 10**6, 10**7]:
        lo, hi = poisson_interval(n, conf)
        old_lo, old_hi = _old_poisson_interval(n, conf)
        assert (lo == old_lo == 0.0) or _rel(lo, old_lo) <= 1e-10, (n, conf, lo, old_lo)
        assert _rel(hi, old_hi) <= 1e-10, (n, conf, hi, old_hi)


def test_poisson_interval_returns_floats() -> None:
    lo, hi = poisson_interval(7, 0.9)
    assert type(lo) is float and type(hi) is float


@pytest.mark.parametrize(("n", "conf"), [(-1, 0.9), (2.0, 0.9), (None, 0.9), (3, 0.0), (3, 1.0), (3, math.nan), (3, None)])
def test_poisson_interval_bad_arguments(n: object, conf: object) -> None:
    with pytest.raises(ValueError):
        poisson_interval(n, conf)  # type: ignore[arg-type]


def test_importing_estimate_does_not_load_scipy_or_numpy() -> None:
    code = "import sys, detector.estimate; assert 'scipy' not in sys.modules and 'numpy' not in sys.modules, sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'numpy'))"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
