"""Planning noise never fails for a reason it does not name, and never plans what cannot be drawn.

`plan_noise` is the one validation of a spec's noise that the coordinator runs at create and
every node at Prepare. Properties, over fuzzed privacy settings (down to subnormal epsilons,
up to 1e308 record bounds) and spec shapes:

- it returns a plan or raises InvalidInput, never OverflowError, ZeroDivisionError,
  ValueError or anything else (those would reach the caller as INTERNAL);
- a plan can be drawn: the sampler it names accepts its parameters (a zero-length draw runs
  every parameter check of the very call `draw_noise` makes), and a short real draw works;
- what the coordinator accepts for n parties, a node accepts for any participant count up
  to n, and the result's privacy statement is finite.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seeded import SeededSource

from mpcnode.core.mechanisms import (
    NoisePlan,
    _work_per_element,
    draw_noise,
    plan_noise,
)
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit
from mpcnode.core.randomized_response import randomized_response
from mpcnode.core.randomness import UniformInts
from mpcnode.core.result_privacy import result_privacy
from mpcnode.core.spec import MAX_LENGTH, ComputationSpec, Kind
from mpcnode.core.vector_samplers import VECTORIZED, VectorNoise
from mpcnode.errors import InvalidInput

KEY = bytes(range(16))  # tests only: production VectorNoise keys itself from os.urandom
EXTREMES = [5e-324, 1e-310, 1e-300, 1e-100, 1e-30, 1e-12, 1e-6, 1e-3, 0.1, 1.0, 100.0]
CHEAP_DRAW = 20_000  # work units (about microseconds) a real exact draw may cost here


def _amounts(top: float = 308) -> st.SearchStrategy[float]:
    """Privacy amounts from subnormal to 10^top, and now and then one `Privacy.check` refuses."""
    valid = st.one_of(
        st.sampled_from(EXTREMES),
        st.floats(min_value=-323, max_value=top).map(lambda e: 10.0**e),
        st.floats(min_value=0.0, max_value=min(1000.0, 10.0**top)),
    )
    invalid = st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e308, 1.7e308])
    return st.integers(0, 19).flatmap(lambda i: invalid if i == 0 else valid)


@st.composite
def privacies(draw: st.DrawFn) -> Privacy:
    """A privacy setting, mostly of a consistent shape so that planning gets far."""
    mechanism = draw(st.sampled_from([m for m in Mechanism if m is not Mechanism.NONE]))
    fitting = {
        Mechanism.RANDOMIZED_RESPONSE: Placement.LOCAL,
        Mechanism.DISCRETE_GAUSSIAN: Placement.CENTRAL,
    }.get(mechanism, draw(st.sampled_from([Placement.DISTRIBUTED, Placement.CENTRAL])))
    pure = mechanism in (Mechanism.DISCRETE_LAPLACE, Mechanism.RANDOMIZED_RESPONSE)
    odd = draw(st.integers(0, 9)) == 0  # one in ten: any combination at all
    unit = (
        Unit.RECORD if mechanism is Mechanism.RANDOMIZED_RESPONSE else draw(st.sampled_from(Unit))
    )
    return Privacy(
        mechanism=mechanism,
        placement=draw(st.sampled_from(Placement)) if odd else fitting,
        epsilon=draw(_amounts(top=2.3)) if pure or odd else 0.0,
        rho=draw(_amounts(top=3.3)) if not pure or odd else 0.0,
        delta=draw(st.one_of(st.just(0.0), _amounts(top=-0.01))),
        unit=unit,
        neighbouring=draw(st.sampled_from(Neighbouring)),
        record_bound=draw(_amounts()) if unit is Unit.RECORD or odd else 0.0,
        threshold=draw(st.one_of(st.just(0), st.integers(2, 1000), st.integers(-1, 1001))),
    )


@st.composite
def specs(draw: st.DrawFn) -> ComputationSpec:
    """A spec whose shape is valid (length, bits, bins), with fuzzed bounds and privacy."""
    privacy = draw(privacies())
    poll = privacy.mechanism is Mechanism.RANDOMIZED_RESPONSE and draw(st.integers(0, 9)) > 0
    kind = Kind.HISTOGRAM if poll else draw(st.sampled_from(Kind))
    if kind is Kind.HISTOGRAM:
        length = 2 if poll else draw(st.integers(1, 6))
    else:
        length = draw(
            st.one_of(
                st.sampled_from([1, 2, 100, 512, 513, 600, 2048, 100_000, 10**7, MAX_LENGTH]),
                st.integers(1, MAX_LENGTH),
            )
        )
    integer = kind in (Kind.COUNT, Kind.HISTOGRAM) or draw(st.booleans())
    magnitudes = [0.0, 1.0, 10.0, 1e4, 2.0**20, 1e12, 2.0**40, 1e18, 1e300]
    upper = draw(st.sampled_from(magnitudes))
    lower = 0.0 if kind in (Kind.COUNT, Kind.HISTOGRAM) else -draw(st.sampled_from(magnitudes))
    return ComputationSpec(
        name="fuzz",
        kind=kind,
        dataset="fuzz",
        lower=lower,
        upper=upper,
        length=length,
        fractional_bits=0 if integer else draw(st.integers(0, 52)),
        bins=tuple(f"b{i}" for i in range(length)) if kind is Kind.HISTOGRAM else (),
        min_parties=draw(st.integers(2, 12)),
        privacy=privacy,
    )


def _draws_without_surprise(plan: NoisePlan) -> None:
    """The plan's sampler accepts its parameters, and a short draw of it works."""
    u = UniformInts(SeededSource(7))
    spec = plan.spec
    if plan.mechanism is Mechanism.RANDOMIZED_RESPONSE:
        counts = randomized_response(
            np.array([0, 1, 1], dtype=np.int64), spec.privacy.epsilon_exact, u
        )
        assert int(counts.sum()) == 3
        return
    # Zero elements: every parameter check of the sampler runs, nothing is drawn.
    empty = dataclasses.replace(plan, spec=dataclasses.replace(spec, length=0))
    assert draw_noise(empty, u, lambda: VectorNoise(KEY)).shape == (0,)
    count = min(spec.length, 3)
    if plan.sampler == VECTORIZED or _work_per_element(plan) * count <= CHEAP_DRAW:
        short = dataclasses.replace(plan, spec=dataclasses.replace(spec, length=count))
        noise = draw_noise(short, u, lambda: VectorNoise(KEY))
        assert noise.shape == (count,) and noise.dtype == np.int64


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), parties=st.integers(2, 1000))
def test_plan_noise_returns_a_plan_or_refuses_with_invalid_input(
    spec: ComputationSpec, parties: int
) -> None:
    try:
        plan = plan_noise(spec, parties)
    except InvalidInput as refusal:
        assert refusal.message and refusal.status == "INVALID_ARGUMENT"
        return
    assert plan is not None
    _draws_without_surprise(plan)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), parties=st.integers(2, 1000), data=st.data())
