"""Exact integer samplers for differential privacy: rational parameters, no floating point.

Every sampler here draws from its stated law exactly, given uniform random words: the
parameters are `fractions.Fraction` (or int), every probability is a ratio of integers, and
every coin is `UniformInts.chance`, which compares integers only. Floats would round the
probabilities and open the attacks on floating-point noise (Mironov, CCS 2012).

Sources of the algorithms:
- `bernoulli_exp`, `geometric_exp`, `discrete_laplace`, `discrete_gaussian`: Canonne, Kamath
  and Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
  arXiv:2004.00010, Algorithms 1, 2 and 3. Algorithm 2 samples scale t/s with a uniform on
  [0, t) and geometric steps of e^-1, so its cost does not grow with the scale.
- `polya` (negative binomial with real shape r): the geometric law is infinitely divisible,
  Geometric = sum of t independent NB(1/t) (Goryczka and Xiong, IEEE TDSC 2017; Balle et al.,
  "Private Summation in the Multi-Message Shuffle Model", CCS 2020), so t parties adding
  `polya_difference(1/t, gamma)` each make the sum exactly discrete Laplace of scale 1/gamma.
  Sampled by rejection from a `geometric_exp(gamma)` proposal: the target/proposal ratio is
  (1 - e^-gamma)^(r-1) c_k with c_k = prod_{j<k} (j + r)/(j + 1) <= 1, so a proposal k is
  accepted with probability c_k, a rational evaluated in blocks of the chain.
- `poisson`: Poisson(1) by rejection from Geometric(1/2) (accept k with probability
  2^(k-1)/k!, acceptance e/4); Poisson(n + f) = n Poisson(1) + Poisson(f), and Poisson(f),
  f < 1, by binomial thinning of a Poisson(1) with Bernoulli(f) coins (Devroye, "Non-Uniform
  Random Variate Generation", 1986, ch. X). `skellam`: Agarwal, Kairouz and Liu, "The Skellam
  Mechanism for Differentially Private Federated Learning", NeurIPS 2021.

Costs (pure Python): Bernoulli, exp, geometric, Laplace, Gaussian: O(1) expected whatever
the scale. Polya: about (1 - e^-gamma)^(r-1) proposals (grows like scale^(1-r)) plus
e^-gamma / (1 - e^-gamma) chain steps (grows like the scale); see `expected_polya_cost`.
Poisson and Skellam: O(lam) Poisson(1) draws. Callers pick `mpcnode.core.vector_samplers`
for long vectors where these costs are too high, and label the result accordingly.

Security assumptions: the words come from the OS CSPRNG (`SystemRandomSource`); tests alone
pass a seeded stand-in. The running time depends on the sampled value (rejection loops, and
Polya's chain is longer for larger draws), so it is not constant-time. The node draws its
noise at Prepare, before the round opens, so the draw is not timed by any message that
carries an input, a share or a result; what remains is that a party timing the Prepare reply
very finely could learn a little about the size of that node's own noise share.
"""

from __future__ import annotations

import math
from fractions import Fraction
from math import factorial, isqrt

import numpy as np
import numpy.typing as npt

from mpcnode.core.randomness import UniformInts
from mpcnode.errors import InvalidInput

I64 = npt.NDArray[np.int64]
_CHAIN_BLOCK = 64
"""Most Polya chain steps folded into one exact Bernoulli (one big-integer comparison)."""
_FIXED_COST, _PROPOSAL_COST, _CHAIN_STEP_COST, _POISSON_ONE_COST = 5.0, 1.5, 0.2, 0.7
"""Calibrated work units (~microseconds) for the cost estimates below."""
_LAZY_STEPS = 8
"""Polya proposal steps revealed one coin at a time before the rest is drawn at once."""


