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
from typing import Protocol

import numpy as np
import numpy.typing as npt


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


@dataclass(frozen=True)
class PolyaDifference:
    """NB(shape, alpha) - NB(shape, alpha), NB counting failures with success 1 - alpha."""

    shape: float
    alpha: float

    def variance(self) -> float:
        """2 * shape * alpha / (1 - alpha)^2."""
        return 2 * self.shape * self.alpha / (1 - self.alpha) ** 2

    def log_mgf(self, s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """shape * (2 ln(1-alpha) - ln(1 - alpha e^s) - ln(1 - alpha e^-s))."""
        a = self.alpha
        return self.shape * (
            2 * math.log1p(-a) - np.log1p(-a * np.exp(s)) - np.log1p(-a * np.exp(-s))
        )

    def s_max(self) -> float:
        """E[e^(sX)] is finite while alpha e^s < 1."""
        return -math.log(self.alpha)


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
