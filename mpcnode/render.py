"""How results and inputs are shown to people (tables) and to scripts (JSON)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnode.client.analyst import Result

_SHOWN = 10  # elements of a long vector printed in a table


def _number(value: Any) -> str:
    if isinstance(value, (np.floating, float)):
        return f"{float(value):.10g}"
    return str(int(value))


def result_table(result: Result) -> str:
    """A result as a small table: one row per output (per bin for a histogram)."""
    spec = result.spec
    lines = [
        f"computation {result.computation_id}: {spec.kind.value} of {spec.dataset!r} ({spec.name})",
        f"participants: {', '.join(result.participants)}  (round {result.round_id[:8]}, "
        f"privacy: {result.mechanism}, exact aggregate)",
    ]
    for name, values in result.outputs.items():
        if spec.bins and len(values) == len(spec.bins):
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
        "privacy": {"mechanism": result.mechanism},
        "published_unix_ms": result.published_unix_ms,
        "outputs": {name: values.tolist() for name, values in result.outputs.items()},
    }