def _rational(name: str, value: Fraction | int, *, positive: bool = False) -> Fraction:
    """Return `value` as a Fraction, refusing floats (inexact) and negatives."""
    if isinstance(value, bool) or not isinstance(value, Fraction | int):
        raise InvalidInput(f"{name} must be an int or a fractions.Fraction, got {value!r}")
    exact = Fraction(value)
    if exact < 0 or (positive and exact == 0):
        raise InvalidInput(f"{name} must be {'> 0' if positive else '>= 0'}, got {exact}")
    return exact


def _length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InvalidInput(f"length must be an integer >= 0, got {length!r}")
    return length


# --- integer kernels: parameters as (numerator, denominator) pairs -------------------------


def _bern_exp_unit(num: int, den: int, u: UniformInts) -> bool:
    """True with probability exp(-num/den) for 0 <= num/den <= 1 (CKS Algorithm 1)."""
    k = 1
    while u.chance(num, den * k):
        k += 1
    return k % 2 == 1


def _bern_exp(num: int, den: int, u: UniformInts) -> bool:
    """True with probability exp(-num/den), num/den >= 0: whole part as e^-1 coins."""
    whole, rest = divmod(num, den)
    for _ in range(whole):
        if not _bern_exp_unit(1, 1, u):
            return False
    return _bern_exp_unit(rest, den, u)


def _geometric(s: int, t: int, u: UniformInts) -> int:
    """P(k) = (1 - e^-(s/t)) e^-(k s/t), k >= 0 (CKS Algorithm 2, steps 1-5)."""
    while True:
        low = u.below(t)
        if _bern_exp_unit(low, t, u):
            break
    steps = 0
    while _bern_exp_unit(1, 1, u):
        steps += 1
    return (low + t * steps) // s


def _laplace(t: int, s: int, u: UniformInts) -> int:
    """P(x) proportional to exp(-|x| s/t) (CKS Algorithm 2): signed geometric, -0 refused."""
    while True:
        magnitude = _geometric(s, t, u)
        negative = u.word() >> 63
        if not (negative and magnitude == 0):
            return -magnitude if negative else magnitude


