"""Vectorized DP noise for long vectors on an AES-CTR stream: fast, close to exact, labelled.

The exact samplers (`mpcnode.core.exact_samplers`) cost microseconds per element, and for
Polya and Skellam their cost grows with the scale; a vector of 10^7 elements needs something
else. `VectorNoise` draws 64-bit words from `randomgen.AESCounter` (AES-128 in counter mode,
AES-NI) and turns them into noise with numpy array arithmetic in float64:

- discrete Laplace: the difference of two geometrics, floor(-scale log U);
- Poisson(mu): inversion of a float CDF table for mu < 10, else Hormann's transformed
  rejection PTRS ("The transformed rejection method for generating Poisson random
  variables", Insurance: Mathematics and Economics, 1993);
- negative binomial NB(r, 1 - alpha): a compound Poisson, Poisson(-r log(1 - alpha)) jumps
  of law Logarithmic(alpha), sampled by Kemp's algorithm LK ("Efficient generation of
  logarithmically distributed pseudo-random variables", Applied Statistics, 1981). Its cost
  grows only with log(scale), so it suits any scale (and shapes up to 64).

These transforms round (float64 logs and exps, 53-bit uniforms), so the laws are right only
to about float64 precision (events rarer than 2^-53 never occur) and are NOT exact: results
that use this path are labelled `VECTORIZED`, exact ones `EXACT`. The samplers never call a
seedable numpy generator: only the bit generator's raw words are used, so the one stream is
the keyed AES-CTR stream.

Security assumptions: AES-128 in counter mode is a pseudorandom function, so the stream is
unpredictable to anyone without the key. The key is 16 bytes from `os.urandom`, held only by
the object (never logged; the bit generator's `state` property would reveal it, so it is
never exposed). Production code constructs `VectorNoise()` without a key; only tests pass a
fixed one, and a test checks that `AESCounter(` appears in this module alone. Running time
depends on the sampled values (rejection loops) only weakly, through the number of redraws
and jumps; as for the exact samplers, noise is drawn at Prepare, before the round opens.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from randomgen import AESCounter

from mpcnode.errors import InvalidInput

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

EXACT = "exact"
VECTORIZED = "vectorized-aes-ctr"

KEY_BYTES = 16
"""AES-128: randomgen's AESCounter takes a 128-bit key."""
_MAX_SCALE = float(1 << 48)
"""Largest scale or mean accepted: keeps every draw and intermediate far inside int64."""
_CHUNK = 1 << 16
"""Uniforms drawn per piece: bounds the float temporaries (see `VectorNoise._chunked`)."""
_TABLE_MU = 10.0
"""Poisson means below this use table inversion, at or above it PTRS (as numpy does)."""
_LOG_FACTORIALS = np.array([math.lgamma(k + 1.0) for k in range(16)], dtype=np.float64)


def _log_factorial(k: F64) -> F64:
    """log(k!) for k >= 0 (float array): a table below 16, Stirling's series above."""
    x = np.maximum(k, 15.0) + 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    stirling = (x - 0.5) * np.log(x) - x + 0.5 * math.log(2 * math.pi) + series
    small = _LOG_FACTORIALS[np.minimum(k, 15.0).astype(np.int64)]
    return np.where(k < 16, small, stirling)


def _number(x: float) -> str:
    """A limit or parameter for a message: 2^48 as 2^48, 1 - 2^-48 as such, big ones with log2."""
    if not (x > 0 and math.isfinite(x)):
        return f"{x:.6g}"
    exponent = math.log2(x)
    if exponent.is_integer() and abs(exponent) >= 10 and x == 2.0**exponent:
        return f"2^{exponent:.0f}"
    if 0 < 1 - x < 2**-20:  # would print as 1
        return f"1 - {_number(1 - x)}"
    if x >= 1024 or x < 2**-10:
        return f"{x:.6g} (2^{exponent:.2f})"
    return f"{x:.6g}"


