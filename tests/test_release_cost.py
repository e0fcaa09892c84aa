"""What a release costs each privacy unit: group privacy at organization level (DESIGN 4.5)."""

from __future__ import annotations

import math
from fractions import Fraction

from mpcnode.core.accounting import Cost
from mpcnode.core.mechanisms import plan_noise
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.release_cost import release_costs
from mpcnode.core.spec import ComputationSpec, Kind


def spec(privacy: Privacy, **fields: object) -> ComputationSpec:
    base: dict[str, object] = {
        "name": "s",
        "kind": Kind.SUM,
        "dataset": "payroll",
        "lower": 0,
        "upper": 1_000_000,
        "length": 1,
        "min_parties": 3,
        "privacy": privacy,
    }
    return ComputationSpec(**{**base, **fields})  # type: ignore[arg-type]


def test_an_exact_release_costs_nothing() -> None:
    assert release_costs(plan_noise(spec(Privacy()), 3)) == {}


def test_an_organization_release_is_charged_at_both_levels() -> None:
    plan = plan_noise(spec(Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5)), 3)
    half = Cost(Fraction(1, 2))
    assert release_costs(plan) == {"organization": half, "record": half}


def test_a_record_release_costs_the_organization_its_group_privacy() -> None:
    """A tiny bound buys no cheap exactness: the organization pays in proportion.

    Bound 1e-5 on whole numbers is one encoded unit, so the organization's [0, 1e6] total is
    10^6 records' worth.
    """
    for bound, ratio in ((1e-5, 10**6), (10_000.0, 100), (1_000_000.0, 1)):
        privacy = Privacy(
            Mechanism.DISCRETE_LAPLACE, epsilon=0.5, unit=Unit.RECORD, record_bound=bound
        )
        costs = release_costs(plan_noise(spec(privacy), 3))
        assert costs["record"] == Cost(Fraction(1, 2))
        assert costs["organization"] == Cost(Fraction(ratio, 2))


def test_zcdp_record_releases_scale_with_the_squared_ratio() -> None:
    gaussian = Privacy(
        Mechanism.DISCRETE_GAUSSIAN, Placement.CENTRAL, rho=0.1, unit=Unit.RECORD,
        record_bound=10_000.0,
    )  # fmt: skip
    costs = release_costs(plan_noise(spec(gaussian), 3))
    assert costs["organization"].rho == Fraction(1, 10) * 100**2
    skellam = Privacy(Mechanism.SKELLAM, rho=0.1, unit=Unit.RECORD, record_bound=10_000.0)
    costs = release_costs(plan_noise(spec(skellam), 3))
    # The Skellam bound is not exactly quadratic, but at least the Gaussian-like term.
    assert costs["organization"].rho >= Fraction(1, 10) * 100**2 * Fraction(99, 100)
    assert costs["record"].rho == Fraction(1, 10)


def test_randomized_response_costs_an_organization_epsilon_per_respondent() -> None:
    poll = Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, epsilon=1.0, unit=Unit.RECORD)
    histogram = spec(poll, kind=Kind.HISTOGRAM, upper=500, length=2, bins=("no", "yes"))
    costs = release_costs(plan_noise(histogram, 3))
    assert costs == {"organization": Cost(Fraction(500)), "record": Cost(Fraction(1))}
    assert math.isfinite(float(costs["organization"].epsilon))
