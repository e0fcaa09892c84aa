"""Cohorts: records grouped by declared categories, and what one record can move (pure).

A records dataset (issue 13) is declared by its owner with group-by columns and their
categories, for example gender in {f, m, x} and level in {1..5}. The cohorts are every
combination of one category per group, in row-major order (the last group varies fastest),
and each is named by a label such as ``gender=f,level=1``. Every party contributes the same
vector for it, whatever its records, because the layout comes from the declaration alone:

    counts[C] || sums[C] || sums of squares[C]        (C cohorts, 3C elements)

Sums are of each record's value clipped to the declared [lower, upper] and encoded on its
own (round(v * 2^f)), so one record moves its cohort's count by 1, its sum by at most
M = ceil(max(|lower|, |upper|) * 2^f) and its sum of squares by at most M^2. That is
what makes record-level differential privacy sound without the owner vouching for a bound:
the node enforces it record by record.

With noise, the blocks are weighted (counts by M^2, sums by M) so that one record moves
each block by at most M^2 and one noise law serves all three. Dividing the weights out
afterwards leaves each block the noise of an equal share of the budget: the same as
splitting epsilon (or rho) in three and calibrating each block to its own sensitivity
(sequential composition, Dwork and Roth 2014, Thm 3.16; for zCDP, Bun and Steinke 2016,
Lemma 2.3), with one sampler and one overflow check.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from mpcnode.errors import InvalidInput, shown

STATS = ("count", "sum", "sumsq")
"""The blocks of a cohort contribution, in order."""
MAX_COHORTS = 10_000
_GROUP_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_CATEGORY_RE = re.compile(r"[A-Za-z0-9_.:+-][A-Za-z0-9_.:+ -]{0,63}")


@dataclass(frozen=True)
class Group:
    """One group-by column and its declared categories, as strings (level 1 is "1")."""

    column: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class CohortLayout:
    """The groups of a records dataset; its cohorts are their cartesian product."""

    groups: tuple[Group, ...]

    def check(self) -> None:
        """InvalidInput naming the first group or category that is wrong."""
        if not 1 <= len(self.groups) <= 4:
            raise InvalidInput("a records dataset groups by 1 to 4 columns (groups)")
        if len({g.column for g in self.groups}) != len(self.groups):
            raise InvalidInput("groups: a column appears twice")
        for group in self.groups:
            if not _GROUP_RE.fullmatch(group.column):
                raise InvalidInput(
                    f"groups: column {shown(group.column)} must be 1-64 characters of a-z, "
                    "0-9 and '_', starting with a letter or '_'"
                )
            cats = group.categories
            if not cats or len(set(cats)) != len(cats):
                raise InvalidInput(f"groups.{group.column}: list distinct categories")
            bad = [c for c in cats if not _CATEGORY_RE.fullmatch(c)]
            if bad:
                raise InvalidInput(
                    f"groups.{group.column}: category {shown(bad[0])} must be 1-64 letters, "
                    "digits, spaces or '_.:+-' (no ',' or '=', which labels use)"
                )
        if self.size > MAX_COHORTS:
            raise InvalidInput(f"groups make {self.size} cohorts; at most {MAX_COHORTS}")

    @property
    def size(self) -> int:
        """C: the number of cohorts."""
        return math.prod(len(g.categories) for g in self.groups)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every cohort's label, row-major (the last group varies fastest)."""
        labels = [""]
        for group in self.groups:
            labels = [
                f"{prefix}{',' if prefix else ''}{group.column}={category}"
                for prefix in labels
                for category in group.categories
            ]
        return tuple(labels)

    def describe(self) -> str:
        """One line for people: each group and its categories."""
        return " x ".join(f"{g.column} in {{{','.join(g.categories)}}}" for g in self.groups)


