"""Owner declarations: what they accept, how values are checked at submit, how specs conform."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.conformance import conform, node_function
from mpcnode.core.declaration import (
    Declaration,
    ReleasePolicy,
    Shape,
    declaration_from_doc,
    declaration_to_doc,
)
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.spec import COMPARISON_KINDS, ComputationSpec, Kind, check_dataset_name
from mpcnode.errors import InvalidInput, PreconditionFailed

RAISES = Declaration("raises", Shape.SCALAR, 0, 10_000)
SALARIES = Declaration(
    "salaries", Shape.VECTOR, 0, 1e6, length=3, fractional_bits=8, unit=Unit.RECORD,
    record_bound=5000,
)  # fmt: skip
LUNCH = Declaration("lunch", Shape.VOTE, 0, 1, length=3, bins=("pizza", "sushi", "tacos"))
POLL = Declaration(
    "poll", Shape.POLL, 0, 100, length=2, bins=("no", "yes"), unit=Unit.RECORD, record_bound=1
)
SUM = ComputationSpec("sum of raises", Kind.SUM, "raises", 0, 10_000)


# --- the declaration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lower": 5.0, "upper": 1.0}, "above upper"),
        ({"upper": float("nan")}, "finite"),
        ({"upper": 2.5}, "integer lower and upper"),
        ({"upper": 2.0**62}, r"below 2\^62"),
        ({"length": 2}, "a scalar has length 1"),
        ({"bins": ("a",)}, "bins are for"),
        ({"unit": Unit.RECORD}, "record_bound above 0"),
        ({"record_bound": 3.0}, "record_bound is for unit=record"),
        ({"dataset": "raises\n"}, "must be 1-64 characters"),
        ({"policy": ReleasePolicy(max_epsilon=float("inf"))}, "max_epsilon"),
    ],
)
def test_a_declaration_that_does_not_hold_together_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        dataclasses.replace(RAISES, **change).check()  # type: ignore[arg-type]


def test_votes_and_polls_have_their_own_shape_rules() -> None:
    with pytest.raises(InvalidInput, match="domain \\[0, 1\\]"):
        dataclasses.replace(LUNCH, upper=2).check()
    with pytest.raises(InvalidInput, match="one organization's voice"):
        dataclasses.replace(LUNCH, unit=Unit.RECORD, record_bound=1).check()
    with pytest.raises(InvalidInput, match="record_bound must be 1"):
        dataclasses.replace(POLL, record_bound=2).check()
    for decl in (RAISES, SALARIES, LUNCH, POLL):
        decl.check()


def test_the_fingerprint_covers_every_field_and_survives_storage() -> None:
    seen = {RAISES.fingerprint}
    for change in (
        {"upper": 10_001.0},
        {"fractional_bits": 1},
        {"policy": ReleasePolicy(allow_exact=False)},
        {"policy": ReleasePolicy(epsilon_cap=2.0)},
    ):
        seen.add(dataclasses.replace(RAISES, **change).fingerprint)  # type: ignore[arg-type]
    assert len(seen) == 5
    for decl in (RAISES, SALARIES, LUNCH, POLL):
        assert declaration_from_doc(declaration_to_doc(decl)) == decl


def test_dataset_names_are_matched_in_full_and_echoed_short() -> None:
    with pytest.raises(InvalidInput, match=r"'raises\\n'"):
        check_dataset_name("raises\n")
    with pytest.raises(InvalidInput) as refused:
        check_dataset_name("x" * 10_000)
    assert len(refused.value.message) < 300


# --- submit time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decl", "values", "message"),
    [
        (RAISES, np.array([10_001]), "1 value above the declared upper 10000 \\(first at index 0"),
        (RAISES, np.array([-1, 2]), "2 values, but the declaration says length 1"),
        (RAISES, np.array([2.5]), "with a fractional part"),
        (SALARIES, np.array([1.0, np.nan, np.inf]), "2 values not finite"),
        (LUNCH, np.array([1, 1, 1]), "one-hot, exactly one 1 among 3 bins"),
        (LUNCH, np.array([0, 0, 0]), "this one has 0 ones"),
        (LUNCH, np.array([0, 2, 0]), "above the declared upper 1"),
        (POLL, np.array([0, 1, 2]), "above the declared upper 1"),
        (POLL, np.ones(101, dtype=np.int64), "at most 100 respondents"),
        (RAISES, np.array([[1]]), "1-D array"),
    ],
)
def test_values_are_refused_at_submit_naming_what_is_wrong(
    decl: Declaration, values: np.ndarray, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        decl.validate(values)


def test_integral_floats_become_exact_integers() -> None:
    out = RAISES.validate(np.array([10_000.0]))
    assert out.dtype == np.int64 and out.tolist() == [10_000]
    assert POLL.validate(np.array([0, 1, 1])).tolist() == [0, 1, 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-2e6, 2e6, allow_nan=False), min_size=3, max_size=3))
def test_a_refusal_at_submit_never_quotes_a_value(values: list[float]) -> None:
    """Even the owner's own error says where and which rule, not the value."""
    try:
        SALARIES.validate(np.array(values))
    except InvalidInput as err:
        for v in values:
            if abs(v) > 1e6 and not v.is_integer():  # distinctive: cannot be a count or bound
                assert repr(v) not in err.message


