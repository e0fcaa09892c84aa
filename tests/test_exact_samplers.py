"""Exact samplers and the vectorized path: refusals, determinism, shapes, edge cases.

The laws themselves are tested in `test_sampler_statistics.py`; this file checks the
contracts around them. Runs use a seeded stand-in source so every failure reproduces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seeded import SeededSource

from mpcnode.core import exact_samplers as ex
from mpcnode.core.randomness import RandomSource, SystemRandomSource, UniformInts
from mpcnode.core.vector_samplers import EXACT, KEY_BYTES, VECTORIZED, VectorNoise
from mpcnode.errors import InvalidInput, MpcError

U64 = npt.NDArray[np.uint64]
F = Fraction


class ScriptedSource:
    """Returns the given words first, then `filler`; counts the words asked for."""

    def __init__(self, words: Sequence[int], filler: int = 0) -> None:
        self._words = list(words)
        self._filler = filler
        self.asked = 0

    def uint64(self, length: int) -> U64:
        self.asked += length
        head, self._words = self._words[:length], self._words[length:]
        return np.array(head + [self._filler] * (length - len(head)), dtype=np.uint64)


def _u(seed: int = 1) -> UniformInts:
    return UniformInts(SeededSource(seed))


# --- UniformInts -------------------------------------------------------------------------


def test_uniform_ints_satisfies_the_source_protocol_and_buffers_words() -> None:
    source = ScriptedSource([5, 7])
    typed: RandomSource = source
    u = UniformInts(typed)
    assert (u.word(), u.word(), u.word()) == (5, 7, 0)
    assert source.asked == 512, "one refill of 512 words serves many draws"


@pytest.mark.parametrize("n", [1, 2, 3, 6, 1000, 2**63, 3 * 2**62, 2**64 - 1, 2**64])
def test_below_stays_in_range_for_word_sized_n(n: int) -> None:
    u = _u()
    assert all(0 <= u.below(n) < n for _ in range(200))


@pytest.mark.parametrize("n", [2**64 + 1, 3 * 2**100 + 7, 10**60])
def test_below_stays_in_range_for_big_n(n: int) -> None:
    u = _u()
    draws = [u.below(n) for _ in range(200)]
    assert all(0 <= x < n for x in draws)
    assert max(draws) > n // 2, "the top words are used"


def test_below_rejects_the_biased_low_words() -> None:
    # n = 3 * 2^62: 2^64 mod n = 2^62, so a word whose product has low part < 2^62 is
    # rejected. Word 0 gives low part 0 (rejected); word 1 gives 3 * 2^62 (accepted, -> 0).
    u = UniformInts(ScriptedSource([0, 1, 2**63]))
    assert u.below(3 * 2**62) == 0
    assert u.word() == 2**63, "exactly two words were consumed"


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3"])
def test_below_refuses_bad_bounds(n: Any) -> None:
    with pytest.raises(InvalidInput, match="n >= 1"):
        _u().below(n)


def test_chance_compares_base_2_64_digits_and_continues_on_ties() -> None:
    half, third = 2**63, 2**64 // 3  # first digits of 1/2 and of 1/3 = 0.5555...
    words = [half - 1, half + 1, third, third - 1, third, third + 1, half, 5]
    u = UniformInts(ScriptedSource(words, filler=1))
    assert u.chance(1, 2) is True  # U starts below 1/2
    assert u.chance(1, 2) is False  # U starts above
    assert u.chance(1, 3) is True  # tie on the first digit, below on the second
    assert u.chance(1, 3) is False  # tie, then above
    assert u.chance(1, 2) is False  # tie with 1/2 = 0.8000..., then 5 > 0
    assert u.word() == 1, "each call consumed exactly the words it needed"


@pytest.mark.parametrize(("num", "den"), [(-1, 2), (3, 2), (0, 0)])
def test_chance_refuses_non_probabilities(num: int, den: int) -> None:
    with pytest.raises(InvalidInput, match="probability"):
        _u().chance(num, den)


def test_a_malformed_source_is_an_internal_error() -> None:
    class Short:
        def uint64(self, length: int) -> U64:
            return np.zeros(3, dtype=np.uint64)

    with pytest.raises(MpcError, match="malformed") as caught:
        UniformInts(Short()).word()
    assert not isinstance(caught.value, InvalidInput)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2**200), st.integers(min_value=0, max_value=2**32))
def test_below_property(n: int, seed: int) -> None:
    assert 0 <= _u(seed).below(n) < n


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=0, max_value=1), st.integers(min_value=0, max_value=2**32))
def test_chance_property(p: Fraction, seed: int) -> None:
    draws = [_u(seed).chance(p.numerator, p.denominator) for _ in range(3)]
    if p == 0:
        assert not any(draws)
    if p == 1:
        assert all(draws)


# --- scalar samplers ----------------------------------------------------------------------

SCALARS: dict[str, Callable[[UniformInts], int | bool]] = {
    "bernoulli": lambda u: ex.bernoulli(F(2, 7), u),
    "bernoulli_exp": lambda u: ex.bernoulli_exp(F(5, 3), u),
    "geometric_exp": lambda u: ex.geometric_exp(F(1, 7), u),
    "discrete_laplace": lambda u: ex.discrete_laplace(F(7, 2), u),
    "discrete_gaussian": lambda u: ex.discrete_gaussian(F(9, 2), u),
    "polya": lambda u: ex.polya(F(1, 3), F(1, 4), u),
    "polya_difference": lambda u: ex.polya_difference(F(1, 3), F(1, 4), u),
    "poisson": lambda u: ex.poisson(F(7, 3), u),
    "skellam": lambda u: ex.skellam(F(3, 2), u),
}


@pytest.mark.parametrize("name", sorted(SCALARS))
def test_scalar_samplers_are_deterministic_given_the_source(name: str) -> None:
    draw = SCALARS[name]

    def run(seed: int) -> list[int | bool]:
        u = _u(seed)
        return [draw(u) for _ in range(60)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert len(set(run(7))) > 1


def test_degenerate_parameters() -> None:
    u = _u()
    assert not any(ex.bernoulli(F(0), u) for _ in range(100))
    assert all(ex.bernoulli(F(1), u) for _ in range(100))
    assert all(ex.bernoulli_exp(F(0), u) for _ in range(100))
    assert ex.poisson(F(0), u) == 0 and ex.skellam(0, u) == 0
    assert ex.bernoulli(1, u) is True, "ints are exact rationals too"


def test_integer_and_fraction_parameters_agree() -> None:
    assert ex.discrete_laplace(10, _u(3)) == ex.discrete_laplace(F(10), _u(3))


def test_huge_and_tiny_parameters_stay_fast() -> None:
    u = _u()
    # CKS Algorithm 2 costs O(1) whatever the scale; Algorithm 3 likewise.
    big = [ex.discrete_laplace(F(10**30), u) for _ in range(200)]
    assert max(abs(x) for x in big) > 10**27
    assert all(isinstance(ex.discrete_gaussian(F(10**40, 3), u), int) for _ in range(100))
    assert [ex.geometric_exp(F(10**6), u) for _ in range(50)] == [0] * 50
    assert not any(ex.bernoulli_exp(F(1000), u) for _ in range(50))
    assert ex.polya(1, F(1, 10**9), u) >= 0, "shape 1 is a plain geometric"


BAD: list[tuple[str, Callable[[UniformInts], object], str]] = [
    ("float p", lambda u: ex.bernoulli(0.5, u), "Fraction"),  # type: ignore[arg-type]
    ("p > 1", lambda u: ex.bernoulli(F(3, 2), u), "<= 1"),
    ("negative p", lambda u: ex.bernoulli(F(-1, 2), u), ">= 0"),
    ("bool gamma", lambda u: ex.bernoulli_exp(True, u), "Fraction"),
    ("negative gamma", lambda u: ex.bernoulli_exp(F(-1), u), ">= 0"),
    ("zero gamma geometric", lambda u: ex.geometric_exp(F(0), u), "> 0"),
    ("zero scale", lambda u: ex.discrete_laplace(F(0), u), "> 0"),
    ("float scale", lambda u: ex.discrete_laplace(2.0, u), "Fraction"),  # type: ignore[arg-type]
    ("zero sigma2", lambda u: ex.discrete_gaussian(F(0), u), "> 0"),
    ("shape > 1", lambda u: ex.polya(F(3, 2), F(1), u), "<= 1"),
    ("shape 0", lambda u: ex.polya_difference(F(0), F(1), u), "> 0"),
    ("polya gamma 0", lambda u: ex.polya(F(1, 2), F(0), u), "> 0"),
    ("negative lam", lambda u: ex.poisson(F(-1), u), ">= 0"),
    ("negative mu", lambda u: ex.skellam(F(-1, 3), u), ">= 0"),
    ("string mu", lambda u: ex.skellam("1", u), "Fraction"),  # type: ignore[arg-type]
    ("negative length", lambda u: ex.skellam_vector(-1, F(1), u), "length"),
    ("float length", lambda u: ex.discrete_laplace_vector(2.0, F(1), u), "length"),  # type: ignore[arg-type]
    ("vector shape", lambda u: ex.polya_difference_vector(3, F(2), F(1), u), "<= 1"),
    ("vector sigma2", lambda u: ex.discrete_gaussian_vector(3, F(-1), u), "> 0"),
    ("cost shape", lambda u: ex.expected_polya_cost(F(0), F(1)), "> 0"),
]


@pytest.mark.parametrize(("case", "call", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_parameters_are_invalid_input(
    case: str, call: Callable[[UniformInts], object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(_u())


# --- exact vectors ------------------------------------------------------------------------

VECTORS: dict[str, Callable[[int, UniformInts], npt.NDArray[np.int64]]] = {
    "polya_difference": lambda n, u: ex.polya_difference_vector(n, F(1, 4), F(1, 3), u),
    "discrete_laplace": lambda n, u: ex.discrete_laplace_vector(n, F(5, 2), u),
    "discrete_gaussian": lambda n, u: ex.discrete_gaussian_vector(n, F(7), u),
    "skellam": lambda n, u: ex.skellam_vector(n, F(5, 3), u),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
@pytest.mark.parametrize("length", [0, 1, 257])
def test_vectors_have_the_length_and_dtype(name: str, length: int) -> None:
    out = VECTORS[name](length, _u())
    assert out.shape == (length,) and out.dtype == np.int64


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vectors_are_reproducible_and_not_constant(name: str) -> None:
    a, b = VECTORS[name](300, _u(11)), VECTORS[name](300, _u(11))
    assert np.array_equal(a, b)
    assert len(np.unique(a)) > 3
    assert not np.array_equal(a, VECTORS[name](300, _u(12)))


def test_a_vector_draw_beyond_int64_is_refused() -> None:
    with pytest.raises(InvalidInput, match="int64"):
        ex.discrete_laplace_vector(50, F(10**30), _u())


def test_vector_matches_its_scalar_twin() -> None:
    vec = ex.discrete_laplace_vector(20, F(3), _u(5))
    u = _u(5)
    assert vec.tolist() == [ex.discrete_laplace(F(3), u) for _ in range(20)]


def test_with_the_system_source() -> None:
    out = ex.discrete_gaussian_vector(100, F(10), UniformInts(SystemRandomSource()))
    assert out.shape == (100,) and len(np.unique(out)) > 5


# --- cost estimates -----------------------------------------------------------------------


def test_polya_cost_grows_with_scale_and_falls_with_shape() -> None:
    costs = [ex.expected_polya_cost(F(1, 4), F(1, s)) for s in (1, 10, 100, 1000)]
    assert costs == sorted(costs) and costs[-1] > 10 * costs[0]
    assert ex.expected_polya_cost(F(1), F(1, 1000)) < ex.expected_polya_cost(F(1, 2), F(1, 1000))
    assert math.isfinite(ex.expected_polya_cost(F(1, 8), F(1, 10**12)))


def test_poisson_cost_is_linear_in_lam() -> None:
    assert ex.expected_poisson_cost(F(1000)) > 50 * ex.expected_poisson_cost(F(1))


# --- the vectorized path ------------------------------------------------------------------

KEY = bytes(range(KEY_BYTES))


def test_labels() -> None:
    assert (EXACT, VECTORIZED) == ("exact", "vectorized-aes-ctr")


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(17), bytes(32), "k" * 16])
def test_vector_noise_refuses_wrong_keys(key: Any) -> None:
    with pytest.raises(InvalidInput, match="16 bytes"):
        VectorNoise(key)


def test_vector_noise_is_reproducible_with_a_key_and_fresh_without() -> None:
    one, two = VectorNoise(KEY), VectorNoise(KEY)
    assert np.array_equal(one.skellam(100, 5.0), two.skellam(100, 5.0))
    assert not np.array_equal(VectorNoise().skellam(100, 5.0), VectorNoise().skellam(100, 5.0))
    assert "key hidden" in repr(one)


VNOISE: dict[str, Callable[[VectorNoise, int], npt.NDArray[np.int64]]] = {
    "polya_difference": lambda v, n: v.polya_difference(n, 0.25, math.exp(-0.1)),
    "skellam_small": lambda v, n: v.skellam(n, 2.5),
    "skellam_large": lambda v, n: v.skellam(n, 1e6),
    "discrete_laplace": lambda v, n: v.discrete_laplace(n, 3.0),
}


@pytest.mark.parametrize("name", sorted(VNOISE))
@pytest.mark.parametrize("length", [0, 1, 70_000])
def test_vector_noise_shapes(name: str, length: int) -> None:
    out = VNOISE[name](VectorNoise(KEY), length)
    assert out.shape == (length,) and out.dtype == np.int64


def test_vector_noise_extreme_but_valid_parameters() -> None:
    v = VectorNoise(KEY)
    assert v.skellam(10, 0.0).tolist() == [0] * 10
    assert np.abs(v.discrete_laplace(1000, 2.0**48)).max() < 2**62
    assert np.abs(v.polya_difference(1000, 1.0, 1 - 2.0**-48)).max() < 2**62
    assert np.abs(v.skellam(1000, 2.0**48)).max() < 2**62
    assert v.polya_difference(10, F(1, 3), F(1, 2)).shape == (10,), "Fractions are accepted"


@pytest.mark.parametrize(
    "call",
    [
        lambda v: v.discrete_laplace(3, 0.0),
        lambda v: v.discrete_laplace(3, float("inf")),
        lambda v: v.discrete_laplace(3, float("nan")),
        lambda v: v.discrete_laplace(3, 2.0**49),
        lambda v: v.skellam(3, -1.0),
        lambda v: v.skellam(3, "2"),
        lambda v: v.polya_difference(3, 0.0, 0.5),
        lambda v: v.polya_difference(3, 0.5, 0.0),
        lambda v: v.polya_difference(3, 0.5, 1.0),
        lambda v: v.polya_difference(3, 65.0, 0.5),
        lambda v: v.polya_difference(-1, 0.5, 0.5),
        lambda v: v.skellam(True, 1.0),
    ],
)
def test_vector_noise_refuses_bad_parameters(call: Callable[[VectorNoise], object]) -> None:
    with pytest.raises(InvalidInput):
        call(VectorNoise(KEY))
