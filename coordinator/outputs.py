"""From the sum of partials to the published outputs of each kind of computation (pure)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coordinator.store import Output
from mpcnode.core.encoding import decode
from mpcnode.core.spec import ComputationSpec, Kind


def outputs_for(
    spec: ComputationSpec, total: npt.NDArray[np.uint64], n_participants: int
) -> tuple[Output, ...]:
    """Decode the ring sum and apply the spec's output step.

    sum -> "sum"; mean -> "sum" and "mean" (the mean reveals the sum once the participant
    count is known, so both are published, as DESIGN 3 says); count -> "count";
    histogram -> "counts", one per bin in the order of spec.bins.
    """
    decoded = decode(total, spec.fractional_bits)
    if spec.kind is Kind.SUM:
        return (Output("sum", decoded),)
    if spec.kind is Kind.MEAN:
        mean = decoded.astype(np.float64) / n_participants
        return (Output("sum", decoded), Output("mean", mean))
    if spec.kind is Kind.COUNT:
        return (Output("count", decoded),)
    return (Output("counts", decoded),)
