"""GF(2^127 - 1) and Shamir sharing over it: the laws a user relies on, the refusals a
malformed message meets, and the privacy of any t shares (a statistical test).

Statistical checks are chi-square tests with a false-alarm rate of 1e-4 on a seeded
stand-in source (tests only), so they are deterministic; each is paired with a power check
showing that the same statistic rejects a sharing whose polynomial is one degree too low.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats  # type: ignore[import-untyped]
from seeded import SeededSource

from mpcnode.core import field, shamir
from mpcnode.core.field import ELEMENT_BYTES, P
from mpcnode.errors import InvalidInput

ALARM = 1e-4
U64 = npt.NDArray[np.uint64]

elements = st.integers(min_value=0, max_value=P - 1)
nonzero = st.integers(min_value=1, max_value=P - 1)
seeds = st.integers(min_value=0, max_value=2**32)


class ScriptedSource:
    """Returns the given 64-bit words first, then `filler`."""

    def __init__(self, words: Sequence[int], filler: int = 0) -> None:
        self._words = list(words)
        self._filler = filler

    def uint64(self, length: int) -> U64:
        head, self._words = self._words[:length], self._words[length:]
        return np.array(head + [self._filler] * (length - len(head)), dtype=np.uint64)


def _top_bins(values: Sequence[int], bins: int) -> list[int]:
    """The bin of each element of [0, p) when [0, p) is cut into `bins` equal parts."""
    return [v * bins // P for v in values]


def _joint_cells(columns: Sequence[Sequence[int]], bins: int) -> npt.NDArray[np.int64]:
    """Counts of the joint cell (bin of column 0, bin of column 1, ...) over the rows."""
    cells = np.zeros(bins ** len(columns), dtype=np.int64)
    binned = [_top_bins(c, bins) for c in columns]
    for row in zip(*binned, strict=True):
        cell = 0
        for b in row:
            cell = cell * bins + b
        cells[cell] += 1
    return cells


# --- the field ---------------------------------------------------------------------------


def test_the_modulus_is_the_mersenne_prime_with_p_3_mod_4() -> None:
    assert P == 2**127 - 1 and P % 4 == 3 and ELEMENT_BYTES == 16
    assert pow(3, P - 1, P) == 1 and pow(5, P - 1, P) == 1  # Fermat: consistent with prime


@settings(max_examples=200, deadline=None)
@given(nonzero)
def test_inverse_is_a_two_sided_inverse(a: int) -> None:
    inv = field.inverse(a)
    assert 0 < inv < P
    assert a * inv % P == 1
    assert field.inverse(inv) == a
    assert field.inverse(a + P) == inv  # works on any representative


@pytest.mark.parametrize("zero", [0, P, -P, 5 * P])
def test_zero_has_no_inverse(zero: int) -> None:
    with pytest.raises(ZeroDivisionError):
        field.inverse(zero)


def test_inverse_of_known_values() -> None:
    assert field.inverse(1) == 1
    assert field.inverse(P - 1) == P - 1  # -1 is its own inverse
    assert field.inverse(2) == (P + 1) // 2


@settings(max_examples=200, deadline=None)
@given(elements)
def test_sqrt_of_a_square_is_one_of_its_two_roots(a: int) -> None:
    root = field.sqrt(a * a % P)
    assert 0 <= root < P
    assert root * root % P == a * a % P
    assert root in {a, (P - a) % P}


@settings(max_examples=200, deadline=None)
@given(nonzero)
def test_exactly_one_of_a_and_minus_a_has_a_square_root(a: int) -> None:
    # p = 3 mod 4: -1 is a non-residue, so a and -a have opposite quadratic characters.
    ok = []
    for x in (a, P - a):
        try:
            r = field.sqrt(x)
        except ValueError:
            ok.append(False)
        else:
            assert r * r % P == x
            ok.append(True)
    assert ok in ([True, False], [False, True])


@pytest.mark.parametrize("non_residue", [P - 1, 3, P - 4])
def test_sqrt_refuses_a_non_residue(non_residue: int) -> None:
    with pytest.raises(ValueError, match="quadratic residue"):
        field.sqrt(non_residue)


def test_sqrt_of_zero_and_one() -> None:
    assert field.sqrt(0) == 0
    assert field.sqrt(1) in {1, P - 1}
    assert field.sqrt(4) in {2, P - 2}


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_signed_is_the_centered_representative(a: int) -> None:
    s = field.signed(a)
    assert (s - a) % P == 0
    assert -(P // 2) <= s <= P // 2


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(P // 2), max_value=P // 2))
def test_signed_reads_back_a_small_integer(x: int) -> None:
    assert field.signed(x % P) == x


def test_signed_boundaries() -> None:
    half = P // 2
    assert field.signed(half) == half
    assert field.signed(half + 1) == -half
    assert field.signed(P - 1) == -1
    assert field.signed(P) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(elements, max_size=20))
def test_encode_decode_round_trip(values: list[int]) -> None:
    data = field.encode(values)
    assert len(data) == ELEMENT_BYTES * len(values)
    assert field.decode(data, len(values), "shares") == values


def test_encode_is_16_byte_little_endian() -> None:
    assert field.encode([1, 256]) == b"\x01" + bytes(15) + b"\x00\x01" + bytes(14)
    assert field.encode([P - 1]) == (P - 1).to_bytes(16, "little")
    assert field.encode([]) == b""


@pytest.mark.parametrize(("length", "expected"), [(15, 1), (17, 1), (0, 1), (32, 1), (16, 0)])
def test_decode_refuses_the_wrong_length(length: int, expected: int) -> None:
    with pytest.raises(InvalidInput, match="the opening") as caught:
        field.decode(bytes(length), expected, "the opening")
    assert caught.value.status == "INVALID_ARGUMENT"


@pytest.mark.parametrize("value", [P, P + 1, 2**128 - 1])
def test_decode_refuses_a_value_outside_the_field(value: int) -> None:
    data = field.encode([3]) + value.to_bytes(16, "little") + field.encode([4])
    with pytest.raises(InvalidInput, match="outside the field"):
        field.decode(data, 3, "a share vector")


def test_decode_accepts_the_largest_element() -> None:
    assert field.decode((P - 1).to_bytes(16, "little"), 1, "x") == [P - 1]
    assert field.decode(b"", 0, "x") == []


@settings(max_examples=50, deadline=None)
@given(seeds, st.integers(min_value=0, max_value=300))
def test_random_elements_are_field_elements(seed: int, count: int) -> None:
    out = field.random_elements(SeededSource(seed), count)
    assert len(out) == count
    assert all(0 <= e < P for e in out)


def test_random_elements_redraws_p_and_ignores_the_top_bit() -> None:
    all_ones = 2**64 - 1
    words = [all_ones, 2**63 - 1]  # (low, high) = exactly p: must be redrawn
    words += [7, all_ones]  # top bit of high word dropped: (2^63 - 1) * 2^64 + 7
    words += [all_ones, all_ones]  # p again (the top bit is dropped): redrawn
    words += [5, 0]
    out = field.random_elements(ScriptedSource(words), 2)
    assert out == [((2**63 - 1) << 64) + 7, 5]


def test_random_elements_top_bits_are_uniform() -> None:
    out = field.random_elements(SeededSource(11), 32_000)
    counts = np.bincount(_top_bins(out, 32), minlength=32)
    assert stats.chisquare(counts).pvalue > ALARM
    low = np.bincount([e & 31 for e in out], minlength=32)
    assert stats.chisquare(low).pvalue > ALARM


@settings(max_examples=50, deadline=None)
@given(seeds, st.integers(min_value=1, max_value=126), st.integers(min_value=0, max_value=50))
def test_random_below_stays_below_its_bound(seed: int, bits: int, count: int) -> None:
    out = field.random_below(SeededSource(seed), bits, count)
    assert len(out) == count
    assert all(0 <= v < 2**bits for v in out)


def test_random_below_uses_all_of_its_bits() -> None:
    out = field.random_below(SeededSource(3), 126, 2000)
    assert max(out).bit_length() == 126  # the top bit is reached...
    assert sum(v >> 125 for v in out) in range(900, 1101)  # ...about half the time
    assert field.random_below(ScriptedSource([2**64 - 1] * 2), 100, 1) == [2**100 - 1]


@pytest.mark.parametrize("bits", [0, -1, 127, 128])
def test_random_below_refuses_a_bad_bound(bits: int) -> None:
    with pytest.raises(ValueError, match="bound_bits"):
        field.random_below(SeededSource(0), bits, 1)


# --- Shamir sharing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "t"), [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2), (7, 3), (9, 4), (1000, 499)]
)
def test_honest_majority_threshold(n: int, t: int) -> None:
    assert shamir.honest_majority_threshold(n) == t
    assert n >= 2 * t + 1 > n - 2  # the largest t with an honest majority


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=3, max_value=9),
    st.lists(elements, min_size=1, max_size=6),
    seeds,
)
def test_share_reconstruct_round_trip(n: int, secrets: list[int], seed: int) -> None:
    t = (n - 1) // 2
    shares = shamir.share(secrets, t, n, SeededSource(seed))
    assert len(shares) == n and all(len(s) == len(secrets) for s in shares)
    assert all(0 <= x < P for s in shares for x in s)
    assert shamir.reconstruct(shares, t) == secrets


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=3, max_value=9), elements, seeds, st.data())
def test_any_t_plus_one_shares_determine_the_secret(
    n: int, secret: int, seed: int, data: st.DataObject
) -> None:
    t = (n - 1) // 2
    shares = shamir.share([secret], t, n, SeededSource(seed))
    pick = st.lists(st.integers(1, n), min_size=t + 1, max_size=t + 1, unique=True)
    points = data.draw(pick)
    weights = shamir.lagrange_at_zero(points)
    assert sum(w * shares[x - 1][0] for w, x in zip(weights, points, strict=True)) % P == secret


def test_a_sharing_of_degree_zero_is_the_secret_itself() -> None:
    assert shamir.share([5, 6], 0, 3, SeededSource(0)) == [[5, 6]] * 3


def test_sharings_of_the_same_secret_differ() -> None:
    rng = SeededSource(4)
    first, second = shamir.share([42], 2, 5, rng), shamir.share([42], 2, 5, rng)
    assert first != second  # fresh polynomials per call
    assert len({s[0] for s in first}) == 5  # and the points of one sharing are distinct


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=3, max_value=9),
    st.lists(elements, min_size=1, max_size=4),
    seeds,
    st.integers(min_value=0, max_value=8),
    st.integers(min_value=0, max_value=3),
    nonzero,
)
def test_reconstruct_refuses_one_altered_share(
    n: int, secrets: list[int], seed: int, who: int, which: int, delta: int
) -> None:
    t = (n - 1) // 2
    shares = shamir.share(secrets, t, n, SeededSource(seed))
    who, which = who % n, which % len(secrets)
    shares[who][which] = (shares[who][which] + delta) % P
    with pytest.raises(ValueError, match="not on the degree"):
        shamir.reconstruct(shares, t)


def test_reconstruct_refuses_too_few_shares() -> None:
    shares = shamir.share([1], 2, 5, SeededSource(0))
    with pytest.raises(ValueError, match="cannot determine"):
        shamir.reconstruct(shares[:2], 2)


def test_reconstruct_refuses_a_sharing_of_too_high_degree() -> None:
    shares = shamir.share([9, 10], 3, 7, SeededSource(1))  # degree 3, claimed 2
    with pytest.raises(ValueError):
        shamir.reconstruct(shares, 2)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=3, max_value=9), elements, elements, seeds)
def test_reduction_weights_interpolate_degree_2t_at_zero(n: int, x: int, y: int, seed: int) -> None:
    t = (n - 1) // 2
    rng = SeededSource(seed)
    weights = shamir.reduction_weights(n)
    assert len(weights) == n
    wide = shamir.share([x], 2 * t, n, rng)
    assert sum(w * s[0] for w, s in zip(weights, wide, strict=True)) % P == x
    # GRR: the local products of two degree-t sharings are a degree-2t sharing of x * y
    xs, ys = shamir.share([x], t, n, rng), shamir.share([y], t, n, rng)
    products = [a[0] * b[0] % P for a, b in zip(xs, ys, strict=True)]
    assert sum(w * v for w, v in zip(weights, products, strict=True)) % P == x * y % P
    # and n points interpolate nothing of degree n: the weights are not "sum to secret" by luck
    too_wide = shamir.share([x], n, n, rng)
    assert sum(w * s[0] for w, s in zip(weights, too_wide, strict=True)) % P != x


@pytest.mark.parametrize("n", [3, 4, 7])
def test_reduction_weights_are_the_lagrange_weights_of_1_to_n(n: int) -> None:
    assert shamir.reduction_weights(n) == shamir.lagrange_at_zero(list(range(1, n + 1)))
    assert sum(shamir.reduction_weights(n)) % P == 1  # interpolates constants


def _t_share_cells(
    secret: int, n: int, degree: int, holders: Sequence[int], seed: int
) -> list[int]:
    count = 16_000
    shares = shamir.share([secret] * count, degree, n, SeededSource(seed))
    bins = {1: 16, 2: 8, 3: 8}[len(holders)]
    counts: list[int] = _joint_cells([shares[h - 1] for h in holders], bins).tolist()
    return counts


@pytest.mark.parametrize(
    ("n", "holders"),
    [(3, (2,)), (3, (3,)), (5, (1, 2)), (5, (3, 5)), (7, (1, 2, 3)), (7, (2, 4, 7))],
)
def test_any_t_shares_are_uniform_and_independent_of_the_secret(
    n: int, holders: tuple[int, ...]
) -> None:
    t = (n - 1) // 2
    assert len(holders) == t
    cells = {s: _t_share_cells(s, n, t, holders, seed) for s, seed in ((0, 21), (P - 1, 22))}
    for counts in cells.values():
        assert stats.chisquare(counts).pvalue > ALARM  # the t-coalition's view is uniform
    table = np.array([cells[0], cells[P - 1]])
    assert stats.chi2_contingency(table).pvalue > ALARM  # and the same for both secrets


@pytest.mark.parametrize(("n", "holders"), [(3, (2,)), (5, (1, 2)), (7, (1, 2, 3))])
def test_the_uniformity_test_catches_a_polynomial_one_degree_too_low(
    n: int, holders: tuple[int, ...]
) -> None:
    """Power: with degree t - 1, t shares determine the secret, and the same statistic sees it."""
    t = (n - 1) // 2
    counts = _t_share_cells(0, n, t - 1, holders, 23)
    assert stats.chisquare(counts).pvalue < 1e-12


def test_lagrange_at_zero_on_arbitrary_points() -> None:
    rng = SeededSource(8)
    for points in ([1, 2], [2, 5, 9], [3, 100, 7, 2**100]):
        coeffs = field.random_elements(rng, len(points))  # degree len - 1

        def f(x: int, cs: list[int] = coeffs) -> int:
            return sum(c * pow(x, i, P) for i, c in enumerate(cs)) % P

        weights = shamir.lagrange_at_zero(points)
        assert sum(w * f(x) for w, x in zip(weights, points, strict=True)) % P == coeffs[0]
    with pytest.raises(ZeroDivisionError):
        shamir.lagrange_at_zero([1, 1])


def test_share_layout_is_party_major() -> None:
    """result[j][k] is party j+1's share of secret k: reconstruct each column alone."""
    secrets = [11, 22, 33]
    shares = shamir.share(secrets, 1, 4, SeededSource(9))
    for k, secret in enumerate(secrets):
        column = [[shares[j][k]] for j in range(4)]
        assert shamir.reconstruct(column, 1) == [secret]
    for subset in itertools.combinations(range(4), 2):
        weights = shamir.lagrange_at_zero([j + 1 for j in subset])
        assert sum(w * shares[j][1] for w, j in zip(weights, subset, strict=True)) % P == 22
