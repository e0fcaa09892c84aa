"""What a node shares for a round: its encoded value, randomized or with its noise share.

Runs only after Prepare accepted the round: the values were validated against the dataset's
declaration at submit time and the spec was checked against the declaration, so nothing here
can fail because of a value. If it fails anyway, the caller gets an error that says nothing
about the value, and the log gets the traceback (never the value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mpcnode.core.cohorts import weighted
from mpcnode.core.declaration import Shape
from mpcnode.core.encoding import EncodedSlices, encode
from mpcnode.core.mechanisms import NoisePlan, draw_noise
from mpcnode.core.privacy import Mechanism
from mpcnode.core.randomized_response import randomized_response
from mpcnode.core.randomness import RandomSource, UniformInts
from mpcnode.core.sharing import ArraySlices, Slices
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.vector_samplers import VectorNoise
from mpcnode.errors import MpcError
from mpcnode.node.stored import StoredInput

log = logging.getLogger(__name__)


def cohort_values(spec: ComputationSpec, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A records dataset's stored counts, sums and squares, weighted for `spec`'s noise."""
    return weighted(values, spec.lower, spec.upper, spec.fractional_bits, spec.privacy.enabled)


@dataclass(frozen=True)
class Contribution:
    """The ring elements this node shares (encoded slice by slice), and how its noise was
    drawn."""

    encoded: Slices
    sampler: str  # "" without noise drawn here


def contribution(
    label: str,
    spec: ComputationSpec,
    plan: NoisePlan | None,
    stored: StoredInput,
    rng: RandomSource,
    vector_noise: Callable[[], VectorNoise],
) -> Contribution:
    """Encode the stored values for `spec`, with the node's privacy step (blocking).

    A poll contributes its [answers 0, answers 1] counts, randomized per answer under
    randomized response; with distributed noise the node adds its noise share; central
    noise is the coordinator's, so the node adds none.
    """
    try:
        if stored.declaration.shape is Shape.POLL:
            answers = stored.values.astype(np.int64)
            if plan is not None and plan.mechanism is Mechanism.RANDOMIZED_RESPONSE:
                draws = int(stored.declaration.upper)  # the work follows the declaration
                epsilon = spec.privacy.epsilon_exact
                counts = randomized_response(answers, epsilon, UniformInts(rng), draws)
                return Contribution(ArraySlices(encode(counts, 0)), plan.sampler)
            yes = int(answers.sum())
            counts = np.array([len(answers) - yes, yes])
            return Contribution(ArraySlices(encode(counts, 0)), "")
        f = spec.fractional_bits
        values = stored.values
        if stored.declaration.shape is Shape.COHORTS:
            # Encoded record by record when loaded; weighted so one noise law fits all blocks.
            values, f = cohort_values(spec, values.astype(np.int64, copy=False)), 0
        if plan is None or not plan.distributed:
            return Contribution(EncodedSlices(values, f), "")
        # The noise is drawn now, in full, so that no later step's timing depends on it.
        noise = draw_noise(plan, UniformInts(rng), vector_noise)
        return Contribution(EncodedSlices(values, f, noise), plan.sampler)
    except MpcError:
        log.exception("round %s: encoding a validated input failed", label)
        raise MpcError("this node could not encode its input; see its log") from None
