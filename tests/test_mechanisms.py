"""Mechanisms bound to the spec: sensitivity, calibration, refusals, reports, polls."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from seeded import SeededSource

from mpcnode.core.accounting import Cost, epsilon_at_delta
from mpcnode.core.mechanisms import (
    NoisePlan,
    check_contributors,
    draw_noise,
    noise_report,
    plan_noise,
    sensitivity,
    skellam_rho,
)
from mpcnode.core.noise_bounds import (
    PolyaDifference,
    SkellamLaw,
    interval_halfwidth,
    tail_halfwidth,
)
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit
from mpcnode.core.randomized_response import debias_poll, randomized_response
from mpcnode.core.randomness import UniformInts
from mpcnode.core.result_privacy import result_privacy
from mpcnode.core.spec import ComputationSpec, Kind, spec_from_canonical
from mpcnode.core.vector_samplers import EXACT, VECTORIZED, VectorNoise
from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.wire.specs import spec_from_proto, spec_to_proto

LAPLACE = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0)
RAISES = ComputationSpec("raises", Kind.MEAN, "raises", 0, 10_000, min_parties=3, privacy=LAPLACE)


def _with(spec: ComputationSpec, **privacy: object) -> ComputationSpec:
    return dataclasses.replace(spec, privacy=dataclasses.replace(spec.privacy, **privacy))  # type: ignore[arg-type]


def _plan(spec: ComputationSpec, parties: int = 4) -> NoisePlan:
    spec.check(parties)
    plan = plan_noise(spec, parties)
    assert plan is not None
    return plan


# --- sensitivity: from declared bounds and the privacy unit, never from data ---------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (RAISES, (10_000, 10_000**2, 10_000)),
        (_with(RAISES, neighbouring=Neighbouring.ADD_REMOVE), (10_000, 10_000**2, 10_000)),
        (
            dataclasses.replace(RAISES, lower=-3, upper=5, length=4),
            (4 * 8, 4 * 64, 8),
        ),
        (
            _with(
                dataclasses.replace(RAISES, lower=-3, upper=5), neighbouring=Neighbouring.ADD_REMOVE
            ),
            (5, 25, 5),
        ),
        (
            _with(dataclasses.replace(RAISES, fractional_bits=4, upper=2.5), record_bound=0),
            (40, 1600, 40),
        ),
        (_with(RAISES, unit=Unit.RECORD, record_bound=120.5), (121, 121**2, 121)),
        (
            _with(
                ComputationSpec("v", Kind.HISTOGRAM, "v", 0, 1000, 3, bins=("a", "b", "c")),
                mechanism=Mechanism.DISCRETE_LAPLACE,
                epsilon=1.0,
                unit=Unit.RECORD,
            ),
            (2, 2, 1),
        ),
        (
            _with(
                ComputationSpec("v", Kind.HISTOGRAM, "v", 0, 1000, 3, bins=("a", "b", "c")),
                mechanism=Mechanism.DISCRETE_LAPLACE,
                epsilon=1.0,
                unit=Unit.RECORD,
                neighbouring=Neighbouring.ADD_REMOVE,
            ),
            (1, 1, 1),
        ),
        (
            _with(
                ComputationSpec("c", Kind.COUNT, "c", 0, 500),
                mechanism=Mechanism.DISCRETE_LAPLACE,
                epsilon=1.0,
                unit=Unit.RECORD,
            ),
            (1, 1, 1),
        ),
    ],
)
def test_sensitivity_follows_bounds_and_unit(
    spec: ComputationSpec, expected: tuple[int, ...]
) -> None:
    s = sensitivity(spec)
    assert (s.l1, s.l2_squared, s.linf) == expected


def test_fixed_point_scale_is_folded_into_the_integer_sensitivity() -> None:
    spec = dataclasses.replace(RAISES, upper=1.0, fractional_bits=16)
    assert sensitivity(spec).l1 == 1 << 16
    plan = _plan(spec)
    assert plan.gamma == Fraction(1, 1 << 16)  # scale 2^16 encoded units = 1.0 in the output


# --- calibration --------------------------------------------------------------------------
def test_discrete_laplace_scale_is_sensitivity_over_epsilon() -> None:
    plan = _plan(_with(RAISES, epsilon=0.5))
    assert plan.gamma == Fraction(1, 20_000)
    assert plan.cost == Cost(epsilon=Fraction(1, 2))
    assert plan.threshold == 3 and plan.distributed


def test_epsilon_is_the_decimal_the_analyst_wrote() -> None:
    plan = _plan(_with(RAISES, epsilon=0.1))
    assert plan.cost.epsilon == Fraction(1, 10)
    assert plan.gamma == Fraction(1, 100_000)


def test_skellam_variance_is_the_least_that_meets_rho() -> None:
    spec = dataclasses.replace(
        RAISES, kind=Kind.SUM, length=1000, upper=1, privacy=Privacy(Mechanism.SKELLAM, rho=0.5)
    )
    plan = _plan(spec)
    sens = plan.sensitivity
    v = int(plan.variance)
    assert skellam_rho(sens, v) <= Fraction(1, 2) < skellam_rho(sens, v - 1)
    # close to the Gaussian calibration D2^2 / (2 rho), slightly above it
    assert 1.0 <= v / (sens.l2_squared / (2 * 0.5)) < 1.01


def test_discrete_gaussian_is_central_and_calibrated_by_rho() -> None:
    spec = dataclasses.replace(
        RAISES,
        kind=Kind.SUM,
        upper=10,
        privacy=Privacy(Mechanism.DISCRETE_GAUSSIAN, Placement.CENTRAL, rho=0.25),
    )
    assert _plan(spec).variance == Fraction(100, 2 * Fraction(1, 4))


# --- refusals with a message a person can act on ------------------------------------------
@pytest.mark.parametrize(
    ("privacy", "message"),
    [
        (Privacy(Mechanism.DISCRETE_LAPLACE), "needs spec.privacy.epsilon"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=math.nan), "finite"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=-1), "finite number >= 0"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, rho=1), "leave rho at 0"),
        (Privacy(Mechanism.SKELLAM, epsilon=1), "needs spec.privacy.rho"),
        (Privacy(Mechanism.DISCRETE_GAUSSIAN, rho=1), "use skellam for distributed"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, Placement.LOCAL, epsilon=1), "only local mechanism"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD), "record_bound"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, record_bound=2), "for unit=record"),
        (Privacy(epsilon=1), "no mechanism"),
        (
            Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, epsilon=1, unit=Unit.RECORD),
            "exactly two bins",
        ),
    ],
)
def test_bad_privacy_settings_are_refused(privacy: Privacy, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        dataclasses.replace(RAISES, privacy=privacy).check(4)


def test_noise_that_could_wrap_the_ring_is_refused() -> None:
    spec = dataclasses.replace(
        RAISES,
        upper=2**20,
        fractional_bits=40,
        privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1e-3),
    )
    with pytest.raises(InvalidInput, match="noise needs a margin"):
        plan_noise(spec, 4)


def test_fewer_than_t_contributors_are_refused() -> None:
    plan = _plan(_with(RAISES, threshold=4))
    check_contributors(plan, 4)
    with pytest.raises(PreconditionFailed, match="fewer than the t=4"):
        check_contributors(plan, 3)


# --- canonical form and wire form keep every privacy field --------------------------------
def test_privacy_survives_canonical_and_wire_round_trips() -> None:
    spec = _with(
        RAISES,
        epsilon=0.7,
        unit=Unit.RECORD,
        record_bound=12.5,
        neighbouring=Neighbouring.ADD_REMOVE,
        threshold=4,
        placement=Placement.CENTRAL,
    )
    assert spec_from_canonical(spec.canonical_bytes()) == spec
    assert spec_from_proto(spec_to_proto(spec)) == spec
    exact = dataclasses.replace(RAISES, privacy=Privacy())
    assert b"privacy" not in exact.canonical_bytes()  # exact specs keep their known hashes


# --- noise draws and reports --------------------------------------------------------------
def test_distributed_noise_shares_use_the_exact_sampler_for_short_vectors() -> None:
    plan = _plan(RAISES)
    assert plan.sampler == EXACT
    noise = draw_noise(plan, UniformInts(SeededSource(1)), VectorNoise)
    assert noise.dtype == np.int64 and noise.shape == (1,)


def test_long_vectors_use_the_labelled_vectorized_sampler() -> None:
    spec = dataclasses.replace(RAISES, kind=Kind.SUM, length=1_000_000, upper=1)
    plan = _plan(spec)
    assert plan.sampler == VECTORIZED
    noise = draw_noise(plan, UniformInts(SeededSource(2)), lambda: VectorNoise(b"k" * 16))
    assert noise.shape == (1_000_000,)
    law = PolyaDifference(1 / 3, float(plan.gamma))
    assert abs(noise.var() / law.variance() - 1) < 0.05


def test_report_states_scale_and_a_conservative_95_interval() -> None:
    plan = _plan(RAISES)
    report = noise_report(plan, contributors=3, divisor=3)
    alpha = math.exp(-1 / 10_000)
    assert report.noise_scale == pytest.approx(math.sqrt(2 * alpha) / (1 - alpha) / 3)
    # P(|X| > m) = 2 a^(m+1) / (1 + a) for the discrete Laplace: the least m with <= 0.05
    exact_m = math.ceil(math.log(0.05 * (1 + alpha) / 2) / math.log(alpha) - 1)
    assert report.ci95_halfwidth == pytest.approx(exact_m / 3, abs=1 / 3)
    more = noise_report(plan, contributors=4, divisor=1)
    assert more.noise_scale == pytest.approx(math.sqrt(4 / 3) * report.noise_scale * 3)


def test_intervals_match_scipy_and_chernoff_stays_conservative() -> None:
    stats = pytest.importorskip("scipy.stats")
    law = SkellamLaw(50.0)
    m = interval_halfwidth(law, 0.05)
    inside = stats.skellam(50, 50).cdf(m) - stats.skellam(50, 50).cdf(-m - 1)
    below = stats.skellam(50, 50).cdf(m - 1) - stats.skellam(50, 50).cdf(-m)
    assert inside >= 0.95 > below
    assert tail_halfwidth(law, 0.05) >= m
    polya = PolyaDifference(4 / 3, 0.01)
    assert tail_halfwidth(polya, 0.05) >= interval_halfwidth(polya, 0.05)


def test_result_statement_for_exact_and_noisy_results() -> None:
    assert result_privacy(dataclasses.replace(RAISES, privacy=Privacy()), 4).summary() == (
        "privacy: none (exact aggregate)"
    )
    statement = result_privacy(RAISES, 4)
    assert statement.contributors == 4 and statement.threshold == 3
    assert statement.sampler == EXACT and statement.epsilon == 1.0
    assert "discrete_laplace, distributed, epsilon=1" in statement.summary()


# --- accounting ---------------------------------------------------------------------------
def test_sequential_composition_is_exact() -> None:
    total = sum((Cost(epsilon=Fraction(1, 10)) for _ in range(10)), Cost())
    assert total == Cost(epsilon=Fraction(1))
    cap = Cost(Fraction(1), Fraction(0))
    assert Cost(epsilon=Fraction(1, 10)).fits(Cost(epsilon=Fraction(9, 10)), cap)
    assert not Cost(epsilon=Fraction(1, 10)).fits(total, cap)
    assert total.headroom(cap) == Cost() == (total + total).headroom(cap)


def test_zcdp_conversion_is_at_least_the_continuous_bound() -> None:
    rho, delta = Fraction(1, 2), 1e-6
    continuous = 0.5 + 2 * math.sqrt(0.5 * math.log(1 / delta))
    got = epsilon_at_delta([], rho, delta)
    assert continuous <= got <= continuous * 1.02
    # pure-DP releases alone keep their plain sum when that is smaller
    assert epsilon_at_delta([Fraction(1, 2)] * 2, Fraction(0), delta) == pytest.approx(1.0)


# --- randomized response ------------------------------------------------------------------
def test_randomized_response_keeps_answers_with_probability_e_eps_over_1_plus_e_eps() -> None:
    u = UniformInts(SeededSource(3))
    n = 20_000
    counts = randomized_response(np.ones(n, dtype=np.int64), Fraction(1), u)
    p = math.e / (1 + math.e)
    assert counts.sum() == n
    assert abs(counts[1] - n * p) < 5 * math.sqrt(n * p * (1 - p))


def test_randomized_response_refuses_non_binary_answers() -> None:
    with pytest.raises(InvalidInput, match=r"0 .first bin. or 1"):
        randomized_response(np.array([0, 2]), Fraction(1), UniformInts(SeededSource(4)))


def test_poll_debiasing_is_unbiased_with_the_textbook_standard_error() -> None:
    p = math.e / (1 + math.e)
    n, yes = 1000, 300
    expected_reported = yes * p + (n - yes) * (1 - p)
    poll = debias_poll(np.array([round(n - expected_reported), round(expected_reported)]), 1.0)
    assert poll.estimate[1] == pytest.approx(yes, abs=2)
    assert poll.stderr == pytest.approx(math.sqrt(n * p * (1 - p)) / (2 * p - 1))


def test_a_result_says_when_more_contributors_than_t_made_the_noise_larger() -> None:
    from mpcnode.core.result_privacy import result_privacy  # noqa: PLC0415

    spec = ComputationSpec(
        "s", Kind.SUM, "raises", 0, 10_000, min_parties=3,
        privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0),
    )  # fmt: skip
    assert "sized for" not in result_privacy(spec, 3).summary()
    four = result_privacy(spec, 4).summary()
    assert "noise sized for 3 contributors; with 4 its sd is 1.15x" in four
    assert "ask for threshold=4" in four
    central = dataclasses.replace(spec.privacy, placement=Placement.CENTRAL)
    assert (
        "sized for" not in result_privacy(dataclasses.replace(spec, privacy=central), 4).summary()
    )