def _check(
    name: str, value: float | Fraction, *, low: float, high: float, open_low: bool = True
) -> float:
    """Return `value` as a float if low < value <= high (or low <= value), else refuse it."""
    if isinstance(value, bool) or not isinstance(value, float | int | Fraction):
        raise InvalidInput(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # a Fraction or int beyond the doubles
        x = math.inf
    below = x <= low if open_low else x < low
    if not math.isfinite(x) or below or x > high:
        bound = "(" if open_low else "["
        raise InvalidInput(
            f"{name} must be in {bound}{_number(low)}, {_number(high)}], got {_number(x)}"
        )
    return x


def check_polya_difference(shape: float | Fraction, alpha: float | Fraction) -> tuple[float, float]:
    """The parameters of `VectorNoise.polya_difference` as floats; InvalidInput if out of range.

    Public so a noise plan can refuse, up front and from the spec alone, parameters that this
    sampler would refuse when the noise is drawn (`mpcnode.core.mechanisms.plan_noise`).
    """
    return (
        _check("shape", shape, low=0.0, high=64.0),
        _check("alpha", alpha, low=0.0, high=1.0 - 2.0**-48),
    )


def check_skellam(mu: float | Fraction) -> float:
    """The mean of `VectorNoise.skellam` as a float; InvalidInput unless 0 <= mu <= 2^48."""
    return _check("mu", mu, low=0.0, high=_MAX_SCALE, open_low=False)


def check_discrete_laplace(scale: float | Fraction) -> float:
    """The scale of `VectorNoise.discrete_laplace` as a float; InvalidInput unless in (0, 2^48]."""
    return _check("scale", scale, low=0.0, high=_MAX_SCALE)


def _length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InvalidInput(f"length must be an integer >= 0, got {length!r}")
    return length


class VectorNoise:
    """Vectorized draws on randomgen.AESCounter keyed with 16 bytes from os.urandom.

    Floating-point transforms (compound Poisson, PTRS, logarithms): NOT exact; results using
    it are labelled VECTORIZED. Not thread-safe: one instance per task.
    """

    def __init__(self, key: bytes | None = None) -> None:
        """`key=None` draws a fresh key from os.urandom (the only production use)."""
        if key is None:
            key = os.urandom(KEY_BYTES)
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInput(f"an AES-CTR key is {KEY_BYTES} bytes")
        self._bits = AESCounter(key=int.from_bytes(key, "little"))

    def __repr__(self) -> str:  # never show the key-bearing state
        return "VectorNoise(<AES-CTR, key hidden>)"

    def _uniform(self, length: int) -> F64:
        """Uniform doubles on (0, 1], 53 bits each (never 0, so log is finite)."""
        raw: npt.NDArray[np.uint64] = self._bits.random_raw(length)
        return ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53

    # --- laws ------------------------------------------------------------------------------

    def _geometric(self, length: int, scale: float) -> I64:
        """P(k) = (1 - a) a^k with a = exp(-1/scale): floor of an exponential of mean scale."""
        return np.floor(-scale * np.log(self._uniform(length))).astype(np.int64)

    def _poisson(self, length: int, mu: float) -> I64:
        if mu == 0.0 or length == 0:
            return np.zeros(length, dtype=np.int64)
        if mu < _TABLE_MU:
            return self._poisson_table(length, mu)
        return self._poisson_ptrs(length, mu)

    def _poisson_table(self, length: int, mu: float) -> I64:
        """Inversion: the number of CDF points at or below a uniform on [0, 1)."""
        top = int(mu + 20.0 * math.sqrt(mu) + 40.0)
        pmf = np.empty(top + 1, dtype=np.float64)
        pmf[0] = math.exp(-mu)
        for k in range(1, top + 1):
            pmf[k] = pmf[k - 1] * mu / k
        cdf = np.cumsum(pmf)
        draws = np.searchsorted(cdf, 1.0 - self._uniform(length), side="right")
        return np.minimum(draws, top).astype(np.int64)

    def _poisson_ptrs(self, length: int, mu: float) -> I64:
        """Hormann's PTRS for mu >= 10, vectorized: redraw only the rejected positions."""
        slam, loglam = math.sqrt(mu), math.log(mu)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        log_inv_alpha = math.log(1.1239 + 1.1328 / (b - 3.4))
        vr = 0.9277 - 3.6224 / (b - 2)
        out = np.empty(length, dtype=np.int64)
        todo = np.arange(length)
        while todo.size:
            n = todo.size
            uu = self._uniform(n) - 0.5
            v = self._uniform(n)
            us = 0.5 - np.abs(uu)
            k = np.floor((2 * a / us + b) * uu + mu + 0.43)
            quick = (us >= 0.07) & (v <= vr)
            possible = (k >= 0) & ~((us < 0.013) & (v > us))
            safe_k = np.maximum(k, 0.0)
            lhs = np.log(v) + log_inv_alpha - np.log(a / (us * us) + b)
            slow = possible & (lhs <= -mu + safe_k * loglam - _log_factorial(safe_k))
            accept = quick | slow
            out[todo[accept]] = k[accept].astype(np.int64)
            todo = todo[~accept]
        return out

    def _logarithmic(self, length: int, alpha: float) -> I64:
        """Kemp's LK: P(k) = -alpha^k / (k log(1 - alpha)), k >= 1."""
        v = self._uniform(length)
        q = -np.expm1(math.log1p(-alpha) * self._uniform(length))
        with np.errstate(divide="ignore"):
            tail = np.floor(1.0 + np.log(v) / np.log(q))
        draws = np.where(v <= q * q, tail, np.where(v <= q, 2.0, 1.0))
        return np.where(v >= alpha, 1.0, draws).astype(np.int64)

    def _negative_binomial(self, length: int, shape: float, alpha: float) -> I64:
        """NB(shape, p = 1 - alpha), counting failures: a Poisson number of log jumps each."""
        jumps = self._poisson(length, -shape * math.log1p(-alpha))
        values = self._logarithmic(int(jumps.sum()), alpha)
        ends = np.cumsum(jumps)
        running: I64 = np.concatenate(([0], np.cumsum(values)))
        draws: I64 = running[ends] - running[ends - jumps]
        return draws

    # --- public ----------------------------------------------------------------------------

    def _chunked(self, length: int, draw: Callable[[int], I64], per_element: float = 1.0) -> I64:
        """Fill `length` draws in pieces of about `_CHUNK` uniforms, whatever the vector size.

        `per_element` is the expected number of uniforms one element consumes, so the float
        temporaries stay a few MiB even at 10^7 elements.
        """
        out = np.empty(_length(length), dtype=np.int64)
        chunk = max(256, int(_CHUNK / per_element))
        with np.errstate(divide="ignore", invalid="ignore"):  # 0-probability edges, masked out
            for start in range(0, out.size, chunk):
                stop = min(start + chunk, out.size)
                out[start:stop] = draw(stop - start)
        return out

    def polya_difference(
        self, length: int, shape: float | Fraction, alpha: float | Fraction
    ) -> I64:
        """NB(shape, p=1-alpha) - NB(shape, p=1-alpha), independent; 0 < shape <= 64.

        With shape = 1/t and alpha = exp(-1/scale), t such shares sum to discrete Laplace.
        numpy's convention: NB counts failures, P(k) = G(k+r)/(G(r) k!) (1-alpha)^r alpha^k.
        """
        r, a = check_polya_difference(shape, alpha)
        jumps = -r * math.log1p(-a)  # expected log jumps per NB draw, each two uniforms
        return self._chunked(
            length,
            lambda n: self._negative_binomial(n, r, a) - self._negative_binomial(n, r, a),
            per_element=2.0 + 4.0 * jumps,
        )

    def skellam(self, length: int, mu: float | Fraction) -> I64:
        """Poisson(mu) - Poisson(mu), independent; 0 <= mu <= 2^48 (variance 2 mu)."""
        m = check_skellam(mu)
        return self._chunked(length, lambda n: self._poisson(n, m) - self._poisson(n, m))

    def discrete_laplace(self, length: int, scale: float | Fraction) -> I64:
        """P(x) proportional to exp(-|x|/scale), 0 < scale <= 2^48: two geometrics' difference."""
        sc = check_discrete_laplace(scale)
        return self._chunked(length, lambda n: self._geometric(n, sc) - self._geometric(n, sc))
