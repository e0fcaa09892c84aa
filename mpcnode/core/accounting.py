"""Privacy accounting: what a release costs, how costs compose, and what the total means.

Pure arithmetic on exact rationals (`fractions.Fraction`), so a ledger never drifts by
floating-point rounding. Composition is sequential (Dwork-Roth 2014, Thm 3.16; Bun-Steinke
2016, Lemma 2.3): epsilons of pure-DP releases add, rhos of zCDP releases add. Where a
number must leave the rationals (a square root, a logarithm, a decimal for people), it is
rounded against the organization: spent amounts up, remaining amounts down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

DEFAULT_DELTA = 1e-6
_MAX_ORDER = 10_000  # Renyi orders searched when converting zCDP to (epsilon, delta)


@dataclass(frozen=True)
class Cost:
    """The privacy one release spends: epsilon (pure DP) and rho (zCDP), exact."""

    epsilon: Fraction = Fraction(0)
    rho: Fraction = Fraction(0)

    def __add__(self, other: Cost) -> Cost:
        """Sequential composition: the cost of both releases."""
        return Cost(self.epsilon + other.epsilon, self.rho + other.rho)

    def fits(self, spent: Cost, cap: Cost) -> bool:
        """True when spending this on top of `spent` stays within `cap` on both scales."""
        total = spent + self
        return total.epsilon <= cap.epsilon and total.rho <= cap.rho

    def headroom(self, cap: Cost) -> Cost:
        """What `cap` leaves once this much is used (never below zero)."""
        return Cost(
            max(Fraction(0), cap.epsilon - self.epsilon), max(Fraction(0), cap.rho - self.rho)
        )

    @property
    def is_free(self) -> bool:
        """True for a release without privacy cost (an exact aggregate spends no budget)."""
        return not self.epsilon and not self.rho


def epsilon_at_delta(epsilons: list[Fraction], rho: Fraction, delta: float) -> float:
    """The (epsilon, delta)-DP guarantee of pure-DP releases and zCDP releases together.

    A pure epsilon_i-DP release is also (epsilon_i^2 / 2)-zCDP (Bun-Steinke 2016, Prop. 1.4),
    so everything is first composed in zCDP; rho-zCDP gives (alpha, rho*alpha)-RDP, which is
    (rho*alpha + ln(1/delta)/(alpha-1), delta)-DP (Mironov 2017, Prop. 3) for every integer
    order alpha >= 2 (integer orders, so the bound also holds for mechanisms analysed only
    at integer orders, such as Skellam). When only pure-DP releases were made, their plain
    sum may be smaller and is returned instead (it holds with delta = 0). Rounded up.
    """
    return epsilon_at_delta_of(
        sum(epsilons, Fraction(0)), sum((e * e / 2 for e in epsilons), Fraction(0)), rho, delta
    )


def epsilon_at_delta_of(
    pure: Fraction, pure_sq_half: Fraction, rho: Fraction, delta: float
) -> float:
    """`epsilon_at_delta` from running sums: sum of epsilons and of epsilon^2 / 2.

    A ledger keeps these two sums instead of every epsilon, so the conversion costs the
    same however many releases were made.
    """
    if not rho and not pure:
        return 0.0
    total_rho = float(rho + pure_sq_half)
    log_inv_delta = math.log(1 / delta)
    best = math.inf
    for order in range(2, _MAX_ORDER):
        value = total_rho * order + log_inv_delta / (order - 1)
        if value > best:
            break  # convex in the order: past the minimum
        best = value
    if not rho:
        best = min(best, float(pure))
    return math.nextafter(best, math.inf)


def fraction_text(value: Fraction) -> str:
    """An exact rational as the ledger stores it: "n" or "n/d"."""
    return str(value)


def parse_fraction(text: str) -> Fraction:
    """Read a fraction written by `fraction_text`."""
    return Fraction(text)


def decimal_up(value: Fraction, digits: int = 6) -> float:
    """A decimal for people, rounded up (for amounts spent)."""
    scale = int(10**digits)
    return float(math.ceil(value * scale)) / scale


def decimal_down(value: Fraction, digits: int = 6) -> float:
    """A decimal for people, rounded down (for amounts remaining)."""
    scale = int(10**digits)
    return float(math.floor(value * scale)) / scale


@dataclass(frozen=True)
class BudgetStatus:
    """One (dataset, unit) budget as `mpcnode budget` shows it."""

    dataset: str
    unit: str
    cap: Cost
    spent: Cost
    held: Cost
    releases: int
    # Sum of epsilon^2 / 2 over the pure-DP releases spent (see `epsilon_at_delta_of`).
    pure_sq_half: Fraction = Fraction(0)

    @property
    def remaining(self) -> Cost:
        """What is left once open rounds release (never below zero)."""
        return (self.spent + self.held).headroom(self.cap)
