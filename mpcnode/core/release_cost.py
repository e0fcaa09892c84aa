"""What one noisy release costs each privacy unit's budget (DESIGN 4.5, 5).

An organization-level guarantee protects every record inside the organization as well, so
an organization-level release is charged its cost at both levels. A record-level release
promises the stated epsilon (or rho) for one record only; what it costs at organization
level follows by group privacy from the two sensitivities, both fixed by the owner's
declaration (Dwork-Roth 2014, Thm 2.2 for pure DP; for zCDP the Renyi bounds scale with the
squared L2 sensitivity, Bun-Steinke 2016, Prop. 1.6):

- discrete Laplace, scale b: a change of L1 norm D costs D / b, so the organization pays
  epsilon * D1_org / D1_record;
- discrete Gaussian, variance s^2: rho = D2^2 / (2 s^2), so it pays rho * D2_org^2 / D2_record^2;
- Skellam, variance V: the same bound (AKL21, Thm 3.5) evaluated at the organization's
  sensitivities;
- randomized response: an organization is at most `upper` respondents, each one answer, so it
  pays epsilon * upper.

Costs are stated under replace-one neighbouring at both levels: a release calibrated to the
analyst's add-remove relation is judged at the replace-one sensitivity, by the same ratios.

Pure arithmetic on exact rationals; no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from mpcnode.core.accounting import Cost
from mpcnode.core.mechanisms import NoisePlan, Sensitivity, sensitivity, skellam_rho
from mpcnode.core.privacy import Mechanism, Neighbouring, Unit
from mpcnode.core.spec import ComputationSpec


def release_costs(plan: NoisePlan | None) -> dict[str, Cost]:
    """The cost of a release per unit ("organization", "record"); empty for an exact one.

    Both are stated under replace-one neighbouring, the relation the ledgers add up: an
    analyst's `add_remove` (a smaller sensitivity on a domain around zero) buys no cheaper
    release.
    """
    if plan is None:
        return {}
    spec = plan.spec
    org = _charge(plan, _sensitivity_of(spec, Unit.ORGANIZATION))
    if spec.privacy.unit is Unit.ORGANIZATION:
        return {"organization": org, "record": org}
    record = _charge(plan, _sensitivity_of(spec, Unit.RECORD))
    if plan.mechanism is Mechanism.RANDOMIZED_RESPONSE:
        scale = Fraction(max(1, math.ceil(spec.upper)))
        org = Cost(epsilon=plan.cost.epsilon * scale)
    return {"organization": max_cost(org, record), "record": record}


def _sensitivity_of(spec: ComputationSpec, unit: Unit) -> Sensitivity:
    """The replace-one sensitivity of `spec`'s sum for `unit`."""
    privacy = dataclasses.replace(
        spec.privacy,
        unit=unit,
        neighbouring=Neighbouring.REPLACE_ONE,
        record_bound=spec.privacy.record_bound if unit is Unit.RECORD else 0.0,
    )
    return sensitivity(dataclasses.replace(spec, privacy=privacy))


def _charge(plan: NoisePlan, target: Sensitivity) -> Cost:
    """The plan's noise judged at sensitivity `target` (never less than the plan's cost)."""
    rec = plan.sensitivity
    mechanism = plan.mechanism
    if mechanism is Mechanism.RANDOMIZED_RESPONSE:
        cost = plan.cost  # each answer is randomized alone: one answer is one record
    elif mechanism is Mechanism.DISCRETE_LAPLACE:
        cost = Cost(epsilon=plan.cost.epsilon * Fraction(target.l1, rec.l1))
    elif mechanism is Mechanism.SKELLAM:
        cost = Cost(rho=skellam_rho(target, int(plan.variance)))
    else:
        cost = Cost(rho=plan.cost.rho * Fraction(target.l2_squared, rec.l2_squared))
    return max_cost(cost, plan.cost)


def max_cost(a: Cost, b: Cost) -> Cost:
    """The larger of two costs on each scale (a group never costs less than one member)."""
    return Cost(max(a.epsilon, b.epsilon), max(a.rho, b.rho))
