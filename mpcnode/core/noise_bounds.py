"""How big the noise in a result is: standard deviations and tail bounds of the noise laws.

These numbers go into the published result (so a reader can compute intervals) and into
the overflow check (the noise must not wrap the ring). They describe the *total* noise of
a result, in encoded integer units, as a law with exact parameters:

- `PolyaDifference(shape, alpha)`: NB(shape, alpha) - NB(shape, alpha). With distributed
  discrete Laplace, h contributors each adding NB(1/t) - NB(1/t) give shape h/t; shape 1 is
  the discrete Laplace law with alpha = exp(-1/scale).
- `SkellamLaw(lam)`: Poisson(lam) - Poisson(lam), variance 2*lam.
- `SubGaussian(sigma2)`: the discrete Gaussian, which is sigma2-subgaussian with variance
  at most sigma2 (Canonne-Kamath-Steinke 2020, Cor. 9 and Prop. 19).

Interval half-widths come from the Chernoff bound P(|X| >= m) <= 2 min_s E[e^(sX)] e^(-sm),
so they hold with at least the stated probability, never less (a normal approximation
would understate the heavier tails of the Laplace-like laws). Floating point is fine here:
these are descriptions of the noise, not the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mpcnode.errors import InvalidInput

RING_HALF = 1 << 63
"""The signed 64-bit ring holds |x| < 2^63: noise must stay far inside it."""
FLOAT_SAFE_VARIANCE = Fraction(1 << 512)
"""Noise variances below this (standard deviations below 2^256) keep every float that
describes the noise (scales, 1 - e^-gamma, its square, tail bounds) far inside the doubles,
whose range ends near 2^1024 and 2^-1022; such noise is already far too wide for the ring."""


class NoiseLaw(Protocol):
    """A symmetric integer noise law, described by its variance and moment generator."""

    def variance(self) -> float:
        """Var[X] (an upper bound where only a bound is known)."""
        ...

    def log_mgf(self, s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """ln E[exp(s X)] (or an upper bound) for s in (0, s_max())."""
        ...

    def s_max(self) -> float:
        """The moment generating function is finite on (0, s_max)."""
        ...

    def pmf_support(self) -> float:
        """A half-width beyond which the probability mass is negligible (< 1e-15)."""
        ...

    def characteristic(self, theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """E[exp(i theta X)] (real, since the law is symmetric)."""
        ...


@dataclass(frozen=True)
class PolyaDifference:
    """NB(shape, a) - NB(shape, a) with a = exp(-gamma), NB counting failures (success 1-a).

    Parameterized by gamma, not a, because a rounds to 1.0 in floating point for the tiny
    gammas of fine fixed-point scales.
    """

    shape: float
    gamma: float

    def variance(self) -> float:
        """2 * shape * a / (1 - a)^2."""
        return 2 * self.shape * math.exp(-self.gamma) / math.expm1(-self.gamma) ** 2

    def log_mgf(self, s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """shape * (2 ln(1-a) - ln(1 - a e^s) - ln(1 - a e^-s))."""
        g = self.gamma
        return self.shape * (
            2 * math.log(-math.expm1(-g)) - np.log(-np.expm1(s - g)) - np.log(-np.expm1(-s - g))
        )

    def s_max(self) -> float:
        """E[e^(sX)] is finite while a e^s < 1."""
        return self.gamma

    def pmf_support(self) -> float:
        """Roughly where the mass ends (about 40 scales)."""
        return 40 * self.shape / -math.expm1(-self.gamma) + 40

    def characteristic(self, theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """E[e^(i theta X)]: real, ((1-a)^2 / |1 - a e^(i theta)|^2)^shape."""
        a = math.exp(-self.gamma)
        return (math.expm1(-self.gamma) ** 2 / (1 - 2 * a * np.cos(theta) + a * a)) ** self.shape


@dataclass(frozen=True)
class SkellamLaw:
    """Poisson(lam) - Poisson(lam)."""

    lam: float

    def variance(self) -> float:
        """2 * lam."""
        return 2 * self.lam

    def log_mgf(self, s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """lam * (e^s + e^-s - 2)."""
        return self.lam * (np.exp(s) + np.exp(-s) - 2)

    def s_max(self) -> float:
        """Finite for every s; the search stops where the bound stops improving."""
        return 50.0 / math.sqrt(max(self.lam, 1e-9)) + 50.0

    def pmf_support(self) -> float:
        """Roughly where the mass ends."""
        return 40 * math.sqrt(2 * self.lam) + 40

    def characteristic(self, theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """E[e^(i theta X)] = exp(2 lam (cos theta - 1))."""
        return np.exp(2 * self.lam * (np.cos(theta) - 1))


@dataclass(frozen=True)
class SubGaussian:
    """The discrete Gaussian with parameter sigma2: E[e^(sX)] <= exp(sigma2 s^2 / 2)."""

    sigma2: float

    def variance(self) -> float:
        """At most sigma2."""
        return self.sigma2

    def log_mgf(self, s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """sigma2 s^2 / 2 (an upper bound)."""
        return self.sigma2 * s * s / 2

    def s_max(self) -> float:
        """Finite everywhere; past 50/sigma the bound only grows."""
        return 50.0 / math.sqrt(self.sigma2) + 50.0

    def pmf_support(self) -> float:
        """Roughly where the mass ends."""
        return 40 * math.sqrt(self.sigma2) + 40

    def characteristic(self, theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Not needed: the pmf is known directly (see `lattice_pmf`)."""
        raise NotImplementedError