def layout_from_labels(labels: tuple[str, ...]) -> CohortLayout:
    """The layout whose labels are exactly `labels` (a spec's bins), or InvalidInput."""
    if not labels:
        raise InvalidInput("a cohorts spec needs its cohort labels in spec.bins")
    groups: list[Group] = []
    for part in labels[-1].split(","):
        column, _, _ = part.partition("=")
        groups.append(Group(column, ()))
    for i, group in enumerate(groups):
        seen: list[str] = []
        for label in labels:
            parts = label.split(",")
            if len(parts) != len(groups) or not parts[i].startswith(group.column + "="):
                raise InvalidInput(
                    f"spec.bins: {shown(label)} is not a cohort label of the form "
                    f"{','.join(g.column + '=<category>' for g in groups)}"
                )
            category = parts[i][len(group.column) + 1 :]
            if category not in seen:
                seen.append(category)
        groups[i] = Group(group.column, tuple(seen))
    layout = CohortLayout(tuple(groups))
    layout.check()
    if layout.labels != labels:
        raise InvalidInput(
            "spec.bins must list every cohort once, row-major (the last group fastest), as "
            "the declaration's layout gives them"
        )
    return layout


def record_step(lower: float, upper: float, fractional_bits: int) -> int:
    """M: the most one clipped, encoded record value can be in absolute value (at least 1)."""
    largest = max(abs(Fraction(lower)), abs(Fraction(upper)))
    return max(1, math.ceil(largest * (1 << fractional_bits)))


def block_weights(step: int, noisy: bool) -> tuple[int, int, int]:
    """What counts, sums and sums of squares are multiplied by before sharing (see above)."""
    return (step * step, step, 1) if noisy else (1, 1, 1)


def weighted(
    values: npt.NDArray[np.int64], lower: float, upper: float, fractional_bits: int, noisy: bool
) -> npt.NDArray[np.int64]:
    """counts || sums || squares multiplied by `block_weights` (a copy when weighted)."""
    if not noisy:
        return values
    size = len(values) // len(STATS)
    factors = np.repeat(
        np.array(block_weights(record_step(lower, upper, fractional_bits), True), dtype=np.int64),
        size,
    )
    return values * factors


