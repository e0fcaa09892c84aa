"""The privacy part of a computation spec (DESIGN 5) and every check that needs no data.

A `Privacy` says which mechanism protects a result, where its noise is added, how much
privacy it may cost (epsilon for pure DP, rho for zero-concentrated DP) and whose privacy is
protected (the unit and the neighbouring relation). The parameters are kept as the exact
rationals of the numbers the analyst sent: the noise is calibrated to exactly these values
and every node's ledger spends exactly these values, so the two can never disagree by a
rounding step.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.errors import InvalidInput

MAX_EPSILON = 100.0  # beyond this the noise is negligible and the guarantee is meaningless
MAX_RHO = 1000.0
MIN_DELTA = 1e-300  # a non-zero delta must keep ln(1/delta) finite (see Privacy.check)


class Mechanism(enum.Enum):
    """How the result is made differentially private."""

    NONE = "none"
    DISCRETE_LAPLACE = "discrete_laplace"
    DISCRETE_GAUSSIAN = "discrete_gaussian"
    SKELLAM = "skellam"
    RANDOMIZED_RESPONSE = "randomized_response"


class Placement(enum.Enum):
    """Who adds the noise: every node (distributed), the coordinator, or each respondent."""

    DISTRIBUTED = "distributed"
    CENTRAL = "central"
    LOCAL = "local"


class Unit(enum.Enum):
    """Whose privacy the guarantee is about."""

    ORGANIZATION = "organization"
    RECORD = "record"


class Neighbouring(enum.Enum):
    """What two neighbouring datasets differ in: one unit replaced, or added/removed."""

    REPLACE_ONE = "replace_one"
    ADD_REMOVE = "add_remove"


def exact_decimal(value: float) -> Fraction:
    """The exact rational of the shortest decimal that round-trips `value` (0.1 -> 1/10).

    A double cannot hold 0.1; its binary value is 0.1000000000000000055... Reading the
    shortest decimal instead gives what the person wrote, so ten rounds at epsilon 0.1 spend
    exactly a cap of 1. Noise and ledgers both use this one value, so they always agree.
    """
    return Fraction(repr(float(value)))


PURE_DP = (Mechanism.DISCRETE_LAPLACE, Mechanism.RANDOMIZED_RESPONSE)
ZCDP = (Mechanism.SKELLAM, Mechanism.DISCRETE_GAUSSIAN)


@dataclass(frozen=True)
class Privacy:
    """Differential-privacy settings of one computation; `Privacy()` is an exact aggregate.

    Invariants once `check` passed: epsilon > 0 exactly for pure-DP mechanisms, rho > 0
    exactly for zCDP ones; the placement suits the mechanism; threshold <= the number of
    parties the spec may have.
    """

    mechanism: Mechanism = Mechanism.NONE
    placement: Placement = Placement.DISTRIBUTED
    epsilon: float = 0.0
    delta: float = 0.0
    rho: float = 0.0
    unit: Unit = Unit.ORGANIZATION
    neighbouring: Neighbouring = Neighbouring.REPLACE_ONE
    record_bound: float = 0.0
    threshold: int = 0

    @property
    def enabled(self) -> bool:
        """True when the result is noisy."""
        return self.mechanism is not Mechanism.NONE

    @property
    def epsilon_exact(self) -> Fraction:
        """Epsilon as an exact rational: the number the analyst wrote (see `exact_decimal`)."""
        return exact_decimal(self.epsilon)

    @property
    def rho_exact(self) -> Fraction:
        """Rho as an exact rational: the number the analyst wrote (see `exact_decimal`)."""
        return exact_decimal(self.rho)

    def check(self) -> None:
        """Raise InvalidInput naming the first setting that is wrong or does not fit."""
        if not self.enabled:
            if self.epsilon or self.rho or self.threshold or self.record_bound:
                raise InvalidInput(
                    "spec.privacy sets parameters but no mechanism; choose a mechanism or "
                    "leave spec.privacy empty for an exact aggregate"
                )
            return
        self._check_amounts()
        self._check_placement()
        if self.threshold and self.threshold < 2:
            raise InvalidInput("spec.privacy.threshold must be at least 2 (or 0: min_parties)")
        if self.threshold > 1000:
            raise InvalidInput("spec.privacy.threshold must be at most 1000")
        if not math.isfinite(self.record_bound) or self.record_bound < 0:
            raise InvalidInput("spec.privacy.record_bound must be a finite number >= 0")
        if self.unit is Unit.ORGANIZATION and self.record_bound:
            raise InvalidInput(
                "spec.privacy.record_bound is for unit=record; with unit=organization the "
                "bounds spec.lower and spec.upper set the sensitivity"
            )

    def _check_amounts(self) -> None:
        for name, value in (("epsilon", self.epsilon), ("rho", self.rho), ("delta", self.delta)):
            if not math.isfinite(value) or value < 0:
                raise InvalidInput(f"spec.privacy.{name} must be a finite number >= 0")
        if self.mechanism in PURE_DP:
            if not 0 < self.epsilon <= MAX_EPSILON:
                raise InvalidInput(
                    f"{self.mechanism.value} needs spec.privacy.epsilon in (0, {MAX_EPSILON:g}]"
                )
            if self.rho:
                raise InvalidInput(f"{self.mechanism.value} is pure epsilon-DP: leave rho at 0")
        else:
            if not 0 < self.rho <= MAX_RHO:
                raise InvalidInput(
                    f"{self.mechanism.value} is rho-zCDP: it needs spec.privacy.rho in "
                    f"(0, {MAX_RHO:g}] (epsilon is reported, not set)"
                )
            if self.epsilon:
                raise InvalidInput(
                    f"{self.mechanism.value} is calibrated by rho; leave epsilon at 0 (the "
                    "result reports the epsilon it implies at delta)"
                )
        if not self.delta < 1:
            raise InvalidInput("spec.privacy.delta must be below 1")
        # The result states epsilon at delta through ln(1/delta); below about 5e-309, 1/delta
        # is infinite and so is the statement. MIN_DELTA is a round number well above that.
        if 0 < self.delta < MIN_DELTA:
            raise InvalidInput(
                f"spec.privacy.delta = {self.delta:g} is too small: use 0 (the default) or "
                f"at least {MIN_DELTA:g}"
            )

    def _check_placement(self) -> None:
        rr = self.mechanism is Mechanism.RANDOMIZED_RESPONSE
        if rr != (self.placement is Placement.LOCAL):
            raise InvalidInput(
                "randomized response is the only local mechanism: use placement=local with "
                "randomized_response, distributed or central with the others"
            )
        if (
            self.mechanism is Mechanism.DISCRETE_GAUSSIAN
            and self.placement is Placement.DISTRIBUTED
        ):
            raise InvalidInput(
                "a sum of per-node discrete Gaussians is not a discrete Gaussian, so its "
                "guarantee would be approximate; use skellam for distributed zCDP noise, or "
                "discrete_gaussian with placement=central"
            )
        if rr and self.unit is not Unit.RECORD:
            raise InvalidInput(
                "randomized response protects each respondent: set unit=record (each answer "
                "is one record)"
            )

    def threshold_for(self, min_parties: int) -> int:
        """t: the number of noise-carrying contributors the noise is sized for."""
        return self.threshold or min_parties

    def canonical(self) -> dict[str, object]:
        """Every field for the transcript hash (floats as float.hex, exact and portable)."""
        return {
            "delta": float(self.delta).hex(),
            "epsilon": float(self.epsilon).hex(),
            "mechanism": self.mechanism.value,
            "neighbouring": self.neighbouring.value,
            "placement": self.placement.value,
            "record_bound": float(self.record_bound).hex(),
            "rho": float(self.rho).hex(),
            "threshold": self.threshold,
            "unit": self.unit.value,
        }


def privacy_from_canonical(doc: dict[str, object] | None) -> Privacy:
    """Rebuild a Privacy from `Privacy.canonical` (None: an exact aggregate)."""
    if doc is None:
        return Privacy()

    def num(key: str) -> float:
        return float.fromhex(str(doc[key]))

    return Privacy(
        mechanism=Mechanism(doc["mechanism"]),
        placement=Placement(doc["placement"]),
        epsilon=num("epsilon"),
        delta=num("delta"),
        rho=num("rho"),
        unit=Unit(doc["unit"]),
        neighbouring=Neighbouring(doc["neighbouring"]),
        record_bound=num("record_bound"),
        threshold=int(str(doc["threshold"])),
    )
