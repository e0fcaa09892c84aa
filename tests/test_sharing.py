"""Additive sharing: correctness, refusals, and statistical evidence of the privacy invariant.

The statistical tests use the production `SystemRandomSource` and a false-alarm threshold
of p < 1e-6 per test, so they do not flake, while each still has the power to see a leak
(`test_all_n_shares_are_detectably_not_uniform` shows the same test catching one).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats  # type: ignore[import-untyped]
from seeded import SeededSource, partials_of, shares_of

from mpcnode.core.prg import expand, prg_key
from mpcnode.core.randomness import RandomSource, SystemRandomSource
from mpcnode.core.sharing import PartialStream, draw_seed, reconstruct
from mpcnode.errors import InvalidInput, MpcError

U64 = npt.NDArray[np.uint64]
RNG = SystemRandomSource()
ALARM = 1e-6
SAMPLES = 1 << 15  # vector elements per split; each element is an independent trial
ROOT = Path(__file__).resolve().parents[1]


def _u64(*values: int) -> U64:
    return np.array(values, dtype=np.uint64)


# --- correctness and refusals ------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_seed_shares_reconstruct_the_secret(n: int) -> None:
    secret = _u64(0, 1, 2, 2**63 + 12345, 2**64 - 1, 42)
    before = secret.copy()
    shares = shares_of(secret, n, RNG)
    assert len(shares) == n
    assert all(s.dtype == np.uint64 and s.shape == secret.shape for s in shares)
    assert np.array_equal(reconstruct(shares), secret)
    assert np.array_equal(secret, before), "sharing must not modify the secret"


def test_a_seeded_stand_in_makes_seeds_reproducible() -> None:
    assert draw_seed(SeededSource(1)) == draw_seed(SeededSource(1))
    assert draw_seed(SeededSource(1)) != draw_seed(SeededSource(2))
    assert len(draw_seed(RNG)) == 32


@settings(max_examples=60, deadline=None)
@given(
    inputs=st.integers(2, 9).flatmap(
        lambda n: st.integers(1, 300).flatmap(
            lambda length: st.lists(
                st.lists(st.integers(0, 2**64 - 1), min_size=length, max_size=length),
                min_size=n,
                max_size=n,
            )
        )
    )
)
def test_partials_add_up_to_the_sum_of_the_inputs(inputs: list[list[int]]) -> None:
    """Property: every PRG(s_ij) enters once with + and once with -, so the masks cancel."""
    vectors = [np.array(v, dtype=np.uint64) for v in inputs]
    assert np.array_equal(reconstruct(partials_of(vectors, RNG)), reconstruct(vectors))


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 5000),
    cuts=st.lists(st.integers(0, 5000), max_size=6),
)
def test_a_partial_streamed_in_any_slices_is_the_same_vector(length: int, cuts: list[int]) -> None:
    """Counter mode gives random access: slices at odd or even offsets join seamlessly."""
    own = RNG.uint64(length)
    stream = PartialStream(own, [draw_seed(RNG), draw_seed(RNG)], [draw_seed(RNG)])
    whole = stream.chunk(0, length)
    bounds = sorted({0, length, *(c for c in cuts if c < length)})
    joined = np.concatenate([stream.chunk(a, b - a) for a, b in itertools.pairwise(bounds)])
    assert np.array_equal(joined, whole)


def test_the_prg_is_aes256_ctr_under_the_derived_key() -> None:
    """Known answer from first principles: the spec in the proto is enough to reimplement it."""
    seed = bytes(range(32))
    key = hashlib.sha256(b"mpc.v1/prg/aes256-ctr\x00" + seed).digest()
    assert prg_key(seed) == key
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(80))
    assert expand(seed, 0, 10).tolist() == np.frombuffer(stream, "<u8").tolist()
    assert expand(seed, 3, 5).tolist() == np.frombuffer(stream, "<u8")[3:8].tolist()


def test_the_prg_refuses_short_seeds_and_bad_slices() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        expand(b"short", 0, 4)
    stream = PartialStream(_u64(1, 2, 3), [], [])
    with pytest.raises(InvalidInput, match="outside"):
        stream.chunk(2, 2)
    with pytest.raises(InvalidInput, match="1-D uint64"):
        PartialStream(np.array([1], dtype=np.int64), [], [])  # type: ignore[arg-type]


def test_reconstruct_refuses_mismatched_or_missing_shares() -> None:
    with pytest.raises(InvalidInput, match=r"same length, got lengths \[2, 3\]"):
        reconstruct([_u64(1, 2), _u64(1, 2, 3)])
    with pytest.raises(InvalidInput, match="at least one"):
        reconstruct([])
    with pytest.raises(InvalidInput, match="share 1 must be a 1-D uint64"):
        reconstruct([_u64(1), np.array([1], dtype=np.int64)])


def test_a_malformed_random_source_is_an_internal_error() -> None:
    class ShortSource:
        def uint64(self, length: int) -> U64:
            return np.zeros(1, dtype=np.uint64)

    with pytest.raises(MpcError, match="malformed") as caught:
        draw_seed(ShortSource())
    assert not isinstance(caught.value, InvalidInput)


def test_system_source_shape_and_refusal() -> None:
    assert RNG.uint64(0).shape == (0,)
    assert RNG.uint64(5).dtype == np.uint64
    with pytest.raises(InvalidInput):
        RNG.uint64(-1)


def test_ten_million_elements() -> None:
    secret = RNG.uint64(10_000_000)
    assert np.array_equal(reconstruct(shares_of(secret, 3, RNG)), secret)


# --- statistics: any n-1 shares are uniform and independent of the secret ----------------


def _bucket(vectors: Sequence[U64], bits: int) -> npt.NDArray[np.int64]:
    """Joint bucket of the low `bits` bits of each vector, element by element."""
    mask = np.uint64((1 << bits) - 1)
    index = np.zeros(vectors[0].shape[0], dtype=np.int64)
    for k, v in enumerate(vectors):
        index |= (v & mask).astype(np.int64) << (bits * k)
    return index


def _byte(v: U64, shift: int) -> npt.NDArray[np.int64]:
    return ((v >> np.uint64(shift)) & np.uint64(255)).astype(np.int64)


def _counts(index: npt.NDArray[np.int64], cells: int) -> npt.NDArray[np.int64]:
    return np.bincount(index, minlength=cells)


def _assert_uniform(counts: npt.NDArray[np.int64], what: str) -> None:
    p = stats.chisquare(counts).pvalue
    assert p > ALARM, f"{what}: not uniform (chi-square p = {p:.3g})"


def _two_sample_p(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> float:
    """Chi-square contingency p-value that a and b are counts from one distribution."""
    table = np.vstack([a, b])
    return float(stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue)


def _assert_same_law(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], what: str) -> None:
    p = _two_sample_p(a, b)
    assert p > ALARM, f"{what}: distributions differ between the two secrets (p = {p:.3g})"


def _check_views(views_a: list[U64], views_b: list[U64], label: str) -> None:
    """Any n-1 of the vectors: each byte uniform, jointly uniform, same law under a and b."""
    n = len(views_a)
    bits = 8 // (n - 1)
    cells = 1 << (bits * (n - 1))
    for subset in itertools.combinations(range(n), n - 1):
        joint_a = _counts(_bucket([views_a[j] for j in subset], bits), cells)
        joint_b = _counts(_bucket([views_b[j] for j in subset], bits), cells)
        _assert_uniform(joint_a, f"{label} {subset} jointly")
        _assert_same_law(joint_a, joint_b, f"{label} {subset} jointly")
    for j in range(n):
        for shift, name in ((56, "top byte"), (0, "low byte")):
            byte_a = _counts(_byte(views_a[j], shift), 256)
            byte_b = _counts(_byte(views_b[j], shift), 256)
            _assert_uniform(byte_a, f"{label} {j} {name}")
            _assert_same_law(byte_a, byte_b, f"{label} {j} {name}")


SECRETS = {
    "zero vs 2^63+12345": (
        np.zeros(SAMPLES, dtype=np.uint64),
        np.full(SAMPLES, 2**63 + 12345, dtype=np.uint64),
    ),
    "two vectors": (
        np.arange(SAMPLES, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
        np.arange(SAMPLES, dtype=np.uint64)[::-1] ** np.uint64(3),
    ),
}


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("pair", list(SECRETS))
def test_any_n_minus_1_shares_are_uniform_and_independent_of_the_secret(n: int, pair: str) -> None:
    secret_a, secret_b = SECRETS[pair]
    _check_views(shares_of(secret_a, n, RNG), shares_of(secret_b, n, RNG), "shares")


def test_all_n_shares_are_detectably_not_uniform() -> None:
    """Power check: the same test sees that all n shares together determine the secret."""
    zero = _counts(_bucket(shares_of(np.zeros(SAMPLES, dtype=np.uint64), 3, RNG), 2), 64)
    one = _counts(_bucket(shares_of(np.ones(SAMPLES, dtype=np.uint64), 3, RNG), 2), 64)
    assert stats.chisquare(zero).pvalue < ALARM
    assert _two_sample_p(zero, one) < ALARM


@pytest.mark.parametrize("n", [3, 4])
def test_coordinator_view_any_n_minus_1_partials_reveal_nothing(n: int) -> None:
    """Two input sets with the same total: n-1 partials are uniform and identical in law.

    All n partials together sum to the total, which is what the coordinator is meant to learn.
    """
    total = np.arange(SAMPLES, dtype=np.uint64) * np.uint64(7919) + np.uint64(2**62)
    spread = [RNG.uint64(SAMPLES) for _ in range(n - 1)]
    inputs_a = [*spread, total - reconstruct(spread)]
    inputs_b = [total, *(np.zeros(SAMPLES, dtype=np.uint64) for _ in range(n - 1))]
    partials_a, partials_b = partials_of(inputs_a, RNG), partials_of(inputs_b, RNG)
    assert np.array_equal(reconstruct(partials_a), total)
    assert np.array_equal(reconstruct(partials_b), total)
    _check_views(partials_a, partials_b, "partials")


# --- production code never uses a non-cryptographic generator ----------------------------

_FORBIDDEN = re.compile(
    r"\bnp\.random\b|\bnumpy\.random\b|^\s*import\s+random\b|^\s*from\s+random\s+import\b"
    r"|^\s*from\s+numpy\s+import\s+.*\brandom\b",
    re.MULTILINE,
)


@pytest.mark.parametrize(
    "line",
    [
        "x = np.random.default_rng(1)",
        "from numpy.random import default_rng",
        "import random",
        "from random import randbytes",
        "from numpy import random as npr",
    ],
)
def test_the_scan_catches_each_form(line: str) -> None:
    assert _FORBIDDEN.search(f"a = 1\n    {line}\n")


def test_production_code_uses_only_the_system_random_source() -> None:
    sources = [p for pkg in ("mpcnode", "coordinator") for p in (ROOT / pkg).rglob("*.py")]
    assert sources, "no sources found; is the test looking in the right place?"
    offenders = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
        for path in sources
        for text in [path.read_text(encoding="utf-8")]
        for m in _FORBIDDEN.finditer(text)
    ]
    assert not offenders, "non-cryptographic randomness in production code:\n" + "\n".join(
        offenders
    )


def test_the_random_source_protocol_is_satisfied() -> None:
    sources: list[RandomSource] = [RNG, SeededSource(0)]
    for source in sources:
        assert source.uint64(3).shape == (3,)
