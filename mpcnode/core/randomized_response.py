"""Randomized response (Warner 1965): local epsilon-DP for yes/no polls (DESIGN 5).

Each respondent's 0/1 answer is kept with probability e^eps / (1 + e^eps), drawn exactly as
a Bernoulli factory over Bernoulli(1/2) and Bernoulli(e^-eps); the coordinator debiases
the reported counts. Pure: randomness is injected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from mpcnode.core import exact_samplers as exact
from mpcnode.core.randomness import UniformInts
from mpcnode.errors import InvalidInput


def randomized_response(
    answers: npt.NDArray[np.int64], epsilon: Fraction, u: UniformInts, draws: int = 0
) -> npt.NDArray[np.int64]:
    """Randomize each 0/1 answer; return the reported [no, yes] counts.

    `draws` (at least the number of answers) keep-or-flip decisions are drawn whatever the
    number of answers, so the work, and the time a Prepare takes, follows the declaration's
    most respondents and not the organization's own count.
    """
    if answers.size and not np.isin(answers, (0, 1)).all():
        raise InvalidInput(
            "a randomized-response input lists answers as 0 (first bin) or 1 (second bin); "
            "this input has other values"
        )
    listed = answers.tolist()
    yes = 0
    for index in range(max(draws, len(listed))):
        keep = _keep(epsilon, u)
        if index < len(listed):
            yes += listed[index] if keep else 1 - listed[index]
    return np.array([len(listed) - yes, yes], dtype=np.int64)


def _keep(epsilon: Fraction, u: UniformInts) -> bool:
    """Bernoulli(e^eps / (1 + e^eps)) = Bernoulli(1 / (1 + e^-eps)), exactly.

    Bernoulli factory: repeat {with prob 1/2 return True if Bernoulli(1); else return False
    if Bernoulli(e^-eps)}; it stops with True w.p. (1/2) / (1/2 + e^-eps / 2).
    """
    while True:
        if u.below(2):
            return True
        if exact.bernoulli_exp(epsilon, u):
            return False


@dataclass(frozen=True)
class PollEstimate:
    """The debiased answer counts of a randomized-response poll and their standard error."""

    estimate: npt.NDArray[np.float64]  # [no, yes]
    stderr: float


def debias_poll(reported: npt.NDArray[np.int64], epsilon: float) -> PollEstimate:
    """Unbiased counts from reported [no, yes] counts (Warner 1965).

    E[Y] = p*y + (1-p)*(n-y), so y_hat = (Y - (1-p) n) / (2p - 1); each reported answer
    has variance p(1-p) whatever the truth, so SE = sqrt(n p (1-p)) / (2p - 1).
    """
    n = float(reported.sum())
    p = 1 / (1 + math.exp(-epsilon))
    yes = (float(reported[1]) - (1 - p) * n) / (2 * p - 1)
    stderr = math.sqrt(n * p * (1 - p)) / (2 * p - 1)
    return PollEstimate(np.array([n - yes, yes], dtype=np.float64), stderr)