def _gaussian(n: int, d: int, u: UniformInts) -> int:
    """P(x) proportional to exp(-x^2 d / (2n)) (CKS Algorithm 3), sigma^2 = n/d."""
    t = isqrt(n // d) + 1  # floor(sigma) + 1
    while True:
        y = _laplace(t, 1, u)
        # gamma = (|y| - sigma^2/t)^2 / (2 sigma^2), over the common denominator 2 n d t^2
        gap = abs(y) * d * t - n
        if _bern_exp(gap * gap, 2 * n * d * t * t, u):
            return y


def _chain_survives(a: int, b: int, start: int, k: int, u: UniformInts) -> bool:
    """True with probability prod_{start <= j < k} (j + a/b)/(j + 1), exactly.

    Folds the chain's Bernoulli((j b + a)/((j + 1) b)) steps into blocks that double in
    length (up to 64 steps), one exact Bernoulli of the block's product each: the same law
    as stopping at the first failed step, with far fewer coins.
    """
    j = start
    while j < k:
        stop = min(k, j + min(_CHAIN_BLOCK, j + 1))
        num = math.prod(range(j * b + a, stop * b + a, b))  # prod (i b + a), j <= i < stop
        den = math.prod(range((j + 1) * b, (stop + 1) * b, b))  # prod (i + 1) b
        if not u.chance(num, den):
            return False
        j = stop
    return True


def _polya(a: int, b: int, s: int, t: int, u: UniformInts) -> int:
    """NB(r = a/b, p = 1 - e^-(s/t)) by rejection from a geometric proposal (module doc).

    The proposal K is revealed lazily for its first steps: K > j given K >= j has probability
    e^-gamma (memoryless), so each early step is one e^-gamma coin and one chain coin, and
    most rejected proposals (the first chain coin fails with probability 1 - r) never pay for
    a full geometric draw. Past `_LAZY_STEPS` the rest of K is one geometric draw.
    """
    if a == b:  # shape 1: the proposal is the target
        return _geometric(s, t, u)
    while True:
        k = 0
        while k < _LAZY_STEPS:
            if not _bern_exp(s, t, u):
                return k  # K == k and every chain step below k passed
            if not u.chance(k * b + a, (k + 1) * b):
                break
            k += 1
        else:
            k += _geometric(s, t, u)
            if _chain_survives(a, b, _LAZY_STEPS, k, u):
                return k


def _poisson_one(u: UniformInts) -> int:
    """Poisson(1) by rejection from Geometric(1/2): accept k with probability 2^(k-1)/k!."""
    while True:
        k = 0
        while True:  # trailing one bits of uniform words: P(k) = 2^-(k+1)
            word = u.word()
            ones = (word ^ (word + 1)).bit_length() - 1
            k += ones
            if ones < 64:
                break
        if k == 0:
            if u.word() >> 63:  # accept with probability 2^-1 / 0! = 1/2
                return 0
        elif k <= 2 or u.chance(1 << (k - 1), factorial(k)):
            return k


def _poisson(n: int, d: int, u: UniformInts) -> int:
    """Poisson(n/d): floor(n/d) Poisson(1) draws plus a thinned Poisson(1) for the fraction."""
    whole, rest = divmod(n, d)
    total = sum(_poisson_one(u) for _ in range(whole))
    if rest:
        total += sum(u.chance(rest, d) for _ in range(_poisson_one(u)))
    return total


# --- public scalars ------------------------------------------------------------------------


def bernoulli(p: Fraction | int, u: UniformInts) -> bool:
    """True with probability exactly p, 0 <= p <= 1."""
    q = _rational("p", p)
    if q > 1:
        raise InvalidInput(f"p must be <= 1, got {q}")
    return u.chance(q.numerator, q.denominator)


def bernoulli_exp(gamma: Fraction | int, u: UniformInts) -> bool:
    """True with probability exp(-gamma), gamma >= 0 (CKS Algorithm 1; O(1 + gamma) coins)."""
    g = _rational("gamma", gamma)
    return _bern_exp(g.numerator, g.denominator, u)


def geometric_exp(gamma: Fraction | int, u: UniformInts) -> int:
    """P(k) = (1 - e^-gamma) e^(-gamma k), k >= 0, gamma > 0."""
    g = _rational("gamma", gamma, positive=True)
    return _geometric(g.numerator, g.denominator, u)


def discrete_laplace(scale: Fraction | int, u: UniformInts) -> int:
    """P(x) proportional to exp(-|x|/scale), scale > 0 (CKS Algorithm 2; O(1) at any scale)."""
    sc = _rational("scale", scale, positive=True)
    return _laplace(sc.numerator, sc.denominator, u)


def discrete_gaussian(sigma2: Fraction | int, u: UniformInts) -> int:
    """P(x) proportional to exp(-x^2 / (2 sigma2)), sigma2 > 0 (CKS Algorithm 3)."""
    v = _rational("sigma2", sigma2, positive=True)
    return _gaussian(v.numerator, v.denominator, u)


def _polya_params(shape: Fraction | int, gamma: Fraction | int) -> tuple[int, int, int, int]:
    r = _rational("shape", shape, positive=True)
    if r > 1:
        raise InvalidInput(f"shape must be <= 1 for the exact Polya sampler, got {r}")
    g = _rational("gamma", gamma, positive=True)
    return r.numerator, r.denominator, g.numerator, g.denominator


def polya(shape: Fraction | int, gamma: Fraction | int, u: UniformInts) -> int:
    """Negative binomial: P(k) = G(k+r)/(G(r) k!) (1 - e^-g)^r e^(-g k), 0 < r <= 1, g > 0."""
    return _polya(*_polya_params(shape, gamma), u)


def polya_difference(shape: Fraction | int, gamma: Fraction | int, u: UniformInts) -> int:
    """polya - polya (independent): one node's share of discrete Laplace noise (module doc)."""
    a, b, s, t = _polya_params(shape, gamma)
    return _polya(a, b, s, t, u) - _polya(a, b, s, t, u)


def poisson(lam: Fraction | int, u: UniformInts) -> int:
    """Poisson(lam), lam >= 0; O(lam) expected work."""
    m = _rational("lam", lam)
    return _poisson(m.numerator, m.denominator, u)


def skellam(mu: Fraction | int, u: UniformInts) -> int:
    """Skellam: poisson(mu) - poisson(mu), mu >= 0 (variance 2 mu); O(mu) expected work."""
    m = _rational("mu", mu)
    return _poisson(m.numerator, m.denominator, u) - _poisson(m.numerator, m.denominator, u)


# --- public vectors: `length` independent draws as int64 ------------------------------------


def _int64(draws: list[int]) -> I64:
    try:
        return np.array(draws, dtype=np.int64)
    except OverflowError:
        raise InvalidInput("a draw does not fit in int64: the noise scale is too large") from None


def polya_difference_vector(
    length: int, shape: Fraction | int, gamma: Fraction | int, u: UniformInts
) -> I64:
    """`length` independent `polya_difference(shape, gamma)` draws."""
    a, b, s, t = _polya_params(shape, gamma)
    draws = [_polya(a, b, s, t, u) - _polya(a, b, s, t, u) for _ in range(_length(length))]
    return _int64(draws)


def discrete_laplace_vector(length: int, scale: Fraction | int, u: UniformInts) -> I64:
    """`length` independent `discrete_laplace(scale)` draws."""
    sc = _rational("scale", scale, positive=True)
    t, s = sc.numerator, sc.denominator
    return _int64([_laplace(t, s, u) for _ in range(_length(length))])


def discrete_gaussian_vector(length: int, sigma2: Fraction | int, u: UniformInts) -> I64:
    """`length` independent `discrete_gaussian(sigma2)` draws."""
    v = _rational("sigma2", sigma2, positive=True)
    n, d = v.numerator, v.denominator
    return _int64([_gaussian(n, d, u) for _ in range(_length(length))])


def skellam_vector(length: int, mu: Fraction | int, u: UniformInts) -> I64:
    """`length` independent `skellam(mu)` draws."""
    m = _rational("mu", mu)
    n, d = m.numerator, m.denominator
    draws = [_poisson(n, d, u) - _poisson(n, d, u) for _ in range(_length(length))]
    return _int64(draws)


def expected_polya_cost(shape: Fraction | int, gamma: Fraction | int) -> float:
    """Rough expected work of one exact `polya` draw, in elementary draws (about 1 us each).

    Proposals: (1 - e^-gamma)^(r-1), about scale^(1-r), ~1.5 units each. Chain steps:
    e^-gamma / (1 - e^-gamma), about the scale, ~0.2 units each (folded into big-integer
    products). Plus ~5 units of fixed overhead. Calibrated on a 2-core x86-64 with CPython
    3.11 (benchmarks/bench_samplers.py), where a unit is about one microsecond. This is an
    estimate for choosing a sampler, not part of any sampler, so it may use floats.
    """
    a, b, s, t = _polya_params(shape, gamma)
    g = s / t
    success = -math.expm1(-g)  # 1 - e^-gamma, accurate for tiny gamma
    if a == b:
        return _FIXED_COST + _PROPOSAL_COST  # shape 1: one geometric draw, no chain
    proposals = math.pow(success, a / b - 1)
    chain_steps = math.exp(-g) / success
    return _FIXED_COST + _PROPOSAL_COST * proposals + _CHAIN_STEP_COST * chain_steps


def expected_poisson_cost(lam: Fraction | int) -> float:
    """Rough expected work of one exact `poisson(lam)` draw, in the units above (O(lam))."""
    m = _rational("lam", lam)
    return _FIXED_COST + _POISSON_ONE_COST * math.ceil(m)
