"""How results and inputs are shown to people (tables) and to scripts (JSON)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np

from mpcnode.client.analyst import Result
from mpcnode.commands.cohort_render import cohort_csv, cohort_lines, cohort_rows, ratio_rows
from mpcnode.core.accounting import decimal_down, decimal_up
from mpcnode.core.result_privacy import UNCLAMPED, ResultPrivacy
from mpcnode.core.spec import Kind
from mpcnode.protocols.plan import PARTY_OUTPUTS
from mpcnode.wire.budgets import BudgetView

_SHOWN = 10  # elements of a long vector printed in a table


def _number(value: Any) -> str:
    if isinstance(value, (np.floating, float)):
        return f"{float(value):.10g}"
    return str(int(value))


def result_table(result: Result, unclamped: bool = False) -> str:
    """A result as a small table: one row per output (per bin for a histogram).

    A noisy result's outputs are shown clamped to the domain, or with `unclamped` the raw
    noisy values (`<name>_unclamped`) in their place.
    """
    spec = result.spec
    lines = [
        f"computation {result.computation_id}: {spec.kind.value} of {spec.dataset!r} ({spec.name})",
        f"participants: {', '.join(result.participants)}  (round {result.round_id[:8]})",
        *(f"dropped: {party} ({reason})" for party, reason in result.dropped),
        result.privacy.summary(),
        *([f"threat model: {result.threat_model}"] if result.threat_model else []),
        *([f"reveals: {result.revealed}"] if result.revealed else []),
    ]
    if spec.kind is Kind.COHORTS:
        noisy = any(n.endswith(UNCLAMPED) for n in result.outputs)
        if noisy and not unclamped:
            lines.append("clamped to the bounds (post-processing); --unclamped shows raw values")
        return "\n".join(lines + cohort_lines(result, unclamped))
    if spec.multi_step:
        return "\n".join(lines + [f"  {k:<10} {v}" for k, v in published_view(result).items()])
    outputs = _shown_outputs(result.outputs, unclamped)
    if len(outputs) < len(result.outputs) and not unclamped:
        lines.append("clamped to the domain (post-processing); --unclamped shows the raw values")
    for name, values in outputs.items():
        if name == "winner" and spec.bins:
            lines.append(f"  {name:<6} {spec.bins[int(values[0])]}")
        elif spec.bins and len(values) == len(spec.bins):
            width = max(len(b) for b in spec.bins)
            lines += [
                f"  {name} {b:<{width}}  {_number(v)}"
                for b, v in zip(spec.bins, values, strict=True)
            ]
        elif len(values) == 1:
            lines.append(f"  {name:<6} {_number(values[0])}")
        else:
            head = ", ".join(_number(v) for v in values[:_SHOWN])
            more = f", ... ({len(values)} elements)" if len(values) > _SHOWN else ""
            lines.append(f"  {name:<6} [{head}{more}]")
    return "\n".join(lines)


def _shown_outputs(outputs: dict[str, Any], unclamped: bool) -> dict[str, Any]:
    raw = {n.removesuffix(UNCLAMPED): v for n, v in outputs.items() if n.endswith(UNCLAMPED)}
    shown = {n: v for n, v in outputs.items() if not n.endswith(UNCLAMPED)}
    return {n: raw.get(n, v) for n, v in shown.items()} if unclamped else shown


def result_json(result: Result) -> dict[str, Any]:
    """A result as plain JSON-ready data (full vectors)."""
    spec = result.spec
    return {
        "computation_id": result.computation_id,
        "name": spec.name,
        "kind": spec.kind.value,
        "dataset": spec.dataset,
        "bins": list(spec.bins),
        "round_id": result.round_id,
        "participants": list(result.participants),
        "dropped": [{"party": p, "reason": r} for p, r in result.dropped],
        "privacy": privacy_json(result.privacy),
        "published_unix_ms": result.published_unix_ms,
        "outputs": {name: values.tolist() for name, values in result.outputs.items()},
        "threat_model": result.threat_model,
        "revealed": result.revealed,
        **({"published": published_view(result)} if _comparison(result) else {}),
        **(
            {"cohorts": cohort_rows(result), "ratios": ratio_rows(result)}
            if spec.kind is Kind.COHORTS
            else {}
        ),
    }


def _comparison(result: Result) -> bool:
    return result.spec.multi_step and result.spec.kind is not Kind.COHORTS


def result_csv(result: Result, unclamped: bool = False) -> str:
    """A result as CSV: a cohorts result one row per cohort; others one row per element
    (output, label, value), the label a bin's name or the element's index."""
    if result.spec.kind is Kind.COHORTS:
        return cohort_csv(result, unclamped)
    lines = ["output,label,value"]
    for name, values in _shown_outputs(result.outputs, unclamped).items():
        labels = result.spec.bins if len(values) == len(result.spec.bins) else ()
        for i, value in enumerate(values):
            label = labels[i] if labels else str(i)
            lines.append(f'{name},"{label}",{_number(value)}')
    return "\n".join(lines)


def published_view(result: Result) -> dict[str, Any]:
    """A comparison's outputs as a person reads them: party ids, YES/NO, suppression."""
    view: dict[str, Any] = {}
    for name, values in result.outputs.items():
        if name == "winner" and result.spec.bins:
            view[name] = result.spec.bins[int(values[0])]
        elif name in PARTY_OUTPUTS:
            view[name] = result.party(name)
        elif name == "yes":
            view["answer"] = "YES" if int(values[0]) else "NO"
        elif name == "suppressed":
            if int(values[0]):
                view["sum"] = "suppressed (dominance)"
        else:
            view[name] = values[0].item()
    return view


def privacy_json(report: ResultPrivacy) -> dict[str, Any]:
    """A result's privacy statement as JSON-ready data (enums by name)."""
    doc = dataclasses.asdict(report)
    for key, value in doc.items():
        if isinstance(value, enum.Enum):
            doc[key] = value.value
    return doc


def budget_line(row: BudgetView) -> str:
    """One (dataset, unit) budget for people: spent rounded up, remaining rounded down."""
    left = row.remaining
    return (
        f"{row.dataset:<16} per {row.unit:<12} epsilon spent {decimal_up(row.spent.epsilon):g} "
        f"of {float(row.cap.epsilon):g} (remaining {decimal_down(left.epsilon):g}), rho spent "
        f"{decimal_up(row.spent.rho):g} of {float(row.cap.rho):g} (remaining "
        f"{decimal_down(left.rho):g}); {row.releases} release{'' if row.releases == 1 else 's'}; "
        "all together "
        f"epsilon {row.epsilon_at_delta:.4g} at delta {row.delta:g}"
    )


def budget_json(row: BudgetView) -> dict[str, Any]:
    """One budget as JSON-ready data: exact fractions as strings, plus decimals."""
    left = row.remaining
    return {
        "dataset": row.dataset,
        "unit": row.unit,
        "epsilon": {
            "cap": str(row.cap.epsilon),
            "spent": str(row.spent.epsilon),
            "held": str(row.held.epsilon),
            "remaining": str(left.epsilon),
        },
        "rho": {
            "cap": str(row.cap.rho),
            "spent": str(row.spent.rho),
            "held": str(row.held.rho),
            "remaining": str(left.rho),
        },
        "releases": row.releases,
        "delta": row.delta,
        "epsilon_at_delta": row.epsilon_at_delta,
    }
