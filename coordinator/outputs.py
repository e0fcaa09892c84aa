"""From the sum of partials to the published outputs of each kind of computation (pure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from coordinator.store import Output
from mpcnode.core.cohort_table import cohort_outputs
from mpcnode.core.encoding import decode_in_place
from mpcnode.core.privacy import Mechanism
from mpcnode.core.randomized_response import debias_poll
from mpcnode.core.result_privacy import UNCLAMPED
from mpcnode.core.spec import ComputationSpec, Kind


def outputs_for(  # noqa: PLR0911 (one return per kind reads best)
    spec: ComputationSpec, total: npt.NDArray[np.uint64], n_participants: int
) -> tuple[Output, ...]:
    """Decode the ring sum (already noisy when the spec asks for privacy) and post-process.

    `total` is decoded in place: the caller must not use it afterwards.

    sum -> "sum"; mean -> "sum" and "mean" (the mean reveals the sum once the participant
    count is known, so both are published, as DESIGN 3 says); count -> "count";
    cohorts -> `mpcnode.core.cohort_table.cohort_outputs`; histogram -> "counts", one per
    bin in the order of spec.bins, plus "winner" (the index of the largest count) when the
    counts are noisy: selection as noisy histogram + argmax;
    randomized-response poll -> "counts" (as reported), "estimate" (debiased [no, yes]) and
    "stderr" (of the estimate). Noisy sums, means, counts and histogram counts are clamped
    to what the domain allows (n x [lower, upper] per element; the mean to [lower, upper]),
    and the raw noisy values are published beside them as `<name>_unclamped`. Everything
    after the noise is post-processing, which costs no privacy, and clamping moves a value
    only towards the domain, where the exact aggregate lies: never further from it.
    """
    if spec.kind is Kind.COHORTS:  # encoded record by record at the node: f applies per block
        signed = decode_in_place(total, 0).astype(np.int64, copy=False)
        return tuple(Output(name, v) for name, v in cohort_outputs(spec, signed, n_participants))
    decoded = decode_in_place(total, spec.fractional_bits)
    mechanism = spec.privacy.mechanism
    noisy = mechanism not in (Mechanism.NONE, Mechanism.RANDOMIZED_RESPONSE)
    raw = decoded.copy() if noisy else decoded
    if noisy:  # post-processing: never further from the truth, which lies in the domain
        low, high = spec.lower * n_participants, spec.upper * n_participants
        if decoded.dtype == np.int64:  # integer kinds have integer bounds
            low, high = int(low), int(high)
        np.clip(decoded, low, high, out=decoded)
    if spec.kind is Kind.SUM:
        return (Output("sum", decoded), *_unclamped(noisy, ("sum", raw)))
    if spec.kind is Kind.MEAN:
        mean = decoded.astype(np.float64) / n_participants
        raw_mean = raw.astype(np.float64) / n_participants
        return (
            Output("sum", decoded),
            Output("mean", mean),
            *_unclamped(noisy, ("sum", raw), ("mean", raw_mean)),
        )
    if spec.kind is Kind.COUNT:
        return (Output("count", decoded), *_unclamped(noisy, ("count", raw)))
    counts = Output("counts", decoded)
    if mechanism is Mechanism.RANDOMIZED_RESPONSE:
        poll = debias_poll(decoded.astype(np.int64), spec.privacy.epsilon)
        return (
            counts,
            Output("estimate", poll.estimate),
            Output("stderr", np.array([poll.stderr], dtype=np.float64)),
        )
    if mechanism is not Mechanism.NONE:
        winner = np.array([int(np.argmax(raw))], dtype=np.int64)  # ties clamping made: none
        return (counts, Output("winner", winner), *_unclamped(True, ("counts", raw)))
    return (counts,)


def _unclamped(noisy: bool, *outputs: tuple[str, npt.NDArray[Any]]) -> tuple[Output, ...]:
    """The raw noisy outputs (`sum_unclamped`, ...), for readers who average many releases
    and need unbiased values; nothing for an exact result."""
    if not noisy:
        return ()
    return tuple(Output(name + UNCLAMPED, values) for name, values in outputs)


def poll_stderr(outputs: tuple[Output, ...]) -> float:
    """The standard error a poll result published (0 for other results)."""
    for output in outputs:
        if output.name == "stderr":
            return float(output.values[0])
    return 0.0
