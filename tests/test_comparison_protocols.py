"""The comparison programs against the cleartext answer, the LTZ primitive at its boundaries,
and the public shape of a run (steps and message sizes fixed by the program and n).

Every run is simulated in one process with seeded stand-in sources (tests only). The LTZ
primitive and the tampering checks drive the parties' generators directly (`_drive`), so a
test can run a program of its own and alter a message in flight.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seeded import SeededSource

from mpcnode.core import field, shamir
from mpcnode.core.field import ELEMENT_BYTES, P
from mpcnode.core.randomness import RandomSource
from mpcnode.protocols.compare import ltz, ltz_needs
from mpcnode.protocols.engine import (
    KAPPA,
    MAX_COMPARE_BITS,
    Exchange,
    Needs,
    Party,
    Pool,
    ProtocolError,
    Steps,
)
from mpcnode.protocols.networks import sorting_layers
from mpcnode.protocols.programs import (
    Dominance,
    Extreme,
    NoisyArgmax,
    Program,
    Ranked,
    Threshold,
    index_bits,
)
from mpcnode.protocols.simulate import Simulation, simulate

PARTY_COUNTS = (3, 4, 5, 8)
FEW = settings(max_examples=25, deadline=None)

Body = Callable[[Party], Steps]
Tamper = Callable[[int, int, int, list[int]], list[int]]  # (step, sender, receiver, msg)


def _sources(seed: int) -> Callable[[int], RandomSource]:
    return lambda i: SeededSource(seed * 1000 + i)


def _sim(program: Program, values: Sequence[int], seed: int = 0) -> Simulation:
    return simulate(program, values, _sources(seed))


def _result(program: Program, values: Sequence[int], seed: int = 0) -> dict[str, int]:
    return program.decode(_sim(program, values, seed).opened, len(values))


@dataclass
class Driven:
    opened: list[int]
    steps: int


def _drive(n: int, body: Body, seed: int, tamper: Tamper | None = None) -> Driven:
    """Run `body` for parties 1..n, routing every exchange; reconstruct the outputs."""
    parties = [Party(i + 1, n, SeededSource(seed * 1000 + i)) for i in range(n)]
    runs = [body(p) for p in parties]
    pending: list[Exchange | None] = [next(r) for r in runs]
    outputs: list[list[int]] = [[] for _ in range(n)]
    steps = 0
    while any(e is not None for e in pending):
        steps += 1
        sent = [e.outgoing for e in pending if e is not None]
        assert len(sent) == n, "every party takes part in every step"
        for i, runner in enumerate(runs):
            inbox = {}
            for j in range(n):
                if j != i:
                    message = list(sent[j][i + 1])
                    if tamper is not None:
                        message = tamper(steps, j + 1, i + 1, message)
                    inbox[j + 1] = message
            try:
                pending[i] = runner.send(inbox)
            except StopIteration as done:
                pending[i], outputs[i] = None, done.value
    return Driven(shamir.reconstruct(outputs, parties[0].t), steps)


def _ltz_body(values: Sequence[int], k: int, n: int, seed: int) -> Body:
    """Each a in `values` is the sum of one secret piece per party; output [a < 0]."""
    count = len(values)
    pieces = [field.random_elements(SeededSource(seed + 7 + j), count) for j in range(n - 1)]
    first = [(a - sum(p[j] for p in pieces)) % P for j, a in enumerate(values)]
    parts = [first, *pieces]

    def body(party: Party) -> Steps:
        needs = ltz_needs(count, k) + Needs(outputs=count)
        shared = yield from party.preprocess(parts[party.index - 1], needs)
        total = [sum(shared[d * count + j] for d in range(party.n)) % P for j in range(count)]
        bits = yield from ltz(party, total, k)
        return party.output(bits)

    return body


def _ceil_log2(m: int) -> int:
    return (m - 1).bit_length()


# --- LTZ (Catrina and de Hoogh) directly -------------------------------------------------


def _boundaries(k: int) -> list[int]:
    h = 1 << (k - 1)
    candidates = {-h, -h + 1, -h // 2, -2, -1, 0, 1, 2, h // 2, h - 2, h - 1}
    return sorted(v for v in candidates if -h <= v < h)


@pytest.mark.parametrize("n", PARTY_COUNTS)
@pytest.mark.parametrize("k", [2, 3, 9, 33, 64, MAX_COMPARE_BITS])
def test_ltz_at_the_edges_of_its_range(n: int, k: int) -> None:
    values = _boundaries(k)
    run = _drive(n, _ltz_body(values, k, n, seed=k * 10 + n), seed=k * 10 + n)
    assert run.opened == [int(a < 0) for a in values]
    assert run.steps == 2 + 1 + _ceil_log2(k - 1)  # preprocessing, one opening, BitLT


@FEW
@given(
    st.sampled_from(PARTY_COUNTS),
    st.integers(min_value=2, max_value=MAX_COMPARE_BITS),
    st.data(),
)
def test_ltz_on_random_values(n: int, k: int, data: st.DataObject) -> None:
    h = 1 << (k - 1)
    values = data.draw(st.lists(st.integers(-h, h - 1), min_size=1, max_size=6))
    seed = data.draw(st.integers(0, 2**20))
    assert _drive(n, _ltz_body(values, k, n, seed), seed).opened == [int(a < 0) for a in values]


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_ltz_with_one_bit_values(n: int) -> None:
    """k = 1 is the domain {-1, 0}: no mask bits, no BitLT, still one masked opening."""
    run = _drive(n, _ltz_body([-1, 0, 0, -1], 1, n, 5), 5)
    assert run.opened == [1, 0, 0, 1]
    assert run.steps == 2  # the dealing step and the opening (no random bits to make)


def _widest(n: int) -> int:
    """The widest k for which c = 2^(k-1) + a + 2^(k-1) r'' + r' cannot reach p."""
    return 126 - KAPPA - 3 - n.bit_length()


