"""From the summed cohort blocks to the published per-cohort table (pure post-processing).

The sum of every party's counts, sums and sums of squares (`mpcnode.core.cohorts`) gives
each cohort's count, sum, mean and standard deviation, and, when the spec asks, a ratio of
means within one group (the wage gap: mean of gender=f over mean of gender=m, per level).
With noise, everything here is post-processing of the noisy blocks, which costs no privacy;
values are clamped towards what the bounds allow (a count is never negative, a mean lies
in [lower, upper]), with the raw noisy counts and sums published beside them as
`count_unclamped` and `sum_unclamped`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.core.cohorts import STATS, layout_from_labels, parse_ratio, ratio_pairs, unweighted
from mpcnode.core.result_privacy import UNCLAMPED
from mpcnode.core.spec import ComputationSpec

Table = list[tuple[str, npt.NDArray[Any]]]


def cohort_outputs(
    spec: ComputationSpec,
    total: npt.NDArray[np.int64],
    n: int,
    suppressed: npt.NDArray[np.int64] | None = None,
) -> Table:
    """The published outputs of a cohorts spec from the signed sum of the weighted blocks.

    `suppressed` marks cohorts that small-cell suppression withheld (their blocks are 0):
    their count, sum, mean and std are NaN. Exact counts and integer sums stay integers
    unless suppression or noise is on (then every output is a float, NaN where withheld).
    """
    size = len(spec.bins)
    noisy = spec.privacy.enabled
    withheld = np.zeros(size, dtype=bool) if suppressed is None else suppressed.astype(bool)
    as_float = noisy or suppressed is not None or not spec.is_integer
    counts, sums, squares = unweighted(
        total.astype(np.float64), spec.lower, spec.upper, spec.fractional_bits, noisy
    )
    raw_counts, raw_sums = counts.copy(), sums.copy()
    if noisy:
        most = float(n * spec.cohorts.max_records)
        np.clip(counts, 0.0, most, out=counts)
        np.clip(sums, counts * min(spec.lower, 0.0), counts * max(spec.upper, 0.0), out=sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts >= 1, sums / np.maximum(counts, 1), np.nan)
        variance = np.where(counts >= 1, squares / np.maximum(counts, 1) - mean * mean, np.nan)
    if noisy:
        mean = np.clip(mean, spec.lower, spec.upper)
    std = np.sqrt(np.clip(variance, 0.0, ((spec.upper - spec.lower) / 2) ** 2))
    table: Table = []
    if as_float:
        for name, values in (("count", counts), ("sum", sums)):
            table.append((name, np.where(withheld, np.nan, values)))
    else:  # exact integers: the blocks themselves, not a float's rounding of them
        table.append(("count", total[:size].copy()))
        table.append(("sum", total[size : 2 * size].copy()))
    table.append(("mean", np.where(withheld, np.nan, mean)))
    table.append(("std", np.where(withheld, np.nan, std)))
    table.append(("suppressed", withheld.astype(np.int64)))
    table += _ratio(spec, np.where(withheld, np.nan, mean))
    if noisy:
        table.append(("count" + UNCLAMPED, np.where(withheld, np.nan, raw_counts)))
        table.append(("sum" + UNCLAMPED, np.where(withheld, np.nan, raw_sums)))
    return table


def _ratio(spec: ComputationSpec, mean: npt.NDArray[np.float64]) -> Table:
    layout = layout_from_labels(spec.bins)
    ratio = parse_ratio(spec.cohorts.ratio, layout)
    if ratio is None:
        return []
    pairs = ratio_pairs(layout, ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.array([mean[i] / mean[j] for _, i, j in pairs], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return [("ratio", values), ("gap", 1.0 - values)]


def ratio_labels(spec: ComputationSpec) -> list[str]:
    """The row labels of a cohorts result's "ratio" and "gap" outputs ([] without a ratio)."""
    layout = layout_from_labels(spec.bins)
    ratio = parse_ratio(spec.cohorts.ratio, layout)
    return [] if ratio is None else [label for label, _, _ in ratio_pairs(layout, ratio)]


__all__ = ["STATS", "Table", "cohort_outputs", "ratio_labels"]
