"""Fixed-point encoding of declared values, rounding, and the full round trip with sharing.

Validation lives in the declaration (tests/test_declaration.py): values are checked when
they are submitted, so encoding never fails because of a value. Here: the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seeded import partials_of, shares_of

from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.encoding import EncodedSlices, decode, decode_in_place, encode
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.sharing import reconstruct
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput

RNG = SystemRandomSource()


def make_spec(
    lower: float = 0, upper: float = 10_000, *, length: int = 1, f: int = 0
) -> ComputationSpec:
    return ComputationSpec(
        name="raises-2024",
        kind=Kind.SUM,
        dataset="raises",
        lower=lower,
        upper=upper,
        length=length,
        fractional_bits=f,
    )


def declared(spec: ComputationSpec) -> Declaration:
    """The declaration a spec conforms to."""
    shape = Shape.SCALAR if spec.length == 1 else Shape.VECTOR
    return Declaration(
        spec.dataset, shape, spec.lower, spec.upper, spec.length, spec.fractional_bits
    )


def test_integer_input_is_exact_near_two_to_the_62() -> None:
    big = (1 << 61) + 12345
    values = np.array([big, -big, 7], dtype=np.int64)
    encoded = encode(values, 0)
    assert encoded.dtype == np.uint64
    assert decode(encoded, 0).tolist() == [big, -big, 7]


def test_encoding_refuses_impossible_fractional_bits() -> None:
    with pytest.raises(InvalidInput, match="fractional_bits"):
        encode(np.array([1.0]), 63)


def test_fixed_point_rounds_to_nearest() -> None:
    encoded = encode(np.array([0.125, 0.375, -1.1, 9.99]), 2)
    # 0.125 * 4 = 0.5 and 0.375 * 4 = 1.5 round half to even; -1.1 * 4 = -4.4 -> -4.
    assert encoded.view(np.int64).tolist() == [0, 2, -4, 40]
    assert decode(encoded, 2).tolist() == [0.0, 0.5, -1.0, 10.0]


@settings(max_examples=200, deadline=None)
@given(
    f=st.integers(0, 40),
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=16),
)
def test_rounding_error_is_at_most_half_a_unit(f: int, values: list[float]) -> None:
    if f == 0:
        values = [float(round(v)) for v in values]
    decoded = decode(encode(np.array(values), f), f)
    for got, want in zip(decoded.tolist(), values, strict=True):
        assert abs(Fraction(got) - Fraction(want)) <= Fraction(1, 2 ** (f + 1))


def test_decode_reads_twos_complement() -> None:
    total = np.array([2**64 - 3, 5], dtype=np.uint64)
    assert decode(total, 0).tolist() == [-3, 5]
    assert decode(total, 1).tolist() == [-1.5, 2.5]
    with pytest.raises(InvalidInput, match="1-D uint64"):
        decode(np.array([1], dtype=np.int64), 0)


# --- the full pipeline: encode, share by seeds, partials, reconstruct, decode --------------------


@dataclass(frozen=True)
class Round:
    """A checked spec, a party count n in [2, 50], and each party's in-domain input."""

    spec: ComputationSpec
    n: int
    inputs: list[np.ndarray]

    def exact(self, i: int) -> list[Fraction]:
        """Party i's input as exact rationals."""
        return [Fraction(float(v)) for v in self.inputs[i].tolist()]


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
    spec = make_spec(lower, upper, length=length, f=f)
    spec.check(n)
    element = st.floats(lower, upper, allow_nan=False)
    if f == 0:
        element = element.map(lambda v: float(round(v)))
    # Integer specs take int64 input (the exact path) or integral floats; both must work.
    dtype = draw(st.sampled_from([np.int64, np.float64])) if f == 0 else np.float64
    vector = st.lists(element, min_size=length, max_size=length).map(
        lambda v: np.array(v, dtype=np.float64).astype(dtype)
    )
    inputs = draw(st.lists(vector, min_size=n, max_size=n))
    decl = declared(spec)
    # What a node stores: the values as its declaration's check normalized them.
    return Round(spec, n, [decl.validate(v) for v in inputs])


@settings(max_examples=150, deadline=None)
@given(case=rounds())
def test_one_party_round_trip(case: Round) -> None:
    f = case.spec.fractional_bits
    secret = encode(case.inputs[0], f)
    decoded = decode(reconstruct(shares_of(secret, case.n, RNG)), f)
    for got, want in zip(decoded.tolist(), case.exact(0), strict=True):
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
    partials = partials_of([encode(v, f) for v in case.inputs], RNG)
    decoded = decode(reconstruct(partials), f)
    columns = zip(*(case.exact(i) for i in range(n)), strict=True)
    for got, col in zip(decoded.tolist(), columns, strict=True):
        exact = sum(col, Fraction(0))
        if f == 0:
            assert got == exact
        else:
            # n roundings of at most half a unit, plus the float64 rounding of the decode.
            slack = Fraction(n, 2 ** (f + 1)) + abs(Fraction(got)) * Fraction(1, 2**52)
            assert abs(Fraction(got) - exact) <= slack


# --- slice-by-slice encoding and in-place decoding (what a 10^7 round streams) --------------
@settings(max_examples=80, deadline=None)
@given(
    f=st.integers(0, 30),
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    cut=st.integers(0, 300),
    noisy=st.booleans(),
)
def test_encoded_slices_are_the_slices_of_the_whole(
    f: int, values: list[float], cut: int, noisy: bool
) -> None:
    array = np.array(values, dtype=np.float64)
    if f == 0:
        array = np.round(array).astype(np.int64)  # type: ignore[assignment]
    noise = RNG.uint64(len(values)).view(np.int64) if noisy else None
    whole = encode(array, f)
    if noise is not None:
        whole = whole + noise.view(np.uint64)
    slices = EncodedSlices(array, f, noise)
    cut = min(cut, len(values))
    joined = np.concatenate([slices.chunk(0, cut), slices.chunk(cut, len(values) - cut)])
    assert np.array_equal(joined, whole)
    assert slices.length == len(values)


@pytest.mark.parametrize("f", [0, 1, 20, 40])
def test_decode_in_place_equals_decode(f: int) -> None:
    total = RNG.uint64(200_003)
    want = decode(total, f)
    got = decode_in_place(total.copy(), f)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