@pytest.mark.parametrize("n", [3, 8])
def test_ltz_is_exact_at_the_widest_width_it_accepts(n: int) -> None:
    k = _widest(n)
    assert k >= MAX_COMPARE_BITS  # the advertised bound holds for these n
    # the largest opening: operand, mask and every dealer's kappa + 1 bit mask all maximal
    largest = (1 << (k - 1)) * (3 + n * ((1 << (KAPPA + 1)) - 1))
    assert largest < P, "the accepted width leaves no room for a wrapped mask"
    values = _boundaries(k)
    assert _drive(n, _ltz_body(values, k, n, 3), 3).opened == [int(a < 0) for a in values]


@pytest.mark.parametrize("n", [3, 8])
@pytest.mark.parametrize("extra", [1, 20])
def test_ltz_refuses_an_operand_too_wide_for_the_field(n: int, extra: int) -> None:
    k = _widest(n) + extra
    with pytest.raises(ValueError, match="does not fit the field"):
        _drive(n, _ltz_body([-1, 0], k, n, 1), 1)
    with pytest.raises(ValueError, match="does not fit the field"):
        _drive(n, _ltz_body([0], 0, n, 1), 1)  # nor a width of 0


def test_a_program_too_wide_for_the_field_is_refused_not_answered() -> None:
    """Extreme(84) on 3 parties compares 87-bit keys: refused (it once opened garbage)."""
    with pytest.raises(ValueError, match="does not fit the field"):
        _sim(Extreme(84), [2**84 - 1, 0, 2**83])
    assert _result(Extreme(70), [2**70 - 1, 0, 2**69]) == {"value": 2**70 - 1, "index": 0}


# --- the programs against the cleartext answer -------------------------------------------