_FFT_LIMIT = 1 << 22  # lattice points for the numerical pmf (32 MiB of complex numbers)


def interval_halfwidth(law: NoiseLaw, miss: float) -> float:
    """The least integer m with P(|X| > m) <= miss, numerically when the lattice is small.

    The pmf comes from the characteristic function by an inverse FFT over a lattice wide
    enough that aliasing is far below `miss`; m is then read off the cumulative mass and
    rounded up. For laws too wide for that (fine fixed-point scales), it falls back to the
    Chernoff bound, which is valid but up to about twice as wide.
    """
    half = math.ceil(law.pmf_support())
    if 2 * half + 1 > _FFT_LIMIT:
        return tail_halfwidth(law, miss)
    pmf = lattice_pmf(law, half)
    central = pmf[half] + 2 * np.concatenate(([0.0], np.cumsum(pmf[half + 1 :])))
    inside = np.nonzero(central >= 1 - miss + 1e-12)[0]
    return float(inside[0]) if inside.size else tail_halfwidth(law, miss)


def lattice_pmf(law: NoiseLaw, half: int) -> npt.NDArray[np.float64]:
    """P(X = k) for k in [-half, half], from the characteristic function (or directly)."""
    points = np.arange(-half, half + 1)
    if isinstance(law, SubGaussian):
        weights = np.exp(-(points.astype(np.float64) ** 2) / (2 * law.sigma2))
        return weights / weights.sum()  # type: ignore[no-any-return]
    n = 1 << (2 * half + 1).bit_length()
    theta = 2 * math.pi * np.arange(n) / n
    pmf = np.fft.ifft(law.characteristic(theta)).real
    return np.clip(pmf[points % n], 0, None)


def tail_halfwidth(law: NoiseLaw, miss: float) -> float:
    """A half-width m with P(|X| >= m) <= miss, by the two-sided Chernoff bound.

    m = min over s of (ln E[e^(sX)] + ln(2/miss)) / s, searched on a log-spaced grid of s
    (any s gives a valid bound; the grid only decides how tight it is).
    """
    s = np.geomspace(law.s_max() * 1e-9, law.s_max() * (1 - 1e-9), 4000)
    with np.errstate(over="ignore", invalid="ignore"):
        bounds = (law.log_mgf(s) + math.log(2 / miss)) / s
    finite = bounds[np.isfinite(bounds)]
    return float(finite.min()) if finite.size else math.inf


def log2_of(value: Fraction | int) -> float:
    """log2 of a positive exact number of any size (no float overflow or underflow)."""
    exact = Fraction(value)
    return math.log2(exact.numerator) - math.log2(exact.denominator)


def check_noise_scale(
    variance: Fraction, setting: str, value: float, sensitivity_from: str
) -> None:
    """Refuse noise too wide for floats to describe: a standard deviation of 2^256 or more.

    Exact (rationals only), so it runs before any float is made from a spec's parameters;
    below the limit the floats of the overflow check are sound, and that check refuses noise
    too wide for the ring. Noise this wide could never fit the ring either, so the message
    says so. `setting` (e.g. `spec.privacy.epsilon`) and its `value` name the privacy
    parameter, `sensitivity_from` the spec fields that set the sensitivity.
    """
    if variance < FLOAT_SAFE_VARIANCE:
        return
    raise InvalidInput(
        f"noise too wide for the ring: {setting} = {value:g} over this spec's sensitivity "
        f"(set by {sensitivity_from}) gives noise with a standard deviation of about "
        f"2^{log2_of(variance) / 2:.0f} encoded units, beyond the signed 64-bit ring (2^63); "
        f"raise {setting} or lower the sensitivity"
    )