def unweighted(
    total: npt.NDArray[np.float64], lower: float, upper: float, fractional_bits: int, noisy: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The summed (and noisy) blocks as counts, sums and sums of squares in value units."""
    size = len(total) // len(STATS)
    step = record_step(lower, upper, fractional_bits)
    w_count, w_sum, w_square = block_weights(step, noisy)
    scale = float(1 << fractional_bits)
    counts = total[:size] / w_count
    sums = total[size : 2 * size] / (w_sum * scale)
    squares = total[2 * size :] / (w_square * scale * scale)
    return counts, sums, squares


def element_bound(max_records: int, step: int) -> int:
    """The largest |element| of one party's weighted contribution (any weights)."""
    return max_records * step * step


@dataclass(frozen=True)
class CohortOptions:
    """A cohorts spec's options: the records bound it was declared with, small-cell
    suppression (a cohort with fewer than `min_cell` records in all is published as
    suppressed, decided inside MPC), and an optional ratio of means."""

    max_records: int = 0
    min_cell: int = 0
    ratio: str = ""

    def canonical(self) -> dict[str, object]:
        """Every field, for the transcript hash."""
        return {"max_records": self.max_records, "min_cell": self.min_cell, "ratio": self.ratio}


def cohort_options_from_canonical(doc: dict[str, object] | None) -> CohortOptions:
    """Rebuild options from `CohortOptions.canonical` (None: the defaults)."""
    if doc is None:
        return CohortOptions()
    return CohortOptions(int(str(doc["max_records"])), int(str(doc["min_cell"])), str(doc["ratio"]))


MAX_RECORDS = 1 << 40
"""Records one party may declare: far above any payroll, and small enough that the checks
on the ring below have room."""


def check_cohort_spec(
    labels: tuple[str, ...],
    length: int,
    options: CohortOptions,
    bounds: tuple[float, float, int],
    privacy: tuple[bool, str, str],
    max_parties: int,
) -> None:
    """InvalidInput naming the first cohorts field that is wrong or would not fit the ring.

    `bounds` is (lower, upper, fractional_bits); `privacy` (enabled, mechanism, placement).
    """
    layout = layout_from_labels(labels)
    if length != len(STATS) * layout.size:
        raise InvalidInput(
            f"spec.length is {length}; a cohorts contribution is count, sum and sum of squares "
            f"of each of its {layout.size} cohorts: {len(STATS) * layout.size}"
        )
    if not 1 <= options.max_records <= MAX_RECORDS:
        raise InvalidInput(
            "spec.cohorts.max_records must be the declared most records per party (1 to 2^40)"
        )
    if not 0 <= options.min_cell <= options.max_records * max_parties:
        raise InvalidInput("spec.cohorts.min_cell must be 0 (off) to the most records in all")
    parse_ratio(options.ratio, layout)
    enabled, mechanism, placement = privacy
    if (
        options.min_cell
        and enabled
        and (placement != "distributed" or mechanism not in ("discrete_laplace", "skellam"))
    ):
        raise InvalidInput(
            "small-cell suppression with noise takes distributed discrete_laplace or skellam: "
            "the nodes add the noise inside the computation, before the cells are compared"
        )
    if options.min_cell and max_parties < 3:
        raise InvalidInput(
            "small-cell suppression compares counts inside MPC with an honest majority: it "
            f"needs at least 3 parties, not {max_parties}"
        )
    step = record_step(*bounds)
    total = max_parties * element_bound(options.max_records, step)
    if total >= 1 << 63:
        raise InvalidInput(
            f"overflow: {max_parties} parties x {options.max_records} records x (the largest "
            f"|value| x 2^fractional_bits)^2 = about 2^{math.log2(total):.1f} (the sums of "
            "squares) does not fit the signed 64-bit ring; narrow the bounds, use fewer "
            "fractional bits, or declare fewer max_records"
        )


@dataclass(frozen=True)
class Ratio:
    """A derived statistic: mean of `numerator` over mean of `denominator` within `column`,
    for every combination of the other groups (the wage gap: gender=f/m per level)."""

    column: str
    numerator: str
    denominator: str

    def text(self) -> str:
        """As written in a spec: ``gender=f/m``."""
        return f"{self.column}={self.numerator}/{self.denominator}"


def parse_ratio(text: str, layout: CohortLayout) -> Ratio | None:
    """The ratio `text` asks for ("" for none), checked against the layout."""
    if not text:
        return None
    match = re.fullmatch(r"([a-z_][a-z0-9_]*)=([^/=,]+)/([^/=,]+)", text)
    if not match:
        raise InvalidInput(
            f"spec.cohorts.ratio {shown(text)} must read <column>=<category>/<category>, "
            "e.g. gender=f/m"
        )
    ratio = Ratio(match[1], match[2], match[3])
    group = next((g for g in layout.groups if g.column == ratio.column), None)
    if group is None:
        raise InvalidInput(f"spec.cohorts.ratio: {ratio.column} is not a group of the cohorts")
    for category in (ratio.numerator, ratio.denominator):
        if category not in group.categories:
            raise InvalidInput(
                f"spec.cohorts.ratio: {shown(category)} is not a category of {ratio.column}"
            )
    if ratio.numerator == ratio.denominator:
        raise InvalidInput("spec.cohorts.ratio compares two different categories")
    return ratio


def ratio_pairs(layout: CohortLayout, ratio: Ratio) -> list[tuple[str, int, int]]:
    """For each combination of the other groups: its label and the cohort indices of the
    numerator and the denominator."""
    labels = layout.labels
    position = [g.column for g in layout.groups].index(ratio.column)
    pairs = []
    for i, label in enumerate(labels):
        parts = label.split(",")
        if parts[position] != f"{ratio.column}={ratio.numerator}":
            continue
        parts[position] = f"{ratio.column}={ratio.denominator}"
        rest = [p for k, p in enumerate(label.split(",")) if k != position]
        pairs.append((",".join(rest) or "all", i, labels.index(",".join(parts))))
    return pairs


__all__ = [
    "MAX_COHORTS",
    "MAX_RECORDS",
    "STATS",
    "CohortLayout",
    "CohortOptions",
    "Group",
    "Ratio",
    "block_weights",
    "check_cohort_spec",
    "cohort_options_from_canonical",
    "element_bound",
    "layout_from_labels",
    "parse_ratio",
    "ratio_pairs",
    "record_step",
    "unweighted",
    "weighted",
]
