"""Each comparison computation as a program over the engine, with what it opens (pure).

Inputs are each party's encoded value as a non-negative integer below 2^value_bits (the
declared domain, shifted to start at 0), or, for the sums of `Threshold` and `Dominance`,
the encoded value itself. Every program opens exactly its outputs; no comparison bit, no
intermediate maximum and no losing value is ever opened.

Ties are broken by a stated rule, through the key: the key of party i (0-based, in the
sorted participant list) is value * 2^w + (n - 1 - i), so keys are distinct and, among
equal values, the party earliest in the list has the largest key (it wins a max or an
auction) and, with value * 2^w + i, the smallest (it wins a min).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.core.field import P, inverse, signed
from mpcnode.protocols.cohort_cells import CohortCells
from mpcnode.protocols.compare import ltz, ltz_needs
from mpcnode.protocols.engine import Exchange, Inbox, Needs, Party, Steps
from mpcnode.protocols.networks import sorting_layers

Body = Generator[Exchange, Inbox, list[int]]


def index_bits(n: int) -> int:
    """w: the bits that hold a party's index in a key."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class Extreme:
    """max or min of the values, with who holds it (argmax, argmin): a tournament of keys.

    Opens one key, which is the value and the holder's index. n - 1 comparisons in
    ceil(log2 n) rounds of comparisons.
    """

    value_bits: int
    largest: bool = True

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        return self.value_bits + index_bits(n) + 1

    def needs(self, n: int) -> Needs:
        return ltz_needs(n - 1, self.widest(n)) + Needs(outputs=1)

    def body(self, party: Party, values: Sequence[int]) -> Body:
        n, w = party.n, index_bits(party.n)
        keys = [(v << w) + ((n - 1 - i) if self.largest else i) for i, v in enumerate(values)]
        best = yield from tournament(party, keys, self.value_bits + w + 1, self.largest)
        return [best]

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        w = index_bits(n)
        key = opened[0]
        low = key & ((1 << w) - 1)
        return {"value": key >> w, "index": (n - 1 - low) if self.largest else low}


@dataclass(frozen=True)
class Ranked:
    """Values sorted inside MPC; opens chosen positions' values and, if asked, the top index.

    `positions` are 0-based ranks in ascending order (n - 1 is the largest). With
    `winner=True` it also opens the index of the largest (ties: the earliest party), as a
    second-price auction does, without opening the winner's own value.
    """

    value_bits: int
    positions: tuple[int, ...]
    winner: bool = False

    def _k(self, n: int) -> int:
        return self.value_bits + index_bits(n) + 1

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        return self._k(n)

    def needs(self, n: int) -> Needs:
        comparators = sum(len(layer) for layer in sorting_layers(n))
        outputs = len(self.positions) + (1 if self.winner else 0)
        return ltz_needs(comparators, self._k(n)) + Needs(outputs=outputs)

    def body(self, party: Party, values: Sequence[int]) -> Body:
        n, w = party.n, index_bits(party.n)
        keys = [(v << w) + (n - 1 - i) for i, v in enumerate(values)]
        index = list(range(n))  # public at first, shared once mixed
        for layer in sorting_layers(n):
            diffs = [(keys[j] - keys[i]) % P for i, j in layer]
            swap = yield from ltz(party, diffs, self._k(n))  # [key_j < key_i]
            lefts, rights = [], []
            for c, (i, j) in zip(swap, layer, strict=True):
                lefts += [c, c]
                rights += [(keys[j] - keys[i]) % P, (index[j] - index[i]) % P]
            moved = yield from party.mul(lefts, rights)
            for m, (i, j) in enumerate(layer):
                low_key = (keys[i] + moved[2 * m]) % P
                low_index = (index[i] + moved[2 * m + 1]) % P
                keys[i], keys[j] = low_key, (keys[i] + keys[j] - low_key) % P
                index[i], index[j] = low_index, (index[i] + index[j] - low_index) % P
        inv = inverse(1 << w)
        out = [(keys[p] - (n - 1) + index[p]) * inv % P for p in self.positions]
        if self.winner:
            out.append(index[n - 1])
        return out

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        result = {f"rank{p}": v for p, v in zip(self.positions, opened, strict=False)}
        if self.winner:
            result["index"] = opened[-1]
        return result


@dataclass(frozen=True)
class Threshold:
    """YES (1) or NO (0) for sum >= at_least (encoded units, exact); opens only that bit."""

    at_least: Fraction
    largest_abs: int  # the largest |encoded value| one party may hold

    def _terms(self, n: int) -> tuple[int, int, int]:
        q, t = self.at_least.denominator, self.at_least.numerator
        span = q * n * self.largest_abs + abs(t)
        return q, t, span.bit_length() + 1

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        return self._terms(n)[2]

    def needs(self, n: int) -> Needs:
        return ltz_needs(1, self.widest(n)) + Needs(outputs=1)

    def body(self, party: Party, values: Sequence[int]) -> Body:
        q, t, k = self._terms(party.n)
        total = sum(values) % P
        below = yield from ltz(party, [(q * total - t) % P], k)
        return [(1 - below[0]) % P]

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        return {"yes": opened[0]}


