"""Fixed-point encoding: validation, rounding, bounds policies, and the full round trip."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnode.core.encoding import decode, encode, validate_finite, validate_input
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.sharing import reconstruct, split
from mpcnode.core.spec import BoundsPolicy, ComputationSpec, Kind
from mpcnode.errors import InvalidInput

RNG = SystemRandomSource()


def make_spec(
    lower: float = 0,
    upper: float = 10_000,
    *,
    length: int = 1,
    f: int = 0,
    policy: BoundsPolicy = BoundsPolicy.REJECT,
) -> ComputationSpec:
    return ComputationSpec(
        name="raises-2024",
        kind=Kind.SUM,
        dataset="raises",
        lower=lower,
        upper=upper,
        length=length,
        fractional_bits=f,
        on_out_of_bounds=policy,
    )


# --- validation -------------------------------------------------------------------------


def test_integer_input_is_exact_near_two_to_the_63() -> None:
    big = (1 << 62) - 1
    spec = make_spec(-(1 << 62), 1 << 62, length=3)
    values = np.array([big, -big, 7], dtype=np.int64)
    encoded = encode(values, spec)
    assert encoded.dtype == np.uint64
    assert decode(encoded, 0).tolist() == [big, -big, 7]


def test_integral_floats_are_accepted_for_an_integer_spec() -> None:
    spec = make_spec(length=2)
    out = validate_input(np.array([3.0, 10_000.0]), spec)
    assert out.dtype == np.int64
    assert out.tolist() == [3, 10_000]


def test_non_integral_float_is_refused_by_an_integer_spec() -> None:
    with pytest.raises(InvalidInput, match=r"1 value with a fractional part \(first at index 1\)"):
        validate_input(np.array([3.0, 2.5]), make_spec(length=2))


@pytest.mark.parametrize("policy", list(BoundsPolicy))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("f", [0, 16])
def test_nan_and_infinity_are_refused_whatever_the_policy(
    policy: BoundsPolicy, bad: float, f: int
) -> None:
    spec = make_spec(length=3, f=f, policy=policy)
    with pytest.raises(InvalidInput, match=r"1 value not finite .*first at index 2"):
        encode(np.array([1.0, 2.0, bad]), spec)


def test_validate_finite_at_submission() -> None:
    validate_finite(np.array([1, 2], dtype=np.int64), "raises")
    with pytest.raises(InvalidInput, match="2 values not finite"):
        validate_finite(np.array([np.nan, 1.0, np.inf]), "raises")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([1, 2], dtype=np.int32), "dtype int32"),
        (np.array([[1.0], [2.0]]), r"shape \(2, 1\)"),
        (np.array([1.0, 2.0, 3.0]), "3 values but spec.length is 2"),
        ([1.0, 2.0], "must be a numpy array"),
    ],
)
def test_malformed_input_is_refused(values: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_input(values, make_spec(length=2))  # type: ignore[arg-type]


def test_an_unchecked_spec_whose_bounds_overflow_is_refused() -> None:
    with pytest.raises(InvalidInput, match="do not fit a signed 64-bit value"):
        encode(np.array([1.0]), make_spec(-1.0, 1e10, f=40))


# --- bounds policies --------------------------------------------------------------------


def test_clip_moves_values_to_the_nearest_bound() -> None:
    spec = make_spec(-5.5, 8.25, length=4, f=8, policy=BoundsPolicy.CLIP)
    out = validate_input(np.array([-100.0, -5.5, 3.0, 1e300]), spec)
    assert out.tolist() == [-5.5, -5.5, 3.0, 8.25]


def test_clip_on_integers() -> None:
    spec = make_spec(0, 10_000, length=3, policy=BoundsPolicy.CLIP)
    assert validate_input(np.array([-3, 5, 2**62], dtype=np.int64), spec).tolist() == [
        0,
        5,
        10_000,
    ]


def test_reject_names_count_bound_index_and_policy() -> None:
    spec = make_spec(0, 10_000, length=4)
    with pytest.raises(InvalidInput) as caught:
        encode(np.array([-1, 2, 30_000, 40_000], dtype=np.int64), spec)
    assert caught.value.message == (
        "input for dataset 'raises' has 1 value below spec.lower 0 (first at index 0) and "
        "2 values above spec.upper 10000 (first at index 2) and the spec's policy is reject; "
        "correct the input or ask for a spec with clip"
    )


@pytest.mark.parametrize("f", [0, 10])
@pytest.mark.parametrize("secret", [987654.321, -987654.321, 987654321.0])
def test_messages_never_contain_the_value(f: int, secret: float) -> None:
    """Every refusal travels to remote parties: no digit run of the input may appear."""
    cases = [
        (make_spec(-1000, 1000, length=2, f=f), np.array([1.0, secret])),
        (make_spec(-1000, 1000, length=2, f=f), np.array([secret, np.nan])),
        (make_spec(-1e9, 1e9, length=2, f=0), np.array([0.5, secret])),
    ]
    for spec, values in cases:
        with pytest.raises(InvalidInput) as caught:
            encode(values, spec)
        message = caught.value.message
        for digits in ("987654", "87654", "654321", "321"):
            assert digits not in message, message


# --- fixed-point rounding ---------------------------------------------------------------


def test_fixed_point_rounds_to_nearest() -> None:
    spec = make_spec(-10, 10, length=4, f=2)
    encoded = encode(np.array([0.125, 0.375, -1.1, 9.99]), spec)
    # 0.125 * 4 = 0.5 and 0.375 * 4 = 1.5 round half to even; -1.1 * 4 = -4.4 -> -4.
    assert encoded.view(np.int64).tolist() == [0, 2, -4, 40]
    assert decode(encoded, 2).tolist() == [0.0, 0.5, -1.0, 10.0]


@settings(max_examples=200, deadline=None)
@given(
    f=st.integers(0, 40),
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=16),
)
def test_rounding_error_is_at_most_half_a_unit(f: int, values: list[float]) -> None:
    spec = make_spec(-1e6, 1e6, length=len(values), f=f)
    if f == 0:
        values = [float(round(v)) for v in values]
    decoded = decode(encode(np.array(values), spec), f)
    for got, want in zip(decoded.tolist(), values, strict=True):
        assert abs(Fraction(got) - Fraction(want)) <= Fraction(1, 2 ** (f + 1))


def test_decode_reads_twos_complement() -> None:
    total = np.array([2**64 - 3, 5], dtype=np.uint64)
    assert decode(total, 0).tolist() == [-3, 5]
    assert decode(total, 1).tolist() == [-1.5, 2.5]
    with pytest.raises(InvalidInput, match="1-D uint64"):
        decode(np.array([1], dtype=np.int64), 0)


# --- the full pipeline: encode, split, add shares, reconstruct, decode --------------------


@dataclass(frozen=True)
class Round:
    """A checked spec, a party count n in [2, 50], and each party's input (some out of bounds)."""

    spec: ComputationSpec
    n: int
    inputs: list[np.ndarray]

    def clipped(self, i: int) -> list[Fraction]:
        """Party i's input clipped to the bounds, as exact rationals."""
        lo, hi = self.spec.lower, self.spec.upper
        return [Fraction(min(max(float(v), lo), hi)) for v in self.inputs[i].tolist()]


