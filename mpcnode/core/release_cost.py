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

Pure arithmetic on exact rationals; no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from mpcnode.core.accounting import Cost
from mpcnode.core.mechanisms import NoisePlan, sensitivity, skellam_rho
from mpcnode.core.privacy import Mechanism, Unit


def release_costs(plan: NoisePlan | None) -> dict[str, Cost]:
    """The cost of a release per unit ("organization", "record"); empty for an exact one."""
    if plan is None:
        return {}
    spec = plan.spec
    if spec.privacy.unit is Unit.ORGANIZATION:
        return {"organization": plan.cost, "record": plan.cost}
    whole = dataclasses.replace(
        spec,
        privacy=dataclasses.replace(spec.privacy, unit=Unit.ORGANIZATION, record_bound=0.0),
    )
    org, rec = sensitivity(whole), plan.sensitivity
    mechanism = plan.mechanism
    if mechanism is Mechanism.RANDOMIZED_RESPONSE:
        scale = Fraction(max(1, math.ceil(spec.upper)))
        org_cost = Cost(epsilon=plan.cost.epsilon * scale)
    elif mechanism is Mechanism.DISCRETE_LAPLACE:
        org_cost = Cost(epsilon=plan.cost.epsilon * Fraction(org.l1, rec.l1))
    elif mechanism is Mechanism.SKELLAM:
        org_cost = Cost(rho=max(plan.cost.rho, skellam_rho(org, int(plan.variance))))
    else:
        org_cost = Cost(rho=plan.cost.rho * Fraction(org.l2_squared, rec.l2_squared))
    return {"organization": max_cost(org_cost, plan.cost), "record": plan.cost}


def max_cost(a: Cost, b: Cost) -> Cost:
    """The larger of two costs on each scale (a group never costs less than one member)."""
    return Cost(max(a.epsilon, b.epsilon), max(a.rho, b.rho))