# --- Prepare: conformance --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dataclasses.replace(SUM, upper=3800), "spec.upper is '3800.0', the declaration says"),
        (dataclasses.replace(SUM, lower=-1), "spec.lower"),
        (dataclasses.replace(SUM, fractional_bits=4), "spec.fractional_bits"),
        (dataclasses.replace(SUM, kind=Kind.HISTOGRAM, bins=("a",)), "kind histogram"),
        (
            dataclasses.replace(
                SUM,
                privacy=Privacy(
                    Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD, record_bound=1e-5
                ),
            ),
            "needs a dataset declared with a per-record bound",
        ),
    ],
)
def test_a_spec_that_does_not_match_is_refused_naming_the_declaration(
    spec: ComputationSpec, message: str
) -> None:
    with pytest.raises(PreconditionFailed, match=message) as refused:
        conform(RAISES, spec)
    assert "scalar in [0, 10000]" in refused.value.message
    assert RAISES.fingerprint[:12] in refused.value.message


def test_record_level_needs_exactly_the_declared_bound() -> None:
    spec = ComputationSpec(
        "s", Kind.SUM, "salaries", 0, 1e6, length=3, fractional_bits=8,
        privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD, record_bound=5000),
    )  # fmt: skip
    conform(SALARIES, spec)
    tiny = dataclasses.replace(spec.privacy, record_bound=1e-5)
    with pytest.raises(
        PreconditionFailed, match="record_bound is 1e-05, the declaration says 5000"
    ):
        conform(SALARIES, dataclasses.replace(spec, privacy=tiny))


def test_the_release_policy_is_the_owners() -> None:
    private = dataclasses.replace(
        RAISES, policy=ReleasePolicy(allow_exact=False, max_epsilon=0.5, min_parties=5)
    )
    central = Privacy(Mechanism.DISCRETE_LAPLACE, Placement.CENTRAL, epsilon=0.5)
    for privacy, message in (
        (Privacy(), "allows no exact release"),
        (central, "central noise is exact to the coordinator"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1), "above the per-release 0.5"),
        (Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5), "min_parties 5"),
    ):
        with pytest.raises(PreconditionFailed, match=message):
            conform(private, dataclasses.replace(SUM, privacy=privacy))
    required = dataclasses.replace(RAISES, policy=ReleasePolicy(require_dp=True))
    with pytest.raises(PreconditionFailed, match="requires differential privacy"):
        conform(required, SUM)
    conform(required, dataclasses.replace(SUM, privacy=central))


def test_votes_and_polls_take_histograms_and_polls_alone_take_randomized_response() -> None:
    vote = ComputationSpec("v", Kind.HISTOGRAM, "lunch", 0, 1, length=3, bins=LUNCH.bins)
    conform(LUNCH, vote)
    rr = Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, epsilon=1, unit=Unit.RECORD)
    with pytest.raises(PreconditionFailed, match="does not conform"):
        conform(LUNCH, dataclasses.replace(vote, privacy=rr))
    counts = dataclasses.replace(SALARIES, bins=("a", "b", "c"), fractional_bits=0, record_bound=1)
    histogram = ComputationSpec("h", Kind.HISTOGRAM, "salaries", 0, 1e6, length=3, bins=counts.bins)
    conform(counts, histogram)
    # A vector's record may touch every bin: record-level histograms are for polls only.
    with pytest.raises(PreconditionFailed, match="a record-level histogram is for polls"):
        conform(counts, dataclasses.replace(histogram, privacy=rr))
    laplace = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD, record_bound=1)
    with pytest.raises(PreconditionFailed, match="a record-level histogram is for polls"):
        conform(counts, dataclasses.replace(histogram, privacy=laplace))
    organization = dataclasses.replace(laplace, unit=Unit.ORGANIZATION, record_bound=0)
    conform(counts, dataclasses.replace(histogram, privacy=organization))
    with pytest.raises(PreconditionFailed, match="randomized response is for datasets"):
        conform(
            counts,
            dataclasses.replace(histogram, privacy=dataclasses.replace(rr, unit=Unit.ORGANIZATION)),
        )
    poll = ComputationSpec("p", Kind.HISTOGRAM, "poll", 0, 100, length=2, bins=("no", "yes"))
    conform(POLL, poll)
    conform(POLL, dataclasses.replace(poll, privacy=rr))


def test_sum_mean_and_count_are_one_node_side_function() -> None:
    sums = [k for k in Kind if k not in COMPARISON_KINDS]
    functions = {node_function(dataclasses.replace(SUM, kind=k)) for k in sums}
    assert len(functions) == 1
    assert node_function(dataclasses.replace(SUM, name="other", min_parties=4)) in functions
    assert node_function(dataclasses.replace(SUM, upper=5000)) not in functions


def test_each_comparison_with_its_options_is_a_function_of_its_own() -> None:
    """Two thresholds at different T over one sum would bisect it: they must differ."""
    variants = [
        dataclasses.replace(SUM, kind=Kind.MAX),
        dataclasses.replace(SUM, kind=Kind.MIN),
        dataclasses.replace(SUM, kind=Kind.AUCTION, comparison=ComparisonOptions(price="first")),
        dataclasses.replace(SUM, kind=Kind.AUCTION, comparison=ComparisonOptions(price="second")),
        dataclasses.replace(
            SUM, kind=Kind.THRESHOLD, comparison=ComparisonOptions(at_least=Fraction(10))
        ),
        dataclasses.replace(
            SUM, kind=Kind.THRESHOLD, comparison=ComparisonOptions(at_least=Fraction(11))
        ),
        dataclasses.replace(SUM, comparison=ComparisonOptions(suppress_dominant=Fraction(4, 5))),
        SUM,
    ]
    assert len({node_function(v) for v in variants}) == len(variants)


def test_a_poll_releases_its_answers_exact_or_randomized_only() -> None:
    poll = ComputationSpec("p", Kind.HISTOGRAM, "poll", 0, 100, length=2, bins=("no", "yes"))
    laplace = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD, record_bound=1)
    with pytest.raises(PreconditionFailed, match="a poll takes an exact count or randomized"):
        conform(POLL, dataclasses.replace(poll, privacy=laplace))
