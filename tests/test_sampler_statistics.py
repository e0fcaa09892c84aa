"""Statistical tests of the DP samplers against their exact laws.

Every check is a hypothesis test with a false-alarm rate of about 1e-6: a chi-square test
(bins with expected count < 5 pooled with their neighbours, tails included) and a KS distance
on the integer CDF against the DKW bound sqrt(ln(2/1e-6) / (2N)). Runs use a seeded stand-in
source (PCG64; tests only) and a fixed AES key, so they are deterministic and cannot flake;
the thresholds are the ones a fresh seed would need. Power is shown, not assumed: the same
tests reject a sample against a 10% mis-scaled law, and the DP vote test catches a
mechanism whose noise is too small for its claimed epsilon.

Reference laws are computed here, in floating point (they are the yardstick, not a sampler):
discrete Laplace (1-a)/(1+a) a^|x|; discrete Gaussian normalized over +-12 sigma; negative
binomial, Poisson and Skellam from scipy.stats; sums and differences by convolution.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats  # type: ignore[import-untyped]
from seeded import SeededSource

from mpcnode.core import exact_samplers as ex
from mpcnode.core.randomness import UniformInts
from mpcnode.core.vector_samplers import VectorNoise

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
F = Fraction
ALARM = 1e-6


def _u(seed: int) -> UniformInts:
    return UniformInts(SeededSource(seed))


def _vn(seed: int) -> VectorNoise:
    return VectorNoise(seed.to_bytes(16, "little"))


# --- exact reference laws on an integer window --------------------------------------------


@dataclass(frozen=True)
class Law:
    """P(X = low + i) = pmf[i]; the window holds all but a negligible (< 1e-15) mass."""

    low: int
    pmf: F64

    @property
    def xs(self) -> I64:
        return np.arange(self.low, self.low + self.pmf.size, dtype=np.int64)

    def minus(self, other: Law) -> Law:
        """The law of X - Y for independent X ~ self, Y ~ other."""
        pmf = np.convolve(self.pmf, other.pmf[::-1])
        return Law(self.low - (other.low + other.pmf.size - 1), pmf)

    def plus(self, other: Law) -> Law:
        return Law(self.low + other.low, np.convolve(self.pmf, other.pmf))


def _normalized(low: int, weights: F64) -> Law:
    return Law(low, weights / weights.sum())


def dlap_law(scale: float) -> Law:
    a = math.exp(-1 / scale)
    k = math.ceil(40 * scale) + 10
    xs = np.arange(-k, k + 1)
    return _normalized(-k, (1 - a) / (1 + a) * a ** np.abs(xs).astype(np.float64))


def dgauss_law(sigma2: float) -> Law:
    k = math.ceil(12 * math.sqrt(sigma2)) + 5
    xs = np.arange(-k, k + 1).astype(np.float64)
    return _normalized(-k, np.exp(-(xs**2) / (2 * sigma2)))


def geometric_law(gamma: float) -> Law:
    k = math.ceil(40 / gamma) + 10
    return _normalized(0, np.exp(-gamma * np.arange(k + 1)))


def nbinom_law(shape: float, gamma: float) -> Law:
    p = -math.expm1(-gamma)
    top = math.ceil((40 + 3 * shape) / gamma + 20 * shape / gamma) + 50  # tail ~ e^-40
    return _normalized(0, stats.nbinom.pmf(np.arange(top + 1), shape, p))


def poisson_law(lam: float) -> Law:
    top = math.ceil(lam + 15 * math.sqrt(lam) + 40)  # tail < 1e-20
    return _normalized(0, stats.poisson.pmf(np.arange(top + 1), lam))


def skellam_law(mu: float) -> Law:
    return poisson_law(mu).minus(poisson_law(mu))


def bernoulli_law(p: float) -> Law:
    return Law(0, np.array([1 - p, p]))


# --- the two tests ------------------------------------------------------------------------


def _counts(sample: I64, law: Law) -> I64:
    inside = (sample >= law.low) & (sample < law.low + law.pmf.size)
    assert inside.all(), f"draws outside the law's support window: {sample[~inside][:5]}"
    return np.bincount(sample - law.low, minlength=law.pmf.size)


def chi_square_p(sample: I64, law: Law) -> float:
    """p-value of Pearson's chi-square, bins pooled left to right until expected >= 5."""
    observed, expected = _counts(sample, law), law.pmf * sample.size
    bins_o: list[float] = []
    bins_e: list[float] = []
    acc_o = acc_e = 0.0
    for o, e in zip(observed.tolist(), expected.tolist(), strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5:
            bins_o.append(acc_o)
            bins_e.append(acc_e)
            acc_o = acc_e = 0.0
    bins_o[-1] += acc_o  # the right tail joins the last full bin
    bins_e[-1] += acc_e
    o_arr, e_arr = np.array(bins_o), np.array(bins_e)
    statistic = float(((o_arr - e_arr) ** 2 / e_arr).sum())
    return float(stats.chi2.sf(statistic, len(bins_o) - 1))


def ks_distance(sample: I64, law: Law) -> float:
    empirical = np.cumsum(_counts(sample, law)) / sample.size
    return float(np.abs(empirical - np.cumsum(law.pmf)).max())


def dkw_bound(n: int) -> float:
    return math.sqrt(math.log(2 / ALARM) / (2 * n))


def assert_follows(sample: I64, law: Law) -> None:
    p = chi_square_p(sample, law)
    assert p > ALARM, f"chi-square rejects the law: p = {p:.3g}"
    d, bound = ks_distance(sample, law), dkw_bound(sample.size)
    assert d < bound, f"KS distance {d:.4g} exceeds the DKW bound {bound:.4g}"


def rejects(sample: I64, law: Law) -> bool:
    return chi_square_p(sample, law) < ALARM and ks_distance(sample, law) > dkw_bound(sample.size)


def _draw(n: int, seed: int, one: Callable[[UniformInts], int | bool]) -> I64:
    u = _u(seed)
    return np.array([int(one(u)) for _ in range(n)], dtype=np.int64)


# --- each exact sampler against its law ---------------------------------------------------

N_SCALAR = 40_000

EXACT_CASES: list[tuple[str, Callable[[UniformInts], int | bool], Law]] = [
    ("bernoulli 2/7", lambda u: ex.bernoulli(F(2, 7), u), bernoulli_law(2 / 7)),
    ("bernoulli_exp 1/2", lambda u: ex.bernoulli_exp(F(1, 2), u), bernoulli_law(math.exp(-0.5))),
    ("bernoulli_exp 7/3", lambda u: ex.bernoulli_exp(F(7, 3), u), bernoulli_law(math.exp(-7 / 3))),
    ("geometric 1/3", lambda u: ex.geometric_exp(F(1, 3), u), geometric_law(1 / 3)),
    ("geometric 7/3", lambda u: ex.geometric_exp(F(7, 3), u), geometric_law(7 / 3)),
    ("laplace 5/2", lambda u: ex.discrete_laplace(F(5, 2), u), dlap_law(2.5)),
    ("gaussian 4", lambda u: ex.discrete_gaussian(F(4), u), dgauss_law(4.0)),
    ("gaussian 50/3", lambda u: ex.discrete_gaussian(F(50, 3), u), dgauss_law(50 / 3)),
    ("gaussian 1/5", lambda u: ex.discrete_gaussian(F(1, 5), u), dgauss_law(0.2)),
    ("polya 1/3 1/5", lambda u: ex.polya(F(1, 3), F(1, 5), u), nbinom_law(1 / 3, 0.2)),
    ("polya 3/4 2", lambda u: ex.polya(F(3, 4), F(2), u), nbinom_law(0.75, 2.0)),
    ("poisson 1/3", lambda u: ex.poisson(F(1, 3), u), poisson_law(1 / 3)),
    ("poisson 1", lambda u: ex.poisson(F(1), u), poisson_law(1.0)),
    ("poisson 17/2", lambda u: ex.poisson(F(17, 2), u), poisson_law(8.5)),
    ("skellam 3", lambda u: ex.skellam(F(3), u), skellam_law(3.0)),
]


@pytest.mark.parametrize(
    ("case", "draw", "law"), EXACT_CASES, ids=[case[0] for case in EXACT_CASES]
)
def test_exact_sampler_follows_its_law(
    case: str, draw: Callable[[UniformInts], int | bool], law: Law
) -> None:
    assert_follows(_draw(N_SCALAR, zlib.crc32(case.encode()), draw), law)


@pytest.mark.parametrize(
    ("name", "vector", "law"),
    [
        ("laplace", lambda u: ex.discrete_laplace_vector(N_SCALAR, F(3), u), dlap_law(3.0)),
        ("gaussian", lambda u: ex.discrete_gaussian_vector(N_SCALAR, F(9), u), dgauss_law(9.0)),
        ("skellam", lambda u: ex.skellam_vector(N_SCALAR, F(5, 2), u), skellam_law(2.5)),
        (
            "polya_difference",
            lambda u: ex.polya_difference_vector(N_SCALAR, F(1, 2), F(1, 3), u),
            nbinom_law(0.5, 1 / 3).minus(nbinom_law(0.5, 1 / 3)),
        ),
    ],
)
def test_exact_vectors_follow_their_laws(
    name: str, vector: Callable[[UniformInts], I64], law: Law
) -> None:
    assert_follows(vector(_u(len(name))), law)


# --- discrete Laplace at scale 10: one sample, many checks --------------------------------

N_LAPLACE = 200_000


@pytest.fixture(scope="module")
def laplace10() -> I64:
    return ex.discrete_laplace_vector(N_LAPLACE, F(10), _u(2020))


def test_laplace_sample_fits_scale_10_and_rejects_a_misscale(laplace10: I64) -> None:
    assert_follows(laplace10, dlap_law(10.0))
    assert rejects(laplace10, dlap_law(11.0)), "not rejected against scale x 1.1"
    assert rejects(laplace10, dlap_law(9.0)), "not rejected against scale x 0.9"


def _symmetry_p(sample: I64) -> float:
    """Chi-square of count(k) vs count(-k) over k >= 1 with enough draws (each is 1/2 : 1/2)."""
    values, counts = np.unique(sample, return_counts=True)
    count = dict(zip(values.tolist(), counts.tolist(), strict=True))
    pairs = [(count.get(k, 0), count.get(-k, 0)) for k in range(1, int(values.max()) + 1)]
    pairs = [(a, b) for a, b in pairs if a + b >= 40]
    statistic = sum((a - b) ** 2 / (a + b) for a, b in pairs)
    return float(stats.chi2.sf(statistic, len(pairs)))


def test_laplace_is_symmetric(laplace10: I64) -> None:
    assert _symmetry_p(laplace10) > ALARM
    assert _symmetry_p(laplace10 + 1) < ALARM, "the symmetry test sees a shift of one"


def test_laplace_log_ratios_are_one_over_scale(laplace10: I64) -> None:
    magnitude = np.abs(laplace10)
    counts = np.bincount(magnitude)
    # point by point: log(P(k)/P(k+1)) = 1/scale wherever both counts are large
    points = [k for k in range(1, counts.size - 1) if min(counts[k], counts[k + 1]) >= 1000]
    assert len(points) >= 20
    z = stats.norm.isf(ALARM / (2 * len(points)))
    for k in points:
        ratio = math.log(counts[k] / counts[k + 1])
        stderr = math.sqrt(1 / counts[k] + 1 / counts[k + 1])
        assert abs(ratio - 0.1) < z * stderr, f"log-ratio at {k}: {ratio:.4f}"
    # pooled: |X| - 1 given |X| >= 1 is geometric, whose MLE gives the log-ratio
    tail = magnitude[magnitude >= 1] - 1.0
    mean = float(tail.mean())
    slope = math.log((1 + mean) / mean)
    stderr = math.sqrt(float(tail.var()) / tail.size) / (mean * (1 + mean))
    z1 = stats.norm.isf(ALARM / 2)
    assert abs(slope - 0.1) < z1 * stderr
    assert abs(slope - 1 / 11) > z1 * stderr and abs(slope - 1 / 9) > z1 * stderr


# --- the DP vote on neighbouring inputs ----------------------------------------------------


def _dp_violations(left: I64, right: I64, epsilon: float) -> list[str]:
    """Events S with enough mass where P[M(D) in S] > e^eps P[M(D') in S] beyond sampling."""
    n = left.size
    low, high = int(min(left.min(), right.min())), int(max(left.max(), right.max()))
    cl = np.bincount(left - low, minlength=high - low + 1).astype(np.float64) / n
    cr = np.bincount(right - low, minlength=high - low + 1).astype(np.float64) / n
    events = {  # cumulative sums may round a hair above 1
        "point": (cl, cr),
        "at most": (np.minimum(np.cumsum(cl), 1), np.minimum(np.cumsum(cr), 1)),
        "at least": (
            np.minimum(np.cumsum(cl[::-1])[::-1], 1),
            np.minimum(np.cumsum(cr[::-1])[::-1], 1),
        ),
    }
    tests = [
        (name, low + i, p, q)
        for name, (ps, qs) in events.items()
        for i, (p, q) in enumerate(zip(ps.tolist(), qs.tolist(), strict=True))
        if min(p, q) * n >= 200
    ]
    z = stats.norm.isf(ALARM / (4 * len(tests)))
    bound = math.exp(epsilon)
    found = []
    for name, value, p, q in tests:
        tolerance = z * (math.sqrt(p * (1 - p) / n) + bound * math.sqrt(q * (1 - q) / n))
        if p > bound * q + tolerance or q > bound * p + tolerance:
            found.append(f"{name} {value}: {p:.4f} vs {q:.4f}")
    return found


def test_dp_vote_on_neighbouring_counts() -> None:
    epsilon, n = 1.0, 100_000
    u = _u(77)
    on_d = 10 + ex.discrete_laplace_vector(n, 1 / F(1), u)
    on_d_prime = 11 + ex.discrete_laplace_vector(n, 1 / F(1), u)
    assert _dp_violations(on_d, on_d_prime, epsilon) == []
    # power: noise scaled for epsilon = 1.5 breaks the epsilon = 1 claim, and the vote sees it
    weak = 11 + ex.discrete_laplace_vector(n, F(2, 3), u)
    assert _dp_violations(10 + ex.discrete_laplace_vector(n, F(2, 3), u), weak, epsilon)


def test_dp_vote_on_summed_polya_shares() -> None:
    epsilon, n, t = 1.0, 100_000, 3
    v = _vn(5)
    shares = [v.polya_difference(n, 1 / t, math.exp(-epsilon)) for _ in range(2 * t)]
    on_d, on_d_prime = 10 + np.sum(shares[:t], axis=0), 11 + np.sum(shares[t:], axis=0)
    assert _dp_violations(on_d, on_d_prime, epsilon) == []


# --- sums of node shares -------------------------------------------------------------------

N_SHARES_EXACT = 8_000
SHARE_CASES = [(n, t) for n in (3, 4, 5, 8) for t in (2, 3, 4) if n >= t]


def _polya_total_law(n: int, t: int, gamma: float) -> Law:
    """n honest shares of polya_difference(1/t): NB(n/t) - NB(n/t); with n = t, DLap(1/gamma)."""
    if n == t:
        return dlap_law(1 / gamma)
    nb = nbinom_law(n / t, gamma)
    return nb.minus(nb)


def _at(law: Law, xs: I64) -> F64:
    inside = (xs >= law.low) & (xs < law.low + law.pmf.size)
    return np.where(inside, law.pmf[np.clip(xs - law.low, 0, law.pmf.size - 1)], 0.0)


def test_the_reference_laws_agree_with_each_other() -> None:
    xs = np.arange(-200, 201, dtype=np.int64)
    via_nb = nbinom_law(1.0, 0.5).minus(nbinom_law(1.0, 0.5))  # NB(1) is geometric
    assert np.abs(_at(via_nb, xs) - _at(dlap_law(2.0), xs)).max() < 1e-12
    halves = nbinom_law(0.5, 0.5).plus(nbinom_law(0.5, 0.5))  # divisibility of the geometric
    assert np.abs(_at(halves, xs) - _at(geometric_law(0.5), xs)).max() < 1e-12
    assert np.abs(_at(skellam_law(2.5), xs) - stats.skellam.pmf(xs, 2.5, 2.5)).max() < 1e-12


@pytest.mark.parametrize(("n", "t"), [(3, 3), (4, 4), (3, 2), (5, 4), (8, 2)])
def test_exact_polya_shares_sum_to_the_right_law(n: int, t: int) -> None:
    u, gamma = _u(100 * n + t), F(1, 2)
    total = sum(ex.polya_difference_vector(N_SHARES_EXACT, F(1, t), gamma, u) for _ in range(n))
    assert_follows(np.asarray(total, dtype=np.int64), _polya_total_law(n, t, 0.5))


@pytest.mark.parametrize(("n", "t"), [(3, 3), (4, 2), (8, 4)])
def test_exact_skellam_shares_sum_to_the_right_law(n: int, t: int) -> None:
    u, variance = _u(200 * n + t), 4
    share = F(variance, 2 * t)
    total = sum(ex.skellam_vector(N_SHARES_EXACT, share, u) for _ in range(n))
    assert_follows(np.asarray(total, dtype=np.int64), skellam_law(n * variance / (2 * t)))


# --- the vectorized path: the same laws, at larger sizes ------------------------------------

N_VECTOR = 200_000


@pytest.mark.parametrize(("n", "t"), SHARE_CASES)
def test_vectorized_polya_shares_sum_to_the_right_law(n: int, t: int) -> None:
    v, gamma = _vn(n * 10 + t), 0.2
    total = sum(v.polya_difference(N_VECTOR, 1 / t, math.exp(-gamma)) for _ in range(n))
    assert_follows(np.asarray(total, dtype=np.int64), _polya_total_law(n, t, gamma))


@pytest.mark.parametrize(("n", "t"), SHARE_CASES)
def test_vectorized_skellam_shares_sum_to_the_right_law(n: int, t: int) -> None:
    v, variance = _vn(n * 10 + t + 1000), 60
    total = sum(v.skellam(N_VECTOR, variance / (2 * t)) for _ in range(n))
    assert_follows(np.asarray(total, dtype=np.int64), skellam_law(n * variance / (2 * t)))


@pytest.mark.parametrize(
    ("name", "draw", "law"),
    [
        ("laplace 10", lambda v: v.discrete_laplace(N_VECTOR, 10.0), dlap_law(10.0)),
        ("laplace 0.7", lambda v: v.discrete_laplace(N_VECTOR, 0.7), dlap_law(0.7)),
        ("skellam 0.4", lambda v: v.skellam(N_VECTOR, 0.4), skellam_law(0.4)),
        ("skellam 9.9 table", lambda v: v.skellam(N_VECTOR, 9.9), skellam_law(9.9)),
        ("skellam 10 ptrs", lambda v: v.skellam(N_VECTOR, 10.0), skellam_law(10.0)),
        ("skellam 400", lambda v: v.skellam(N_VECTOR, 400.0), skellam_law(400.0)),
        (
            "polya 2.5",
            lambda v: v.polya_difference(N_VECTOR, 2.5, math.exp(-0.3)),
            nbinom_law(2.5, 0.3).minus(nbinom_law(2.5, 0.3)),
        ),
        (
            "polya 1/4 scale 1000, 4 shares",
            lambda v: sum(v.polya_difference(N_VECTOR, 0.25, math.exp(-1e-3)) for _ in range(4)),
            dlap_law(1000.0),
        ),
    ],
)
def test_vectorized_laws(name: str, draw: Callable[[VectorNoise], I64], law: Law) -> None:
    assert_follows(np.asarray(draw(_vn(len(name))), dtype=np.int64), law)


def test_vectorized_laplace_rejects_a_misscale() -> None:
    sample = _vn(9).discrete_laplace(N_VECTOR, 10.0)
    assert rejects(sample, dlap_law(11.0)) and rejects(sample, dlap_law(9.0))
    assert _symmetry_p(sample) > ALARM
