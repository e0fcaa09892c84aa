"""What a published result says about its privacy, so readers know what they hold.

Derived from the spec, the number of contributors and (for polls) the published standard
error alone, so the coordinator can state it for any stored result without storing
anything that depends on the exact aggregate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mpcnode.core.cohorts import record_step
from mpcnode.core.mechanisms import noise_report, plan_noise
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.vector_samplers import EXACT
from mpcnode.errors import InvalidInput

UNCLAMPED = "_unclamped"
"""Suffix of a noisy result's raw outputs, published beside the outputs clamped to the domain."""
POLL_Z95 = 1.959963984540054  # two-sided 95% normal quantile (the poll's CLT interval)


@dataclass(frozen=True)
class ResultPrivacy:
    """The privacy statement of one result (mechanism NONE: an exact aggregate)."""

    mechanism: Mechanism = Mechanism.NONE
    placement: Placement = Placement.DISTRIBUTED
    epsilon: float = 0.0
    delta: float = 0.0
    rho: float = 0.0
    noise_scale: float = 0.0
    ci95_halfwidth: float = 0.0
    contributors: int = 0
    threshold: int = 0
    sampler: str = ""
    epsilon_at_delta: float = 0.0
    unit: Unit = Unit.ORGANIZATION
    neighbouring: Neighbouring = Neighbouring.REPLACE_ONE

    def summary(self) -> str:
        """One line for people."""
        if self.mechanism is Mechanism.NONE:
            return "privacy: none (exact aggregate)"
        budget = (
            f"epsilon={self.epsilon:g}"
            if self.rho == 0
            else f"rho={self.rho:g} (epsilon={self.epsilon_at_delta:.4g} at delta={self.delta:g})"
        )
        where = self.placement.value
        return (
            f"privacy: {self.mechanism.value}, {where}, {budget}, per {self.unit.value} "
            f"({self.neighbouring.value.replace('_', '-')}); noise sd {self.noise_scale:.6g}, "
            f"95% within +/-{self.ci95_halfwidth:.6g}; {self.contributors} contributors, "
            f"t={self.threshold}{self.excess_note()}; sampler {self.sampler}"
        )

    def excess_note(self) -> str:
        """What more contributors than t cost in accuracy (distributed noise only), or ""."""
        if self.placement is not Placement.DISTRIBUTED or self.contributors <= self.threshold:
            return ""
        # Each contributor adds a 1/t share of the target law: h of them, h/t of its variance.
        factor = (self.contributors / self.threshold) ** 0.5
        return (
            f" (noise sized for {self.threshold} contributors; with {self.contributors} its sd "
            f"is {factor:.3g}x what the guarantee needs: ask for threshold={self.contributors})"
        )


def result_privacy(
    spec: ComputationSpec, contributors: int, poll_stderr: float = 0.0
) -> ResultPrivacy:
    """The statement for a result of `spec` over `contributors` parties (at least one).

    A cohorts result's noise is stated for one cohort's count; its sum carries M times as
    much, M = ceil(max(|lower|, |upper|) x 2^f) (`mpcnode.core.cohorts`).

    InvalidInput for a spec whose noise `plan_noise` refuses; a stored result's spec was
    planned when its computation was created, so that happens only to a hand-made spec.
    """
    if contributors < 1:
        # A mean's noise is divided by the contributors: zero would divide by zero.
        raise InvalidInput(f"a result has at least one contributor, not {contributors}")
    privacy = spec.privacy
    if not privacy.enabled:
        return ResultPrivacy(contributors=contributors)
    plan = plan_noise(spec, contributors)
    assert plan is not None  # privacy is enabled
    base = ResultPrivacy(
        mechanism=privacy.mechanism,
        placement=privacy.placement,
        epsilon=privacy.epsilon,
        rho=privacy.rho,
        contributors=contributors,
        threshold=plan.threshold,
        unit=privacy.unit,
        neighbouring=privacy.neighbouring,
    )
    if privacy.mechanism is Mechanism.RANDOMIZED_RESPONSE:
        return dataclasses.replace(
            base,
            noise_scale=poll_stderr,
            ci95_halfwidth=POLL_Z95 * poll_stderr,
            sampler=EXACT,
            epsilon_at_delta=privacy.epsilon,
        )
    divisor = float(contributors) if spec.kind is Kind.MEAN else 1.0
    if spec.kind is Kind.COHORTS:  # the statement is of a count: M^2 weighted units each
        step = record_step(spec.lower, spec.upper, spec.fractional_bits)
        divisor = float(step * step) / (1 << spec.fractional_bits)
    report = noise_report(plan, contributors, divisor)
    return dataclasses.replace(
        base,
        delta=report.delta,
        noise_scale=report.noise_scale,
        ci95_halfwidth=report.ci95_halfwidth,
        sampler=plan.sampler,
        epsilon_at_delta=report.epsilon_at_delta,
    )
