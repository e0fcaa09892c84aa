"""Differential-privacy mechanisms bound to a computation spec (DESIGN 5).

Everything here is derived from the spec alone (its bounds, length, fixed-point bits and
privacy settings), never from data, so every node and the coordinator compute the same
plan: the sensitivity, the noise law, which sampler draws it, what a release costs, and what
the result may say about its noise.

Recipes:
- Discrete Laplace, scale b = L1-sensitivity / epsilon, is epsilon-DP (Ghosh-Roughgarden-
  Sundararajan 2009; Canonne-Kamath-Steinke 2020). Distributed: each node adds
  NB(1/t, a) - NB(1/t, a) with a = exp(-1/b); any t of these sum to exactly the discrete
  Laplace law, since t independent NB(1/t, a) sum to a geometric (the infinite divisibility
  of the geometric; Goryczka-Xiong 2017, Balle et al. 2020).
- Skellam: Poisson(V/2t) - Poisson(V/2t) per node sums over t nodes to Poisson(V/2) -
  Poisson(V/2), variance V. Its Renyi bound (Agarwal-Kairouz-Liu 2021, Thm 3.5) at order
  a is a*D2^2/(2V) + ((2a-1)*D2^2 + 6*D1)/(4V^2), i.e. at most a*rho(V) with
  rho(V) = D2^2/(2V) + D2^2/(2V^2) + max(0, 6*D1 - D2^2)/(4V^2); V is the least integer
  with rho(V) <= the requested rho.
- Discrete Gaussian (central only), sigma^2 = D2^2 / (2 rho), is rho-zCDP (CKS 2020, Thm 14).
- Randomized response (local): `mpcnode.core.randomized_response`.

With h >= t contributors the distributed noise is the sum of h shares: more than the target
law, never less, so the stated epsilon (or rho) still holds; the reported scale is the
actual one for h. With fewer than t, nodes refuse to release (see `check_contributors`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from mpcnode.core import exact_samplers as exact
from mpcnode.core.accounting import DEFAULT_DELTA, Cost, epsilon_at_delta
from mpcnode.core.cohorts import STATS, record_step
from mpcnode.core.noise_bounds import (
    RING_HALF,
    NoiseLaw,
    PolyaDifference,
    SkellamLaw,
    SubGaussian,
    check_noise_scale,
    interval_halfwidth,
    log2_of,
    tail_halfwidth,
)
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Unit
from mpcnode.core.randomness import UniformInts
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.vector_samplers import (
    EXACT,
    VECTORIZED,
    VectorNoise,
    check_discrete_laplace,
    check_polya_difference,
    check_skellam,
)
from mpcnode.errors import InvalidInput, PreconditionFailed

I64 = npt.NDArray[np.int64]
EXACT_WORK_LIMIT = 2_000_000
"""Expected work (in the samplers' cost units of about 1 microsecond) above which a noise
vector uses the vectorized sampler.

About 2 s of pure-Python exact sampling: noise is drawn at Prepare, inside the
coordinator's prepare timeout. Deterministic in the spec, so every party agrees which
sampler was used and the result can say so.
"""
OVERFLOW_MISS = 2.0**-40  # the noise may wrap the ring with at most this probability


@dataclass(frozen=True)
class Sensitivity:
    """How much one unit can move the encoded sum: L1, squared L2 and L-infinity norms."""

    l1: int
    l2_squared: int
    linf: int


@dataclass(frozen=True)
class NoisePlan:
    """Everything about a spec's noise that follows from the spec and the party count."""

    spec: ComputationSpec
    sensitivity: Sensitivity
    threshold: int
    cost: Cost
    gamma: Fraction = Fraction(0)  # discrete Laplace: 1/scale = epsilon / L1
    variance: Fraction = Fraction(0)  # Skellam: V; discrete Gaussian: sigma^2
    sampler: str = EXACT

    @property
    def mechanism(self) -> Mechanism:
        """The spec's mechanism."""
        return self.spec.privacy.mechanism

    @property
    def distributed(self) -> bool:
        """True when every node adds a noise share."""
        return self.spec.privacy.placement is Placement.DISTRIBUTED


def sensitivity(spec: ComputationSpec) -> Sensitivity:
    """The encoded-unit sensitivity of the sum, from the declared bounds and privacy unit.

    Record-level histograms ("a record moves between two bins") are sized so only for
    datasets whose node enforces it, which `conformance` checks (polls: one 0/1 answer).
    """
    privacy = spec.privacy
    scale = 1 << spec.fractional_bits
    replace = privacy.neighbouring is Neighbouring.REPLACE_ONE
    if spec.kind is Kind.COHORTS:
        return cohort_sensitivity(spec)
    # Widths are of the *encoded* values: round(v * 2^f) lies in [floor, ceil] of v * 2^f, so
    # a change of d in a real value moves its encoding by up to ceil(d * 2^f) + 1.
    rounding = 1 if spec.fractional_bits else 0
    if privacy.unit is Unit.RECORD:
        width = math.ceil(Fraction(privacy.record_bound or 1) * scale) + rounding
        if spec.kind is Kind.HISTOGRAM:  # a record is `width` items moved between two bins
            moved = 2 if replace else 1
            return Sensitivity(moved * width, moved * width * width, width)
    elif replace:
        width = math.ceil(Fraction(spec.upper) * scale) - math.floor(Fraction(spec.lower) * scale)
    else:
        width = math.ceil(max(abs(Fraction(spec.lower)), abs(Fraction(spec.upper))) * scale)
    width = max(width, 1)
    return Sensitivity(spec.length * width, spec.length * width * width, width)


def cohort_sensitivity(spec: ComputationSpec) -> Sensitivity:
    """A cohorts contribution's sensitivity in weighted units (`mpcnode.core.cohorts`).

    One record moves each of the three blocks by at most M^2 once weighted, in one cohort:
    a record added or removed changes one element per block; a record replaced changes at
    most two (it may move to another cohort) by M^2 each, or one (same cohort) by up to
    2 M^2. An organization is up to max_records records at once (group privacy), so its
    norms are max_records times as large.
    """
    step = record_step(spec.lower, spec.upper, spec.fractional_bits)
    moved = step * step
    blocks = len(STATS)
    replace = spec.privacy.neighbouring is Neighbouring.REPLACE_ONE
    if replace:
        record = Sensitivity(2 * blocks * moved, 2 * blocks * moved * moved, 2 * moved)
    else:
        record = Sensitivity(blocks * moved, blocks * moved * moved, moved)
    if spec.privacy.unit is Unit.RECORD:
        return record
    group = spec.cohorts.max_records
    if group < 1:
        raise InvalidInput("spec.cohorts.max_records must be the declared most records (>= 1)")
    return Sensitivity(group * record.l1, group * group * record.l2_squared, group * record.linf)


def plan_noise(spec: ComputationSpec, max_parties: int) -> NoisePlan | None:
    """The noise plan of a spec (None for an exact aggregate), every limit checked.

    The one validation of a spec's noise that the coordinator (at create) and every node (at
    Prepare) both run, so a spec the coordinator accepts is never refused by every node for a
    reason that follows from the spec alone. Raises InvalidInput naming the parameter when:
    the privacy settings are wrong (`Privacy.check`); the noise is too wide for any float to
    describe (checked exactly, before one is formed); it could wrap the ring for
    `max_parties` contributors; or the sampler the plan picks cannot draw it.
    """
    privacy = spec.privacy
    if not privacy.enabled:
        return None
    privacy.check()
    sens = sensitivity(spec)
    t = privacy.threshold_for(spec.min_parties)
    mech = privacy.mechanism
    if mech is Mechanism.RANDOMIZED_RESPONSE:
        return NoisePlan(spec, sens, t, Cost(epsilon=privacy.epsilon_exact))
    source = (
        "spec.privacy.record_bound, spec.fractional_bits, spec.length"
        if privacy.unit is Unit.RECORD
        else "spec.lower and spec.upper, spec.fractional_bits, spec.length"
    )
    if mech is Mechanism.DISCRETE_LAPLACE:
        gamma = privacy.epsilon_exact / sens.l1
        # Variance of discrete Laplace of scale b = 1/gamma: about 2 b^2.
        check_noise_scale(2 / (gamma * gamma), "spec.privacy.epsilon", privacy.epsilon, source)
        cost = Cost(epsilon=privacy.epsilon_exact)
        plan = NoisePlan(spec, sens, t, cost, gamma=gamma)
    else:
        # Skellam's V is at least the discrete Gaussian's sigma^2 = D2^2 / (2 rho) (its rho(V)
        # exceeds D2^2 / (2V)), so one exact check bounds both before V is searched for.
        sigma2 = Fraction(sens.l2_squared) / (2 * privacy.rho_exact)
        check_noise_scale(sigma2, "spec.privacy.rho", privacy.rho, source)
        if mech is Mechanism.SKELLAM:
            variance = skellam_variance(sens, privacy.rho_exact)
            plan = NoisePlan(spec, sens, t, Cost(rho=privacy.rho_exact), variance=variance)
        else:
            plan = NoisePlan(spec, sens, t, Cost(rho=privacy.rho_exact), variance=sigma2)
    _check_noise_fits(plan, max_parties)
    return _with_sampler(plan)


def skellam_rho(sens: Sensitivity, variance: int) -> Fraction:
    """The zCDP-style rho charged for Skellam noise of total variance V (AKL21, Thm 3.5)."""
    v = Fraction(variance)
    d2 = Fraction(sens.l2_squared)
    return d2 / (2 * v) + d2 / (2 * v * v) + max(Fraction(0), 6 * sens.l1 - d2) / (4 * v * v)


def skellam_variance(sens: Sensitivity, rho: Fraction) -> Fraction:
    """The least integer total variance V whose charged rho is at most `rho` (rho > 0).

    The search takes about log2(D2^2 / rho) steps: `plan_noise` bounds that ratio first.
    """
    if rho <= 0:
        raise InvalidInput("spec.privacy.rho must be above 0 for Skellam noise")
    low, high = 1, max(2, math.ceil(Fraction(sens.l2_squared) / rho))
    while skellam_rho(sens, high) > rho:
        high *= 2
    while low < high:  # rho(V) decreases in V: binary search for the least V that fits
        mid = (low + high) // 2
        if skellam_rho(sens, mid) <= rho:
            high = mid
        else:
            low = mid + 1
    return Fraction(high)


def _work_per_element(plan: NoisePlan) -> float:
    if plan.mechanism is Mechanism.DISCRETE_LAPLACE:
        if plan.distributed:
            return 2 * exact.expected_polya_cost(Fraction(1, plan.threshold), plan.gamma)
        return 4.0
    if plan.mechanism is Mechanism.SKELLAM:
        share = plan.variance / (2 * plan.threshold) if plan.distributed else plan.variance / 2
        return 2 * exact.expected_poisson_cost(share)
    return 8.0


def _with_sampler(plan: NoisePlan) -> NoisePlan:
    """The plan with its sampler: exact while cheap, else vectorized, whose limits it checks.

    The vectorized sampler refuses parameters beyond its range (e.g. a Skellam mean above
    2^48); each node would only find out when drawing, so the plan checks them here, with
    the very arguments `draw_noise` passes. The exact samplers take any positive parameter.
    """
    work = plan.spec.length * _work_per_element(plan)
    if work <= EXACT_WORK_LIMIT or plan.mechanism is Mechanism.DISCRETE_GAUSSIAN:
        return plan
    t = plan.threshold
    try:
        if plan.mechanism is Mechanism.SKELLAM:
            check_skellam(float(plan.variance / (2 * t) if plan.distributed else plan.variance / 2))
        elif plan.distributed:
            check_polya_difference(1 / t, math.exp(-plan.gamma))
        else:
            check_discrete_laplace(float(1 / plan.gamma))
    except InvalidInput as exc:
        setting = "epsilon" if plan.mechanism is Mechanism.DISCRETE_LAPLACE else "rho"
        raise InvalidInput(
            f"{plan.mechanism.value} noise this wide is beyond the samplers: the vectorized "
            f"one refuses it ({exc.message}) and the exact one would be too slow; raise "
            f"spec.privacy.{setting}, or lower the sensitivity (fewer spec.fractional_bits, "
            "narrower bounds or record_bound, a shorter spec.length)"
        ) from None
    return NoisePlan(
        plan.spec,
        plan.sensitivity,
        plan.threshold,
        plan.cost,
        plan.gamma,
        plan.variance,
        VECTORIZED,
    )


def total_noise_law(plan: NoisePlan, contributors: int) -> NoiseLaw:
    """The law of the noise in each element of the sum, given who contributed noise."""
    shares = Fraction(contributors, plan.threshold) if plan.distributed else Fraction(1)
    if plan.mechanism is Mechanism.DISCRETE_LAPLACE:
        return PolyaDifference(float(shares), float(plan.gamma))
    if plan.mechanism is Mechanism.SKELLAM:
        return SkellamLaw(float(shares * plan.variance / 2))
    return SubGaussian(float(plan.variance))


def _check_noise_fits(plan: NoisePlan, max_parties: int) -> None:
    """InvalidInput unless inputs plus noise of `max_parties` stay in the ring w.p. 1 - 2^-40."""
    spec = plan.spec
    inputs = max_parties * spec.largest_encoded
    margin = tail_halfwidth(total_noise_law(plan, max_parties), OVERFLOW_MISS)
    # Exact first: bounds that alone overflow (refused by spec.check too) would overflow the
    # float sum with the margin.
    if inputs >= RING_HALF or inputs + margin >= RING_HALF:
        noise = f"2^{math.log2(margin):.1f}" if 0 < margin < math.inf else "beyond any bound"
        raise InvalidInput(
            f"overflow: the inputs can reach 2^{log2_of(max(inputs, 1)):.1f} and the noise "
            f"needs a margin of {noise}, which does not fit the signed 64-bit ring; use fewer "
            "fractional bits, narrower bounds or a larger epsilon/rho"
        )


def check_contributors(plan: NoisePlan, contributors: int) -> None:
    """Refuse when fewer than t noise-carrying contributors would make up the noise."""
    if plan.distributed and contributors < plan.threshold:
        raise PreconditionFailed(
            f"only {contributors} noise-carrying contributors, fewer than the t={plan.threshold} "
            "the noise is sized for; with fewer the privacy loss would exceed the stated "
            "guarantee, so this node does not release",
            reason="TOO_FEW_NOISE_CONTRIBUTORS",
        )


def draw_noise(plan: NoisePlan, u: UniformInts, vectorized: Callable[[], VectorNoise]) -> I64:
    """This party's noise: a node's share (distributed) or the whole noise (central).

    `vectorized` makes the AES-CTR generator when the plan calls for it (production passes
    the constructor, which keys it from the OS CSPRNG).
    """
    if plan.mechanism is Mechanism.DISCRETE_LAPLACE:
        return _laplace_noise(plan, u, vectorized)
    if plan.mechanism is Mechanism.SKELLAM:
        share = plan.distributed
        mu = plan.variance / (2 * plan.threshold) if share else plan.variance / 2
        if plan.sampler == VECTORIZED:
            return vectorized().skellam(plan.spec.length, float(mu))
        return exact.skellam_vector(plan.spec.length, mu, u)
    if plan.mechanism is Mechanism.DISCRETE_GAUSSIAN:
        return exact.discrete_gaussian_vector(plan.spec.length, plan.variance, u)
    raise InvalidInput(f"{plan.mechanism.value} adds no noise to a sum")


def _laplace_noise(plan: NoisePlan, u: UniformInts, vectorized: Callable[[], VectorNoise]) -> I64:
    length, t = plan.spec.length, plan.threshold
    if plan.sampler == VECTORIZED:
        if plan.distributed:
            return vectorized().polya_difference(length, 1 / t, math.exp(-plan.gamma))
        return vectorized().discrete_laplace(length, float(1 / plan.gamma))
    if plan.distributed:
        return exact.polya_difference_vector(length, Fraction(1, t), plan.gamma, u)
    return exact.discrete_laplace_vector(length, 1 / plan.gamma, u)


@dataclass(frozen=True)
class NoiseReport:
    """What a result says about its noise, in the output's units."""

    noise_scale: float  # standard deviation per element
    ci95_halfwidth: float
    epsilon_at_delta: float
    delta: float


def noise_report(plan: NoisePlan, contributors: int, divisor: float = 1.0) -> NoiseReport:
    """The noise of a result with `contributors` parties, divided into output units.

    `divisor` turns the sum's units into the output's (the participant count for a mean).
    """
    privacy = plan.spec.privacy
    delta = privacy.delta or DEFAULT_DELTA
    zcdp = plan.mechanism in (Mechanism.SKELLAM, Mechanism.DISCRETE_GAUSSIAN)
    eps_delta = epsilon_at_delta([], plan.cost.rho, delta) if zcdp else privacy.epsilon
    law = total_noise_law(plan, contributors)
    units = (1 << plan.spec.fractional_bits) * divisor
    return NoiseReport(
        noise_scale=math.sqrt(law.variance()) / units,
        ci95_halfwidth=interval_halfwidth(law, 0.05) / units,
        epsilon_at_delta=eps_delta,
        delta=delta if zcdp else 0.0,
    )
