"""How a cohorts result is shown: one row per cohort, then the ratio of means per group."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mpcnode.client.analyst import Result
from mpcnode.core.cohort_table import ratio_labels
from mpcnode.core.result_privacy import UNCLAMPED

COLUMNS = ("count", "sum", "mean", "std")


def cohort_rows(result: Result, unclamped: bool = False) -> list[dict[str, Any]]:
    """Each cohort as a row: label, count, sum, mean, std (None where suppressed)."""
    outputs = result.outputs
    rows = []
    for i, label in enumerate(result.spec.bins):
        row: dict[str, Any] = {"cohort": label}
        withheld = bool(outputs["suppressed"][i])
        for column in COLUMNS:
            values = outputs.get(column + UNCLAMPED) if unclamped else None
            value = (values if values is not None else outputs[column])[i]
            row[column] = None if withheld or _missing(value) else _plain(value)
        row["suppressed"] = withheld
        rows.append(row)
    return rows


def ratio_rows(result: Result) -> list[dict[str, Any]]:
    """Each combination of the other groups with its ratio of means and gap (None: unknown)."""
    if "ratio" not in result.outputs:
        return []
    ratio, gap = result.outputs["ratio"], result.outputs["gap"]
    return [
        {
            "group": label,
            "ratio": None if _missing(r) else float(r),
            "gap": None if _missing(g) else float(g),
        }
        for label, r, g in zip(ratio_labels(result.spec), ratio, gap, strict=True)
    ]


def cohort_lines(result: Result, unclamped: bool) -> list[str]:
    """The cohorts table and the ratios, as lines for people."""
    rows = cohort_rows(result, unclamped)
    width = max([len("cohort"), *(len(r["cohort"]) for r in rows)])
    lines = [f"  {'cohort':<{width}}  " + "  ".join(f"{c:>14}" for c in COLUMNS)]
    for row in rows:
        if row["suppressed"]:
            cells = f"{'suppressed':>62}"
        else:
            cells = "  ".join(f"{_cell(row[c]):>14}" for c in COLUMNS)
        lines.append(f"  {row['cohort']:<{width}}  {cells}")
    ratios = ratio_rows(result)
    if ratios:
        lines.append(f"  ratio of means {result.spec.cohorts.ratio} (gap = 1 - ratio):")
        span = max(len(r["group"]) for r in ratios)
        for r in ratios:
            shown = "n/a" if r["ratio"] is None else f"{r['ratio']:.4f}"
            gap = "n/a" if r["gap"] is None else f"{100 * r['gap']:.1f}%"
            lines.append(f"    {r['group']:<{span}}  ratio {shown:>8}  gap {gap:>7}")
    return lines


def cohort_csv(result: Result, unclamped: bool) -> str:
    """The cohorts table as CSV (suppressed cells empty); ratios are in the table and JSON."""
    lines = ["cohort," + ",".join(COLUMNS) + ",suppressed"]
    for row in cohort_rows(result, unclamped):
        cells = ["" if row[c] is None else str(row[c]) for c in COLUMNS]
        lines.append(",".join([_quoted(row["cohort"]), *cells, str(int(row["suppressed"]))]))
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _missing(value: Any) -> bool:
    return isinstance(value, float | np.floating) and math.isnan(float(value))


def _plain(value: Any) -> int | float:
    if isinstance(value, np.integer | int):
        return int(value)
    return float(value)


def _cell(value: int | float | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.10g}"