def test_what_the_coordinator_accepts_every_node_can_plan_and_draw(
    spec: ComputationSpec, parties: int, data: st.DataObject
) -> None:
    try:  # the coordinator's create: spec.check, then plan_noise for the invited parties
        spec.check(parties)
        plan = plan_noise(spec, parties)
    except InvalidInput:
        return
    assert plan is not None
    # A node sees at most the invited parties; the rest of its refusals are policy, not spec.
    participants = data.draw(st.integers(min(spec.min_parties, parties), parties))
    spec.check(max(participants, 2))
    at_node = plan_noise(spec, participants)
    assert at_node is not None and at_node.sampler == plan.sampler
    _draws_without_surprise(at_node)
    contributors = max(participants, plan.threshold)
    if contributors <= parties:
        statement = result_privacy(spec, contributors)
        for number in (statement.noise_scale, statement.ci95_halfwidth, statement.epsilon_at_delta):
            assert math.isfinite(number) and number >= 0


# --- the cases the fuzzing is about, pinned ----------------------------------------------------
BASE = ComputationSpec(name="s", kind=Kind.SUM, dataset="d", lower=0, upper=10, min_parties=2)


def _spec(**privacy: object) -> ComputationSpec:
    return dataclasses.replace(BASE, privacy=Privacy(**privacy))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (_spec(mechanism=Mechanism.DISCRETE_LAPLACE, epsilon=1e-300), "spec.privacy.epsilon"),
        (_spec(mechanism=Mechanism.DISCRETE_LAPLACE, epsilon=5e-324), "spec.privacy.epsilon"),
        (
            _spec(
                mechanism=Mechanism.DISCRETE_LAPLACE, epsilon=5e-324, placement=Placement.CENTRAL
            ),
            "spec.privacy.epsilon",
        ),
        (_spec(mechanism=Mechanism.SKELLAM, rho=1e-300), "spec.privacy.rho"),
        (_spec(mechanism=Mechanism.SKELLAM, rho=5e-324), "spec.privacy.rho"),
        (
            _spec(mechanism=Mechanism.DISCRETE_GAUSSIAN, rho=1e-300, placement=Placement.CENTRAL),
            "spec.privacy.rho",
        ),
        (
            _spec(mechanism=Mechanism.SKELLAM, rho=1, unit=Unit.RECORD, record_bound=1e300),
            "spec.privacy.record_bound",
        ),
        (
            _spec(
                mechanism=Mechanism.DISCRETE_GAUSSIAN,
                rho=1,
                unit=Unit.RECORD,
                record_bound=1e300,
                placement=Placement.CENTRAL,
            ),
            "spec.privacy.record_bound",
        ),
        (
            _spec(
                mechanism=Mechanism.DISCRETE_LAPLACE,
                epsilon=1,
                unit=Unit.RECORD,
                record_bound=1e300,
            ),
            "spec.privacy.record_bound",
        ),
        (_spec(mechanism=Mechanism.SKELLAM, rho=1, delta=5e-324), "spec.privacy.delta"),
    ],
)
def test_extreme_settings_are_refused_naming_the_parameter(
    spec: ComputationSpec, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named.replace(".", r"\.")):
        plan_noise(spec, 4)


