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

from mpcnode.core.declaration import Shape
from mpcnode.core.encoding import encode
from mpcnode.core.mechanisms import NoisePlan, add_noise, draw_noise
from mpcnode.core.privacy import Mechanism
from mpcnode.core.randomized_response import randomized_response
from mpcnode.core.randomness import RandomSource, UniformInts
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.vector_samplers import VectorNoise
from mpcnode.errors import MpcError
from mpcnode.node.store import StoredInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contribution:
    """The ring elements this node splits into shares, and how its noise was drawn."""

    encoded: npt.NDArray[np.uint64]
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
                return Contribution(encode(counts, 0), plan.sampler)
            yes = int(answers.sum())
            return Contribution(encode(np.array([len(answers) - yes, yes]), 0), "")
        encoded = encode(stored.values, spec.fractional_bits)
        if plan is None or not plan.distributed:
            return Contribution(encoded, "")
        noise = draw_noise(plan, UniformInts(rng), vector_noise)
        return Contribution(add_noise(encoded, noise), plan.sampler)
    except MpcError:
        log.exception("round %s: encoding a validated input failed", label)
        raise MpcError("this node could not encode its input; see its log") from None