@st.composite
def rounds(draw: st.DrawFn) -> Round:
    n = draw(st.integers(2, 50))
    f = draw(st.integers(0, 30))
    length = draw(st.integers(1, 6))
    largest = min(1e12, 2.0 ** (61 - f) / n)
    a = draw(st.floats(-largest, largest, allow_nan=False))
    b = draw(st.floats(-largest, largest, allow_nan=False))
    lower, upper = min(a, b), max(a, b)
    if f == 0:
        lower, upper = float(np.ceil(lower)), float(np.floor(upper))
        upper = max(lower, upper)
    spec = make_spec(lower, upper, length=length, f=f, policy=BoundsPolicy.CLIP)
    spec.check(n)
    span = max(abs(lower), abs(upper), 1.0) * 1.5
    element = st.floats(-span, span, allow_nan=False)
    if f == 0:
        element = element.map(lambda v: float(round(v)))
    # Integer specs take int64 input (the exact path) or integral floats; both must work.
    dtype = draw(st.sampled_from([np.int64, np.float64])) if f == 0 else np.float64
    vector = st.lists(element, min_size=length, max_size=length).map(
        lambda v: np.array(v, dtype=np.float64).astype(dtype)
    )
    return Round(spec, n, draw(st.lists(vector, min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(case=rounds())
def test_one_party_round_trip(case: Round) -> None:
    f = case.spec.fractional_bits
    secret = encode(case.inputs[0], case.spec)
    decoded = decode(reconstruct(split(secret, case.n, RNG)), f)
    for got, want in zip(decoded.tolist(), case.clipped(0), strict=True):
        if f == 0:
            assert isinstance(got, int)
            assert got == want
        else:
            assert abs(Fraction(got) - want) <= Fraction(1, 2 ** (f + 1))


@settings(max_examples=100, deadline=None)
@given(case=rounds())
def test_sum_of_parties_round_trip(case: Round) -> None:
    """n parties share their inputs; each party sums what it got; the partials give the sum."""
    n, f = case.n, case.spec.fractional_bits
    shares = [split(encode(v, case.spec), n, RNG) for v in case.inputs]
    partials = [reconstruct([shares[i][j] for i in range(n)]) for j in range(n)]
    decoded = decode(reconstruct(partials), f)
    columns = zip(*(case.clipped(i) for i in range(n)), strict=True)
    for got, col in zip(decoded.tolist(), columns, strict=True):
        exact = sum(col, Fraction(0))
        if f == 0:
            assert got == exact
        else:
            # n roundings of at most half a unit, plus the float64 rounding of the decode.
            slack = Fraction(n, 2 ** (f + 1)) + abs(Fraction(got)) * Fraction(1, 2**52)
            assert abs(Fraction(got) - exact) <= slack