def test_skellam_beyond_the_vectorized_sampler_is_refused_at_planning() -> None:
    # 20 fractional bits on [-1, 1]: past 512 elements each node's Skellam mean passes the
    # 2^48 the vectorized sampler draws. The coordinator used to accept this and every node
    # then refused it at Prepare.
    spec = dataclasses.replace(
        _spec(mechanism=Mechanism.SKELLAM, rho=1.0), lower=-1.0, upper=1.0, fractional_bits=20
    )
    fits = dataclasses.replace(spec, length=500)
    fits.check(4)
    plan = plan_noise(fits, 4)
    assert plan is not None and plan.sampler == VECTORIZED
    _draws_without_surprise(plan)
    too_long = dataclasses.replace(spec, length=600)
    too_long.check(4)
    with pytest.raises(InvalidInput, match=r"mu must be in \[0, 2\^48\].*spec\.privacy\.rho"):
        plan_noise(too_long, 4)


def test_discrete_laplace_beyond_the_vectorized_sampler_is_refused_at_planning() -> None:
    # Scales above 2^48 that still fit the ring: distributed (Polya shares, vectorized since
    # their exact cost grows with the scale) and central on a long vector.
    for placement, length, epsilon, parameter in (
        (Placement.DISTRIBUTED, 1, 1e-14, "alpha"),  # scale 10^15, about 2^49.8
        (Placement.CENTRAL, 10**6, 1e-9, "scale"),  # scale 10^16, about 2^53.2
    ):
        spec = dataclasses.replace(
            _spec(mechanism=Mechanism.DISCRETE_LAPLACE, epsilon=epsilon, placement=placement),
            length=length,
        )
        spec.check(4)
        with pytest.raises(InvalidInput, match=f"{parameter} must be in.*spec\\.privacy\\.epsilon"):
            plan_noise(spec, 4)
