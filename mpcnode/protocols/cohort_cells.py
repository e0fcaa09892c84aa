"""Cohort tables with small cells and dominant contributors suppressed inside MPC (pure).

The program of a cohorts computation with `min_cell` or `suppress_dominant` (issue 13): the
nodes sum their cohort blocks, decide per cohort whether it is withheld, and open only that
bit and, for a kept cohort, its totals.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.core.field import P, signed
from mpcnode.protocols.compare import ltz, ltz_needs
from mpcnode.protocols.engine import Exchange, Inbox, Needs, Party
from mpcnode.protocols.networks import sorting_layers

Body = Generator[Exchange, Inbox, list[int]]


def sort_batches(
    party: Party, batches: list[list[int]], k: int
) -> Generator[Exchange, Inbox, list[list[int]]]:
    """Each list of n shared values sorted ascending, all of them in the same rounds: one
    batch of comparisons per layer of the network, whatever the number of lists."""
    for layer in sorting_layers(party.n):
        pairs = [(b, i, j) for b in range(len(batches)) for i, j in layer]
        diffs = [(batches[b][j] - batches[b][i]) % P for b, i, j in pairs]
        swap = yield from ltz(party, diffs, k)
        moved = yield from party.mul(swap, diffs)
        for d, (b, i, j) in zip(moved, pairs, strict=True):
            values = batches[b]
            low = (values[i] + d) % P
            values[i], values[j] = low, (values[i] + values[j] - low) % P
    return batches


@dataclass(frozen=True)
class CohortCells:
    """Per-cohort totals with small-cell and dominance suppression decided inside MPC.

    Every party's input is its weighted counts || sums || squares (`mpcnode.core.cohorts`),
    with its noise share when the spec is noisy. A cohort is suppressed when

    - its count is below `at_least` (weighted units; 0: no such rule), the count leaving out
      the `exclude_top` parties that hold most of its records. With exclude_top = t + 1, a
      coalition of t participants that pads the cell with rows of its own (to lift it over
      the threshold and subtract them afterwards) still finds `at_least` records from honest
      parties other than the cell's largest honest holder: no one party's cell is isolated;
    - or the `top` largest parties' sums in it exceed `share` of its sum without the next
      `exclude_top - 1` largest (the (n, k) dominance rule per cohort, against a total that
      t colluders cannot dilute by copying a leader's sum; share 0: no such rule; exact only).

    It opens, per cohort, s = [suppressed] and (1 - s) times each of its three totals: a
    suppressed cohort opens only s, never which rule suppressed it; a kept one its totals.
    """

    cohorts: int
    at_least: int
    largest_abs: int  # bounds |a total count| (noise included) of the comparison
    share: Fraction = Fraction(0)
    top: int = 1
    sum_bits: int = 1  # bits of one party's largest cohort sum (dominance compares them)
    exclude_top: int = 0
    count_bits: int = 1  # bits of one party's largest cohort count (weighted)

    def _k(self) -> int:
        return (self.largest_abs + self.at_least).bit_length() + 2

    def _k_dominance(self, n: int) -> int:
        largest = (1 << self.sum_bits) - 1
        return (
            (self.share.numerator * n + self.share.denominator * self.top) * largest
        ).bit_length() + 1

    def _sorted_lists(self) -> tuple[bool, bool]:
        return bool(self.at_least and self.exclude_top), bool(self.share)

    def _k_sort(self) -> int:
        counts, sums = self._sorted_lists()
        return max(self.count_bits if counts else 0, self.sum_bits if sums else 0) + 1

    def widest(self, n: int) -> int:
        """The bit length of its widest comparison."""
        widths = [self._k()]
        if any(self._sorted_lists()):
            widths.append(self._k_sort())
        if self.share:
            widths.append(self._k_dominance(n))
        return max(widths)

    def needs(self, n: int) -> Needs:
        size = self.cohorts
        needs = Needs(outputs=4 * size)
        if self.at_least:
            needs += ltz_needs(size, self._k())
        lists = sum(self._sorted_lists()) * size
        if lists:
            comparators = sum(len(layer) for layer in sorting_layers(n))
            needs += ltz_needs(lists * comparators, self._k_sort())
        if self.share:
            needs += ltz_needs(size, self._k_dominance(n))
        return needs

    def body(self, party: Party, values: Sequence[int]) -> Body:
        size, length, n = self.cohorts, 3 * self.cohorts, party.n
        totals = [sum(values[d * length + e] for d in range(n)) % P for e in range(length)]
        by_counts, by_sums = self._sorted_lists()
        lists = (
            [[values[d * length + c] for d in range(n)] for c in range(size)] if by_counts else []
        )
        if by_sums:
            lists += [[values[d * length + size + c] for d in range(n)] for c in range(size)]
        ordered = (yield from sort_batches(party, lists, self._k_sort())) if lists else []
        flags: list[int] = [0] * size
        if self.at_least:
            counts = totals[:size]
            if by_counts:  # leave out the parties holding the most records of each cohort
                counts = [
                    (totals[c] - sum(ordered[c][n - self.exclude_top :])) % P for c in range(size)
                ]
            flags = yield from ltz(party, [(x - self.at_least) % P for x in counts], self._k())
        if by_sums:
            columns = ordered[-size:]
            leaders = [sum(column[-self.top :]) % P for column in columns]
            # The t holders just below the leaders may be colluders padding the total.
            skip = max(0, self.exclude_top - 1)
            padding = [sum(column[-(self.top + skip) : -self.top]) % P for column in columns]
            num, den = self.share.numerator, self.share.denominator
            margins = [
                (num * (totals[size + c] - padding[c]) - den * leaders[c]) % P for c in range(size)
            ]
            dominated = yield from ltz(party, margins, self._k_dominance(n))
            if self.at_least:  # s OR d = s + d - s d
                both = yield from party.mul(flags, dominated)
                flags = [(f + d - b) % P for f, d, b in zip(flags, dominated, both, strict=True)]
            else:
                flags = dominated
        keep = [(1 - f) % P for f in flags]
        kept = yield from party.mul(keep * 3, totals)  # keep[c] against each block's cohort c
        return [*flags, *kept]

    def decode(self, opened: Sequence[int], n: int) -> dict[str, int]:
        size = self.cohorts
        result = {f"suppressed:{c}": opened[c] for c in range(size)}
        result.update({f"total:{e}": signed(v) for e, v in enumerate(opened[size:])})
        return result