def _values(n: int, bits: int) -> st.SearchStrategy[list[int]]:
    top = (1 << bits) - 1
    one = st.one_of(st.integers(0, top), st.sampled_from([0, top, top // 2]))  # ties
    return st.lists(one, min_size=n, max_size=n)


@FEW
@given(st.sampled_from(PARTY_COUNTS), st.sampled_from([1, 8, 32]), st.booleans(), st.data())
def test_extreme_matches_the_cleartext(
    n: int, bits: int, largest: bool, data: st.DataObject
) -> None:
    values = data.draw(_values(n, bits))
    best = max(values) if largest else min(values)
    got = _result(Extreme(bits, largest), values, data.draw(st.integers(0, 2**20)))
    assert got == {"value": best, "index": values.index(best)}  # ties: earliest index


@pytest.mark.parametrize("n", PARTY_COUNTS)
@pytest.mark.parametrize("largest", [True, False])
def test_extreme_ties_go_to_the_earliest_party(n: int, largest: bool) -> None:
    assert _result(Extreme(8, largest), [77] * n) == {"value": 77, "index": 0}
    values = [3] * n
    values[1] = values[n - 1] = 200 if largest else 0  # two equal extremes, far apart
    assert _result(Extreme(8, largest), values, 1) == {"value": values[1], "index": 1}
    values = [5] * n
    values[n - 2] = values[n - 1] = 255 if largest else 0  # two equal extremes, adjacent
    assert _result(Extreme(8, largest), values, 2) == {"value": values[-1], "index": n - 2}


def test_extreme_at_the_ends_of_the_domain() -> None:
    assert _result(Extreme(16), [0, 65535, 65535, 0]) == {"value": 65535, "index": 1}
    assert _result(Extreme(16, largest=False), [65535, 0, 0, 65535]) == {"value": 0, "index": 1}
    assert _result(Extreme(1), [0, 0, 0]) == {"value": 0, "index": 0}
    assert _result(Extreme(1), [0, 0, 1]) == {"value": 1, "index": 2}


@FEW
@given(st.sampled_from(PARTY_COUNTS), st.sampled_from([1, 8, 24]), st.data())
def test_ranked_matches_the_cleartext(n: int, bits: int, data: st.DataObject) -> None:
    values = data.draw(_values(n, bits))
    got = _result(Ranked(bits, tuple(range(n)), winner=True), values, data.draw(st.integers(0, 99)))
    ordered = sorted(values)
    assert got == {**{f"rank{p}": ordered[p] for p in range(n)}, "index": values.index(ordered[-1])}


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_median_and_second_price(n: int) -> None:
    values = [(37 * i + 11) % 101 for i in range(n)]
    ordered = sorted(values)
    median, second = (n + 1) // 2 - 1, n - 2
    median_program = Ranked(8, (median,))
    assert _result(median_program, values) == {f"rank{median}": ordered[median]}
    auction = Ranked(8, (second,), winner=True)
    got = _result(auction, values, 1)
    assert got == {f"rank{second}": ordered[-2], "index": values.index(max(values))}


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_second_price_auction_with_tied_bids(n: int) -> None:
    auction = Ranked(8, (n - 2,), winner=True)
    assert _result(auction, [9] * n) == {f"rank{n - 2}": 9, "index": 0}
    values = [1] * n
    values[1] = values[n - 1] = 250  # two top bids: the earlier wins and pays the other's bid
    assert _result(auction, values, 3) == {f"rank{n - 2}": 250, "index": 1}
    values[n - 1] = 249
    assert _result(auction, values, 4) == {f"rank{n - 2}": 249, "index": 1}


def test_ranked_does_not_open_the_winning_bid() -> None:
    run = _sim(Ranked(8, (1,), winner=True), [10, 200, 30])
    assert run.opened == [30, 1]  # the second price and the winner's index, nothing more


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_threshold_at_its_exact_boundary(n: int) -> None:
    values = [(-1) ** i * (3 * i + 1) for i in range(n)]
    total = sum(values)

    def yes(at_least: Fraction, seed: int) -> int:
        return _result(Threshold(at_least, 100), values, seed)["yes"]

    assert yes(Fraction(total), 1) == 1  # sum >= at_least, equality included
    assert yes(Fraction(total + 1), 2) == 0
    assert yes(Fraction(total - 1), 3) == 1
    assert yes(Fraction(2 * total - 1, 2), 4) == 1  # at_least = sum - 1/2
    assert yes(Fraction(2 * total + 1, 2), 5) == 0  # at_least = sum + 1/2


def test_threshold_with_a_fractional_bound() -> None:
    at_least = Fraction(7, 2)
    assert _result(Threshold(at_least, 10), [1, 1, 1]) == {"yes": 0}
    assert _result(Threshold(at_least, 10), [1, 2, 1]) == {"yes": 1}
    assert _result(Threshold(Fraction(-7, 2), 10), [-1, -2, -1]) == {"yes": 0}
    assert _result(Threshold(Fraction(-7, 2), 10), [-1, -2, 0]) == {"yes": 1}


@FEW
@given(
    st.sampled_from(PARTY_COUNTS),
    st.sampled_from([1, 100, 2**20]),
    st.integers(1, 12),
    st.data(),
)
def test_threshold_matches_the_cleartext(n: int, bound: int, den: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.integers(-bound, bound), min_size=n, max_size=n))
    reach = den * (n * bound + 2)
    at_least = Fraction(data.draw(st.integers(-reach, reach)), den)
    got = _result(Threshold(at_least, bound), values, data.draw(st.integers(0, 99)))
    assert got == {"yes": int(sum(values) >= at_least)}


def _dominance(values: Sequence[int], share: Fraction, top: int) -> dict[str, int]:
    leaders = sum(sorted(values)[-top:])
    suppressed = int(leaders > share * sum(values))  # strictly exceeds
    return {"suppressed": suppressed, "sum": 0 if suppressed else sum(values)}


@pytest.mark.parametrize(
    ("values", "share", "top", "suppressed"),
    [
        ([5, 5, 0], Fraction(1, 2), 1, 0),  # exactly half is not dominant
        ([6, 4, 0], Fraction(1, 2), 1, 1),
        ([5, 4, 1], Fraction(1, 2), 1, 0),
        ([0, 0, 0, 0], Fraction(1, 2), 1, 0),
        ([0, 9, 0, 0], Fraction(99, 100), 1, 1),  # one contributor holds it all
        ([0, 9, 0, 0], Fraction(1), 1, 0),  # never more than all of it
        ([3, 3, 2], Fraction(3, 4), 2, 0),  # top two = 6 = 3/4 of 8: not dominant
        ([4, 3, 1], Fraction(3, 4), 2, 1),  # 7 > 6
        ([2, 3, 3, 2, 2], Fraction(3, 5), 2, 0),  # 6 = 3/5 of 10
        ([2, 4, 3, 1, 0], Fraction(3, 5), 2, 1),  # 7 > 6
        ([1, 1, 1, 1], Fraction(3, 4), 3, 0),  # 3 = 3/4 of 4
        ([1, 2, 1, 0], Fraction(3, 4), 3, 1),  # top three = all 4 > 3
        ([2, 2, 1, 0, 0, 0, 0, 0], Fraction(4, 5), 2, 0),  # 4 = 4/5 of 5
        ([2, 2, 1, 0, 0, 0, 0, 0], Fraction(79, 100), 2, 1),
    ],
)
def test_dominance_at_its_boundary(
    values: list[int], share: Fraction, top: int, suppressed: int
) -> None:
    got = _result(Dominance(4, share, top), values)
    assert got == {"suppressed": suppressed, "sum": 0 if suppressed else sum(values)}
    assert got == _dominance(values, share, top)


@FEW
@given(
    st.sampled_from(PARTY_COUNTS),
    st.sampled_from([1, 2, 3]),
    st.fractions(min_value=Fraction(1, 10), max_value=1, max_denominator=10),
    st.data(),
)
def test_dominance_matches_the_cleartext(
    n: int, top: int, share: Fraction, data: st.DataObject
) -> None:
    values = data.draw(_values(n, 6))
    got = _result(Dominance(6, share, top), values, data.draw(st.integers(0, 99)))
    assert got == _dominance(values, share, top)


def _argmax(vectors: Sequence[Sequence[int]]) -> dict[str, int]:
    totals = [sum(column) for column in zip(*vectors, strict=True)]
    return {"index": totals.index(max(totals))}  # ties: the first bin


@FEW
@given(
    st.sampled_from(PARTY_COUNTS),
    st.integers(1, 7),
    st.sampled_from([8, 2**20]),
    st.data(),
)
def test_noisy_argmax_matches_the_cleartext(
    n: int, bins: int, bound: int, data: st.DataObject
) -> None:
    each = bound // n  # so that every |noisy count| <= bound
    entry = st.one_of(st.integers(-each, each), st.sampled_from([-each, 0, each]))
    vectors = data.draw(
        st.lists(st.lists(entry, min_size=bins, max_size=bins), min_size=n, max_size=n)
    )
    program = NoisyArgmax(bins, bound)
    got = program.decode(
        simulate(program, vectors, _sources(data.draw(st.integers(0, 99)))).opened, n
    )
    assert got == _argmax(vectors)


@pytest.mark.parametrize("n", [3, 5])
def test_noisy_argmax_ties_and_negative_counts(n: int) -> None:
    program = NoisyArgmax(5, 100)

    def index(vectors: list[list[int]]) -> int:
        return program.decode(simulate(program, vectors, _sources(n)).opened, n)["index"]

    assert index([[0] * 5 for _ in range(n)]) == 0
    tie = [[1, 4, -2, 4, 0]] + [[0, 0, 0, 0, 0]] * (n - 1)
    assert index(tie) == 1  # bins 1 and 3 tie: the first wins
    negative = [[-9, -3, -7, -3, -20]] + [[-1, 0, -1, -1, 0]] * (n - 1)
    assert index(negative) == 1
    assert index([[-30, -30, -30, -30, -29]] * n) == 4


# --- refusals and the Pool ---------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2])
def test_party_refuses_fewer_than_three(n: int) -> None:
    with pytest.raises(ValueError, match="at least 3 parties"):
        Party(1, n, SeededSource(0))
    if n:
        with pytest.raises(ValueError, match="at least 3 parties"):
            _sim(Extreme(8), list(range(n)))


def test_a_pool_hands_out_in_order_and_refuses_to_run_dry() -> None:
    pool = Pool(bits=[1, 2, 3], masks=[9], zeros=[])
    assert pool.take("bits", 2) == [1, 2]
    assert pool.take("bits", 1) == [3]
    assert pool.take("masks", 1) == [9]
    assert pool.take("zeros", 0) == []
    for kind in ("bits", "masks", "zeros"):
        with pytest.raises(RuntimeError, match=f"more {kind}"):
            pool.take(kind, 1)


def test_a_program_that_understates_its_needs_fails() -> None:
    def body(party: Party) -> Steps:
        shared = yield from party.preprocess([party.index], ltz_needs(1, 8) + Needs(outputs=2))
        bits = yield from ltz(party, shared[:2], 8)  # two comparisons, one declared
        return party.output(bits)

    with pytest.raises(RuntimeError, match="more bits"):
        _drive(3, body, 0)

    def outputs(party: Party) -> Steps:
        yield from party.preprocess([party.index], Needs(outputs=1))
        return party.output([1, 2])  # two outputs, one zero sharing declared

    with pytest.raises(RuntimeError, match="more zeros"):
        _drive(3, outputs, 0)


@pytest.mark.parametrize("n", [3, 4])
def test_an_altered_share_of_an_opening_is_caught(n: int) -> None:
    """Party 2 sends party 1 a wrong share of the masked value c (step 3, the LTZ opening)."""

    def tamper(step: int, sender: int, receiver: int, message: list[int]) -> list[int]:
        if (step, sender, receiver) == (3, 2, 1):
            message[0] = (message[0] + 1) % P
        return message

    body = _ltz_body([5, -5], 8, n, 1)
    assert _drive(n, body, 1).opened == [0, 1]
    with pytest.raises(ProtocolError, match="step 3"):
        _drive(n, _ltz_body([5, -5], 8, n, 1), 1, tamper)


def test_a_message_of_the_wrong_size_names_its_sender() -> None:
    def tamper(step: int, sender: int, receiver: int, message: list[int]) -> list[int]:
        return [*message, 0] if (step, sender, receiver) == (2, 3, 1) else message

    with pytest.raises(ProtocolError, match="party 3 sent") as caught:
        _drive(3, _ltz_body([1], 8, 3, 1), 1, tamper)
    assert caught.value.party == 3


# --- what a run shows: steps and sizes, fixed by the program and n -----------------------


def _programs(n: int) -> list[Program]:
    return [
        Extreme(8),
        Extreme(8, largest=False),
        Ranked(8, ((n + 1) // 2 - 1, n - 2), winner=True),
        Threshold(Fraction(7, 2), 255),
        Dominance(8, Fraction(1, 2)),
        Dominance(8, Fraction(3, 4), top=2),
    ]


def _shape(run: Simulation) -> list[list[list[tuple[int, int]]]]:
    """Per party, per step: (sender, elements received) for every other party."""
    return [
        [sorted((j, len(v)) for j, v in inbox.items() if j != i + 1) for inbox in steps]
        for i, steps in enumerate(run.received)
    ]


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_steps_and_bytes_depend_only_on_the_program_and_n(n: int) -> None:
    low, high = [0] * n, [255 - 31 * i for i in range(n)]
    for program in _programs(n):
        a = simulate(program, low, _sources(1), keep_transcript=True)
        b = simulate(program, high, _sources(2), keep_transcript=True)
        assert a.opened != b.opened, "the two input vectors must lead to different outputs"
        assert (a.steps, a.bytes_sent) == (b.steps, b.bytes_sent), program
        assert _shape(a) == _shape(b), program
        assert len(a.received[0]) == a.steps
        received = sum(length for steps in _shape(a) for step in steps for _, length in step)
        assert a.bytes_sent == received * ELEMENT_BYTES


def test_the_transcript_holds_only_what_a_party_received() -> None:
    """Party.open/deal/preprocess add the party's own share to the inbox dict they are
    handed; the transcript must not show it (it once aliased that dict)."""
    run = simulate(Extreme(8), [1, 2, 3], _sources(0), keep_transcript=True)
    for i, steps in enumerate(run.received):
        for inbox in steps:
            assert sorted(inbox) == [j for j in (1, 2, 3) if j != i + 1]


@pytest.mark.parametrize("n", [3, 5])
def test_noisy_argmax_shape_does_not_depend_on_the_counts(n: int) -> None:
    program = NoisyArgmax(6, 600)
    flat = [[0] * 6 for _ in range(n)]
    peaked = [[-100, 3, 99, -7, 0, 55] for _ in range(n)]
    a = simulate(program, flat, _sources(1), keep_transcript=True)
    b = simulate(program, peaked, _sources(2), keep_transcript=True)
    assert program.decode(a.opened, n) != program.decode(b.opened, n)
    assert (a.steps, a.bytes_sent, _shape(a)) == (b.steps, b.bytes_sent, _shape(b))


@pytest.mark.parametrize("n", PARTY_COUNTS)
def test_the_step_count_is_the_documented_depth(n: int) -> None:
    """2 preprocessing steps; per LTZ 1 + ceil(log2 m) steps; one mul per selection."""
    w = index_bits(n)
    rounds = _ceil_log2(n)  # tournament rounds
    ltz_steps = 1 + _ceil_log2(8 + w)  # k = 8 + w + 1, m = k - 1
    assert _sim(Extreme(8), [1] * n).steps == 2 + rounds * (ltz_steps + 1)
    layers = len(sorting_layers(n))
    assert _sim(Ranked(8, (0,)), [1] * n).steps == 2 + layers * (ltz_steps + 1)
    k = (2 * n * 255 + 7).bit_length() + 1
    assert _sim(Threshold(Fraction(7, 2), 255), [1] * n).steps == 2 + 1 + _ceil_log2(k - 1)


# --- the sorting network -----------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 13))
def test_sorting_layers_sort_every_zero_one_input(n: int) -> None:
    layers = sorting_layers(n)
    for layer in layers:
        touched = [x for pair in layer for x in pair]
        assert len(touched) == len(set(touched)), "comparators of a layer are disjoint"
        assert all(0 <= i < j < n for i, j in layer)
    for bits in itertools.product((0, 1), repeat=n):  # the 0-1 principle
        values = list(bits)
        for layer in layers:
            for i, j in layer:
                if values[j] < values[i]:
                    values[i], values[j] = values[j], values[i]
        assert values == sorted(bits)


@pytest.mark.parametrize("log_n", range(1, 6))
def test_sorting_depth_is_batchers(log_n: int) -> None:
    assert len(sorting_layers(1 << log_n)) == log_n * (log_n + 1) // 2


def test_index_bits_hold_every_index() -> None:
    for n in range(2, 70):
        w = index_bits(n)
        assert n - 1 < 1 << w and (n - 1 >= 1 << (w - 1) or w == 1)
    assert index_bits(1) == 1
