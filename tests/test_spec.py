"""ComputationSpec.check and check_overflow: every rule, and the exact overflow boundary."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest

from mpcnode.core.cohorts import CohortOptions
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.privacy import Mechanism, Privacy
from mpcnode.core.spec import (
    MAX_FRACTIONAL_BITS,
    MAX_LENGTH,
    MAX_PARTIES,
    ComputationSpec,
    Kind,
    check_overflow,
)
from mpcnode.errors import InvalidInput

BASE = ComputationSpec(name="raises-2024", kind=Kind.SUM, dataset="raises", lower=0, upper=10_000)
HISTOGRAM = ComputationSpec(
    name="vote",
    kind=Kind.HISTOGRAM,
    dataset="ballot",
    lower=0,
    upper=1,
    length=3,
    bins=("yes", "no", "abstain"),
)


def _refused(spec: ComputationSpec, message: str, parties: int = 4) -> None:
    with pytest.raises(InvalidInput, match=message):
        spec.check(parties)


def test_valid_specs_pass() -> None:
    BASE.check(4)
    HISTOGRAM.check(MAX_PARTIES)
    dataclasses.replace(BASE, lower=-1.5, upper=2.25, fractional_bits=16, length=10**7).check(50)


# --- overflow -------------------------------------------------------------------------


# 2^63 / 1000 = 9223372036854775.808, so an encoded bound of 9223372036854776 (= B * 2^3 with
# B exactly representable) fits 999 parties and overflows at 1000.
EDGE = dataclasses.replace(BASE, upper=1152921504606847.0, fractional_bits=3)


def test_overflow_boundary_one_more_party_overflows() -> None:
    assert 999 * 9223372036854776 < 2**63 <= 1000 * 9223372036854776
    EDGE.check(999)
    with pytest.raises(InvalidInput) as caught:
        EDGE.check(1000)
    message = caught.value.message
    assert "1000 parties" in message
    assert "fractional_bits" in message
    assert "2^3" in message


@pytest.mark.parametrize(
    ("parties", "bound", "f", "fits"),
    [
        (4, 2.0**61 - 256, 0, True),  # 4 * (2^61 - 256) = 2^63 - 1024
        (4, 2.0**61, 0, False),  # exactly 2^63: one past the largest int64
        (2, 2.0**61, 1, False),  # the same total reached through 2^f
        (2, 2.0**60, 1, True),
        (2, -(2.0**62), 0, False),  # the lower bound counts by its magnitude
    ],
)
def test_check_overflow_is_exact(parties: int, bound: float, f: int, fits: bool) -> None:
    lower, upper = (bound, 0.0) if bound < 0 else (0.0, bound)
    if fits:
        check_overflow(parties, lower, upper, f)
    else:
        with pytest.raises(InvalidInput, match=r"overflow: .* parties .*\(fractional_bits\)"):
            check_overflow(parties, lower, upper, f)


def test_overflow_message_names_the_terms() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_overflow(10, -1e12, 5.0, 30)
    message = caught.value.message
    assert message.startswith("overflow: 10 parties x max(|lower|, |upper|) = 1e+12 x 2^30")
    assert "narrow the bounds" in message


# --- shape, bins, parties ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bins": ()}, "needs spec.bins"),
        ({"bins": ("yes", "yes", "no")}, "repeated name"),
        ({"length": 2}, "spec.length is 2 but there are 3 bins"),
        ({"fractional_bits": 4}, "histogram counts whole items"),
        ({"lower": -1}, "cannot be negative"),
    ],
)
def test_histogram_rules(changes: dict[str, object], message: str) -> None:
    _refused(dataclasses.replace(HISTOGRAM, **changes), message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bins": ("a",)}, "only for histograms"),
        ({"length": 0}, "spec.length is 0"),
        ({"length": MAX_LENGTH + 1}, f"1 to {MAX_LENGTH}"),
        ({"fractional_bits": MAX_FRACTIONAL_BITS + 1}, "fractional_bits is 53"),
        ({"fractional_bits": -1}, "fractional_bits is -1"),
        ({"kind": Kind.COUNT, "fractional_bits": 2}, "count counts whole items"),
        ({"name": ""}, "spec.name"),
        ({"dataset": "no spaces"}, "'no spaces' must be 1-64 characters"),
    ],
)
def test_shape_and_name_rules(changes: dict[str, object], message: str) -> None:
    _refused(dataclasses.replace(BASE, **changes), message)  # type: ignore[arg-type]


@pytest.mark.parametrize("min_parties", [1, 0, -2])
def test_min_parties_below_two_is_refused(min_parties: int) -> None:
    _refused(dataclasses.replace(BASE, min_parties=min_parties), "at least 2")


@pytest.mark.parametrize("parties", [1, MAX_PARTIES + 1])
def test_party_count_out_of_range_is_refused(parties: int) -> None:
    _refused(BASE, "number of parties", parties=parties)


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lower": 5, "upper": 4}, r"spec.lower \(5\) is above spec.upper \(4\)"),
        ({"upper": math.inf}, "finite"),
        ({"lower": math.nan}, "finite"),
        ({"upper": 10.5}, "integer values need integer bounds"),
        ({"lower": -0.25, "upper": 0.75, "fractional_bits": 0}, "integer bounds"),
    ],
)
def test_bounds_rules(changes: dict[str, object], message: str) -> None:
    _refused(dataclasses.replace(BASE, **changes), message)  # type: ignore[arg-type]


def test_real_bounds_are_fine_with_fractional_bits() -> None:
    dataclasses.replace(BASE, lower=-0.25, upper=0.75, fractional_bits=8).check(4)


# --- canonical bytes ----------------------------------------------------------------------


def test_canonical_bytes_are_exact_and_cover_every_field() -> None:
    assert BASE.canonical_bytes() == dataclasses.replace(BASE).canonical_bytes()
    changes: list[dict[str, object]] = [
        {"name": "other"},
        {"kind": Kind.MEAN},
        {"dataset": "other"},
        {"lower": -1.0},
        {"upper": 10_000 + 2**-39},  # a change below float printing precision still counts
        {"length": 2},
        {"fractional_bits": 1},
        {"bins": ("x",)},
        {"min_parties": 3},
        {"readers": ("analyst",)},
        {"privacy": Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0)},
        {"comparison": ComparisonOptions(suppress_dominant=Fraction(4, 5))},
        {"cohorts": CohortOptions(max_records=10)},
    ]
    assert {f.name for f in dataclasses.fields(BASE)} == {k for c in changes for k in c}
    for change in changes:
        other = dataclasses.replace(BASE, **change)  # type: ignore[arg-type]
        assert other.canonical_bytes() != BASE.canonical_bytes(), change