@dataclass(frozen=True)
class Dominance:
    """The sum, unless its `top` largest contributions exceed `share` of it (the (n, k)
    dominance rule of statistical disclosure control; top = 1 is the p% rule's one
    contributor). Opens the suppression bit d and (1 - d) * sum: nothing but d when
    suppressed. Values are non-negative."""

    value_bits: int
    share: Fraction
    top: int = 1

    def _k(self, n: int) -> int:
        largest = (1 << self.value_bits) - 1
        span = (self.share.numerator * n + self.share.denominator * self.top) * largest
        return span.bit_length() + 1

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        return max(self.value_bits + 1, self._k(n))

    def needs(self, n: int) -> Needs:
        if self.top == 1:
            ranking = ltz_needs(n - 1, self.value_bits + 1)
        else:
            comparators = sum(len(layer) for layer in sorting_layers(n))
            ranking = ltz_needs(comparators, self.value_bits + 1)
        return ranking + ltz_needs(1, self._k(n)) + Needs(outputs=2)

    def body(self, party: Party, values: Sequence[int]) -> Body:
        total = sum(values) % P
        if self.top == 1:
            leaders = yield from tournament(party, list(values), self.value_bits + 1, True)
        else:
            ordered = yield from sort_values(party, list(values), self.value_bits + 1)
            leaders = sum(ordered[-self.top :]) % P
        a = (self.share.numerator * total - self.share.denominator * leaders) % P
        dominated = yield from ltz(party, [a], self._k(party.n))
        d = dominated[0]
        kept = yield from party.mul([(1 - d) % P], [total])
        return [d, kept[0]]

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        return {"suppressed": opened[0], "sum": signed(opened[1])}


@dataclass(frozen=True)
class NoisyArgmax:
    """Report-noisy-max (Dwork and Roth 2014, section 3.3): the bin with the largest noisy
    count, computed inside MPC, opening only its index, never a count.

    Every party's input is its per-bin vector with its share of distributed noise already
    added, so the summed counts are the noisy histogram; selecting its argmax is
    post-processing of it. Ties: the first bin. `largest_abs` bounds |noisy count|.
    """

    bins: int
    largest_abs: int

    def _k(self) -> int:
        return ((self.largest_abs << index_bits(self.bins)) + self.bins).bit_length() + 2

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        return self._k()

    def needs(self, n: int) -> Needs:
        return ltz_needs(self.bins - 1, self._k()) + Needs(outputs=1)

    def body(self, party: Party, values: Sequence[int]) -> Body:
        count, w = self.bins, index_bits(self.bins)
        totals = [sum(values[d * count + b] for d in range(party.n)) % P for b in range(count)]
        keys = [((c << w) + (count - 1 - b)) % P for b, c in enumerate(totals)]
        _, index = yield from carrying_tournament(
            party, keys, list(range(count)), self._k(), largest=True
        )
        return [index]

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        return {"index": opened[0]}


Program = Extreme | Ranked | Threshold | Dominance | NoisyArgmax | CohortCells


def run(program: Program, party: Party, own: Sequence[int]) -> Steps:
    """This party's whole computation: preprocessing, the program, its output shares.

    `own` is this party's input: one value, one per bin for `NoisyArgmax`, or its weighted
    cohort blocks for `CohortCells`.
    """
    shared = yield from party.preprocess([v % P for v in own], program.needs(party.n))
    out = yield from program.body(party, shared)
    return party.output(out)


def tournament(
    party: Party, keys: list[int], k: int, largest: bool
) -> Generator[Exchange, Inbox, int]:
    """The largest (or smallest) of shared k-bit keys: ceil(log2 n) rounds of comparisons,
    the winners of one round paired in the next (an odd one out goes up unopposed)."""
    best, _ = yield from carrying_tournament(party, keys, [], k, largest)
    return best


def carrying_tournament(
    party: Party, keys: list[int], carried: list[int], k: int, largest: bool
) -> Generator[Exchange, Inbox, tuple[int, int]]:
    """`tournament`, moving a second shared column (e.g. an index) along with each key, so
    that the winner's column can be opened without its key."""
    columns = [keys, carried] if carried else [keys]
    while len(columns[0]) > 1:
        keys = columns[0]
        pairs = [(i, i + 1) for i in range(0, len(keys) - 1, 2)]
        diffs = [((keys[i] - keys[j]) if largest else (keys[j] - keys[i])) % P for i, j in pairs]
        pick = yield from ltz(party, diffs, k)  # 1: the right one wins
        lefts = [c for c in pick for _ in columns]
        rights = [(col[j] - col[i]) % P for i, j in pairs for col in columns]
        moved = yield from party.mul(lefts, rights)
        width = len(columns)
        nxt: list[list[int]] = []
        for c, col in enumerate(columns):
            won = [(col[i] + moved[m * width + c]) % P for m, (i, _) in enumerate(pairs)]
            nxt.append(won + ([col[-1]] if len(col) % 2 else []))
        columns = nxt
    return columns[0][0], (columns[1][0] if carried else 0)


def sort_values(party: Party, values: list[int], k: int) -> Body:
    """Shared values sorted ascending by the sorting network (ties need no rule here)."""
    for layer in sorting_layers(party.n):
        swap = yield from ltz(party, [(values[j] - values[i]) % P for i, j in layer], k)
        moved = yield from party.mul(swap, [(values[j] - values[i]) % P for i, j in layer])
        for d, (i, j) in zip(moved, layer, strict=True):
            low = (values[i] + d) % P
            values[i], values[j] = low, (values[i] + values[j] - low) % P
    return values
