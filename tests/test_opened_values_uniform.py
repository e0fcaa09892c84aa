"""A node's transcript of opened values is uniform and independent of the inputs.

What party 1 of a simulated max (argmax) learns beyond the output is what it can compute
from its transcript (`keep_transcript=True`): in each opening step every other party sends
its share of the same values, so party 1 interpolates them. The values opened by LTZ are
c = 2^(k-1) + a + 2^m r'' + r' (m = k - 1); BitLT uses c' = c mod 2^m, which must be exactly
uniform, and the bits of c above m, which hide a's sign only through r''. This file runs the
same program many times on two very different input vectors with the same output, and checks

(a) c' (its top and its low bits) and the low bits of c >> m are uniform, per comparison,
    and have the same distribution under both input vectors (chi-square goodness of fit and
    a two-sample chi-square test); so are the squares opened by the preprocessing;
(b) the n output shares that Party.output releases lie on a polynomial whose coefficients
    beyond the constant (the output) are uniform and input-independent, and the release
    adds a fresh sharing of zero to the computed shares.

Each test has a false-alarm rate of 1e-4 and the runs use fixed seeds (a seeded stand-in
source, tests only), so nothing flakes; power checks show the same statistics reject a mask
two bits short and a mask whose lowest bit is missing. Instrumentation lives here only: a
Party subclass records what `open` revealed and what `output` released, and a wrapper of
`ltz` records the (shared) operands so the test can compare c with the true a.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]
from seeded import SeededSource

from mpcnode.core import shamir
from mpcnode.core.field import P, signed, sqrt
from mpcnode.core.randomness import RandomSource
from mpcnode.protocols import compare, programs
from mpcnode.protocols import simulate as simulate_module
from mpcnode.protocols.engine import KAPPA, Exchange, Inbox, Party
from mpcnode.protocols.programs import Extreme

ALARM = 1e-4
LEAK = 1e-10  # what a power check must reach


class RecordingParty(Party):
    """A Party that remembers every opening (step, degree, values), every LTZ operand vector
    and width, and its output shares before and after re-randomization."""

    def __init__(self, index: int, n: int, rng: RandomSource) -> None:
        super().__init__(index, n, rng)
        self.openings: list[tuple[int, int, list[int]]] = []
        self.operands: list[tuple[int, list[int]]] = []
        self.computed: list[int] = []
        self.released: list[int] = []

    def open(
        self, shares: Sequence[int], degree: int | None = None
    ) -> Generator[Exchange, Inbox, list[int]]:
        values = yield from super().open(shares, degree)
        if shares:
            self.openings.append((self.steps, self.t if degree is None else degree, values))
        return values

    def output(self, shares: Sequence[int]) -> list[int]:
        self.computed = list(shares)
        self.released = super().output(shares)
        return self.released


def _recording_ltz(
    party: Party, values: Sequence[int], k: int
) -> Generator[Exchange, Inbox, list[int]]:
    assert isinstance(party, RecordingParty)
    party.operands.append((k, list(values)))
    return (yield from compare.ltz(party, values, k))


@dataclass
class Comparison:
    """One LTZ opening as party 1 computed it from its transcript, with the true operand."""

    c: int
    a: int  # the operand, reconstructed from every party's share (what the test knows)
    m: int


@dataclass
class Observed:
    output: list[int]
    comparisons: list[Comparison]  # in opening order
    squares: list[int]  # opened by the preprocessing
    transcript_matches: bool  # party 1's interpolation equals what its `open` returned
    released: list[list[int]]  # [party][output]
    computed: list[list[int]]


def _observe(
    program: Extreme, inputs: Sequence[int], seed: int, mp: pytest.MonkeyPatch
) -> Observed:
    parties: list[RecordingParty] = []

    def make(index: int, count: int, rng: RandomSource) -> RecordingParty:
        party = RecordingParty(index, count, rng)
        parties.append(party)
        return party

    mp.setattr(simulate_module, "Party", make)
    mp.setattr(programs, "ltz", _recording_ltz)

    def rng_for(i: int) -> RandomSource:
        return SeededSource(seed * 1000 + i)

    run = simulate_module.simulate(program, inputs, rng_for, keep_transcript=True)
    first = parties[0]
    t = first.t
    matches = True
    from_transcript: list[list[int]] = []
    squares: list[int] = []
    for step, degree, values in first.openings:
        if degree != t:
            squares += values  # degree 2t: party 1 needs its own share as well
            continue
        inbox = run.received[0][step - 1]
        senders = sorted(j for j in inbox if j != first.index)[: t + 1]
        weights = shamir.lagrange_at_zero(senders)
        seen = [
            sum(w * inbox[j][e] for w, j in zip(weights, senders, strict=True)) % P
            for e in range(len(values))
        ]
        matches = matches and seen == values
        from_transcript.append(seen)
    assert len(from_transcript) == len(first.operands), "one opening per LTZ"
    comparisons = []
    for index, (seen, (k, _)) in enumerate(zip(from_transcript, first.operands, strict=True)):
        shares = [p.operands[index][1] for p in parties]
        operands = shamir.reconstruct(shares, t)
        comparisons += [
            Comparison(c, signed(a), k - 1) for c, a in zip(seen, operands, strict=True)
        ]
    return Observed(
        run.opened,
        comparisons,
        squares,
        matches,
        [p.released for p in parties],
        [p.computed for p in parties],
    )


@dataclass
class Runs:
    n: int
    by_vector: dict[str, list[Observed]]


CASES = {
    # (runs per vector, the two input vectors: same max 200, same argmax 0)
    3: (800, {"equal": [200, 200, 200], "spread": [200, 0, 199]}),
    5: (240, {"equal": [200] * 5, "spread": [200, 0, 199, 17, 128]}),
}


def _collect(n: int) -> Runs:
    count, vectors = CASES[n]
    out: dict[str, list[Observed]] = {}
    with pytest.MonkeyPatch.context() as mp:
        for offset, (name, inputs) in enumerate(vectors.items()):
            out[name] = [
                _observe(Extreme(8), inputs, 1 + offset * 100_000 + s, mp) for s in range(count)
            ]
    return Runs(n, out)


@pytest.fixture(scope="module", params=sorted(CASES), ids=lambda n: f"n={n}")
def runs(request: pytest.FixtureRequest) -> Runs:
    n: int = request.param
    return _collect(n)


# --- the statistics ----------------------------------------------------------------------

Statistic = Callable[[Comparison], int]


def _stats(bins: int) -> dict[str, Statistic]:
    width = bins.bit_length() - 1
    return {
        "top bits of c'": lambda x: (x.c % (1 << x.m)) >> (x.m - width),
        "low bits of c'": lambda x: x.c % bins,
        "bits of c above m": lambda x: (x.c >> x.m) % bins,
    }


def _counts(values: Sequence[int], bins: int) -> list[int]:
    counts: list[int] = np.bincount(np.asarray(values, dtype=np.int64), minlength=bins).tolist()
    return counts


def _positions(observed: Sequence[Observed]) -> list[list[Comparison]]:
    """The comparisons of every run grouped by their place in the run (same operand role)."""
    width = len(observed[0].comparisons)
    assert all(len(o.comparisons) == width for o in observed)
    return [[o.comparisons[p] for o in observed] for p in range(width)]


def _bins_for(samples: int) -> int:
    return 16 if samples >= 640 else 8  # at least 40 expected per bin


def _uniform_p(samples: Sequence[Comparison], statistic: Statistic, bins: int) -> float:
    p: float = stats.chisquare(_counts([statistic(x) for x in samples], bins)).pvalue
    return p


def _same_p(
    first: Sequence[Comparison], second: Sequence[Comparison], statistic: Statistic, bins: int
) -> float:
    table = np.array(
        [
            _counts([statistic(x) for x in first], bins),
            _counts([statistic(x) for x in second], bins),
        ]
    )
    table = table[:, table.sum(axis=0) > 0]  # a bin neither sample reaches says nothing
    p: float = stats.chi2_contingency(table).pvalue
    return p


# --- (a) the openings of LTZ -------------------------------------------------------------


def test_party_1_reads_the_openings_from_its_transcript(runs: Runs) -> None:
    for observed in runs.by_vector.values():
        assert all(o.transcript_matches for o in observed)
        assert all(o.comparisons for o in observed)
        assert all(o.output == observed[0].output for o in observed)
    (first, second) = runs.by_vector.values()
    assert first[0].output == second[0].output  # same output: only the inputs differ
    assert Extreme(8).decode(first[0].output, runs.n) == {"value": 200, "index": 0}


def test_ltz_openings_have_the_documented_form(runs: Runs) -> None:
    """c = 2^m + a + 2^m r'' + r' with 0 <= r' < 2^m and 0 <= r'' < n 2^(kappa+1)."""
    for observed in runs.by_vector.values():
        for o in observed:
            for x in o.comparisons:
                low = (x.c - x.a) % (1 << x.m)
                high, rest = divmod(x.c - (1 << x.m) - x.a - low, 1 << x.m)
                assert rest == 0 and 0 <= high < runs.n << (KAPPA + 1), x
    highs = [
        (x.c - (1 << x.m) - x.a) >> x.m for o in runs.by_vector["equal"] for x in o.comparisons
    ]
    assert max(highs).bit_length() >= KAPPA + 1  # r'' really is about kappa + 1 bits wide


def test_opened_values_are_uniform(runs: Runs) -> None:
    for name, observed in runs.by_vector.items():
        pooled = [x for o in observed for x in o.comparisons]
        for label, statistic in _stats(16).items():
            assert _uniform_p(pooled, statistic, 16) > ALARM, (name, label)
        for p, samples in enumerate(_positions(observed)):
            bins = _bins_for(len(samples))
            for label, statistic in _stats(bins).items():
                assert _uniform_p(samples, statistic, bins) > ALARM, (name, p, label)


def test_opened_values_do_not_depend_on_the_inputs(runs: Runs) -> None:
    equal, spread = runs.by_vector["equal"], runs.by_vector["spread"]
    pooled = [[x for o in obs for x in o.comparisons] for obs in (equal, spread)]
    for label, statistic in _stats(16).items():
        assert _same_p(pooled[0], pooled[1], statistic, 16) > ALARM, label
    for p, (a, b) in enumerate(zip(_positions(equal), _positions(spread), strict=True)):
        bins = _bins_for(len(a))
        for label, statistic in _stats(bins).items():
            assert _same_p(a, b, statistic, bins) > ALARM, (p, label)
    # the operands themselves do differ, so the test compares two really different views
    assert [x.a for x in equal[0].comparisons] != [x.a for x in spread[0].comparisons]


def _with_mask(samples: Sequence[Comparison], keep: Callable[[int, int], int]) -> list[Comparison]:
    """The openings had the mask r' been `keep(r', m)` (r'' unchanged)."""
    out = []
    for x in samples:
        low = (x.c - x.a) % (1 << x.m)
        c = x.c - low + keep(low, x.m)
        out.append(Comparison(c, x.a, x.m))
    return out


def test_the_statistics_catch_a_mask_two_bits_short(runs: Runs) -> None:
    """Power: with r' < 2^(m-2), the top bits of c' follow a; the two-sample test sees it."""
    short = {
        name: _with_mask([x for o in obs for x in o.comparisons], lambda r, m: r % (1 << (m - 2)))
        for name, obs in runs.by_vector.items()
    }
    top = _stats(16)["top bits of c'"]
    assert _same_p(short["equal"], short["spread"], top, 16) < LEAK
    assert _uniform_p(short["equal"], top, 16) < LEAK


def test_the_statistics_catch_a_mask_without_its_lowest_bit(runs: Runs) -> None:
    """Power: with r' even, c' has a's parity, which is fixed per comparison here."""
    observed = runs.by_vector["spread"]
    low = _stats(8)["low bits of c'"]
    leaky = [_with_mask(samples, lambda r, m: r & ~1) for samples in _positions(observed)]
    assert min(_uniform_p(samples, low, 8) for samples in leaky) < LEAK


def test_the_squares_opened_in_preprocessing_do_not_depend_on_the_inputs(runs: Runs) -> None:
    tables = []
    for observed in runs.by_vector.values():
        squares = [s for o in observed for s in o.squares]
        assert all(sqrt(s) ** 2 % P == s != 0 for s in squares[:200])  # non-zero squares
        tables.append(_counts([s * 16 // P for s in squares], 16))
        assert stats.chisquare(tables[-1]).pvalue > ALARM
    assert stats.chi2_contingency(np.array(tables)).pvalue > ALARM


# --- (b) the released output shares ------------------------------------------------------


def _coefficients(points: Sequence[int], degree: int) -> list[int]:
    """The coefficients (constant first) of the degree-`degree` polynomial through
    (1, points[0]), (2, points[1]), ..., from its first degree + 1 points."""
    xs = list(range(1, degree + 2))
    out = [0] * (degree + 1)
    for i, xi in enumerate(xs):
        basis, scale = [1], 1  # prod_{j != i} (x - xj) / (xi - xj)
        for j, xj in enumerate(xs):
            if j != i:
                basis = [
                    ((basis[d - 1] if d else 0) - xj * (basis[d] if d < len(basis) else 0)) % P
                    for d in range(len(basis) + 1)
                ]
                scale = scale * (xi - xj) % P
        factor = points[i] * pow(scale, P - 2, P) % P
        for d, b in enumerate(basis):
            out[d] = (out[d] + factor * b) % P
    return out


def _output_polynomials(observed: Sequence[Observed], t: int, released: bool) -> list[list[int]]:
    out = []
    for o in observed:
        shares = o.released if released else o.computed
        coeffs = _coefficients([s[0] for s in shares], t)
        for x in range(t + 2, len(shares) + 1):  # every share lies on it: degree t
            assert sum(c * x**d for d, c in enumerate(coeffs)) % P == shares[x - 1][0]
        out.append(coeffs)
    return out


def test_the_coefficient_helper_recovers_a_polynomial() -> None:
    coeffs = [5, P - 3, 12345, 2**126]
    points = [sum(c * x**d for d, c in enumerate(coeffs)) % P for x in range(1, 6)]
    assert _coefficients(points, 3) == coeffs


def test_released_output_shares_reveal_only_the_output(runs: Runs) -> None:
    t = shamir.honest_majority_threshold(runs.n)
    polys = {
        name: _output_polynomials(obs, t, released=True) for name, obs in runs.by_vector.items()
    }
    for name, coeffs in polys.items():
        assert all(c[0] == runs.by_vector[name][0].output[0] for c in coeffs)
    for d in range(1, t + 1):
        tables = []
        for coeffs in polys.values():
            tables.append(_counts([c[d] * 16 // P for c in coeffs], 16))
            assert stats.chisquare(tables[-1]).pvalue > ALARM, d
            assert stats.chisquare(_counts([c[d] % 16 for c in coeffs], 16)).pvalue > ALARM, d
        assert stats.chi2_contingency(np.array(tables)).pvalue > ALARM, d


def test_the_release_adds_a_fresh_sharing_of_zero(runs: Runs) -> None:
    """released - computed is a sharing of 0 with a uniform degree-1 coefficient, fresh
    in every run: the polynomial the computation left behind is not what is released."""
    t = shamir.honest_majority_threshold(runs.n)
    observed = runs.by_vector["spread"]
    after = _output_polynomials(observed, t, released=True)
    before = _output_polynomials(observed, t, released=False)
    added = [
        [(a - b) % P for a, b in zip(x, y, strict=True)] for x, y in zip(after, before, strict=True)
    ]
    assert all(z[0] == 0 for z in added)
    firsts = [z[1] for z in added]
    assert len(set(firsts)) == len(firsts)  # never zero twice, never repeated
    assert stats.chisquare(_counts([f * 16 // P for f in firsts], 16)).pvalue > ALARM
