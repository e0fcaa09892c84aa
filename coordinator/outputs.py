"""From the sum of partials to the published outputs of each kind of computation (pure)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coordinator.store import Output
from mpcnode.core.encoding import decode_in_place
from mpcnode.core.privacy import Mechanism
from mpcnode.core.randomized_response import debias_poll
from mpcnode.core.spec import ComputationSpec, Kind


def outputs_for(
    spec: ComputationSpec, total: npt.NDArray[np.uint64], n_participants: int
) -> tuple[Output, ...]:
    """Decode the ring sum (already noisy when the spec asks for privacy) and post-process.

    `total` is decoded in place: the caller must not use it afterwards.

    sum -> "sum"; mean -> "sum" and "mean" (the mean reveals the sum once the participant
    count is known, so both are published, as DESIGN 3 says); count -> "count";
    histogram -> "counts", one per bin in the order of spec.bins, plus "winner" (the index
    of the largest count) when the counts are noisy: selection as noisy histogram + argmax;
    randomized-response poll -> "counts" (as reported), "estimate" (debiased [no, yes]) and
    "stderr" (of the estimate). Everything after the noise is post-processing, which
    costs no privacy.
    """
    decoded = decode_in_place(total, spec.fractional_bits)
    mechanism = spec.privacy.mechanism
    if spec.kind is Kind.SUM:
        return (Output("sum", decoded),)
    if spec.kind is Kind.MEAN:
        mean = decoded.astype(np.float64) / n_participants
        return (Output("sum", decoded), Output("mean", mean))
    if spec.kind is Kind.COUNT:
        return (Output("count", decoded),)
    counts = Output("counts", decoded)
    if mechanism is Mechanism.RANDOMIZED_RESPONSE:
        poll = debias_poll(decoded.astype(np.int64), spec.privacy.epsilon)
        return (
            counts,
            Output("estimate", poll.estimate),
            Output("stderr", np.array([poll.stderr], dtype=np.float64)),
        )
    if mechanism is not Mechanism.NONE:
        winner = np.array([int(np.argmax(decoded))], dtype=np.int64)
        return (counts, Output("winner", winner))
    return (counts,)


def poll_stderr(outputs: tuple[Output, ...]) -> float:
    """The standard error a poll result published (0 for other results)."""
    for output in outputs:
        if output.name == "stderr":
            return float(output.values[0])
    return 0.0
