"""Run every party of a program in one process, routing their exchanges (pure).

How tests check a protocol against the cleartext answer, and how the benchmark measures
its steps and bytes without a network. `transcript` records what each party received in
each step, which the statistical tests inspect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mpcnode.core import shamir
from mpcnode.core.field import ELEMENT_BYTES
from mpcnode.core.randomness import RandomSource
from mpcnode.protocols.engine import Exchange, Inbox, Party, Steps
from mpcnode.protocols.programs import Program, run


@dataclass
class Simulation:
    """The outputs, and what the run cost and showed."""

    opened: list[int]
    steps: int
    bytes_sent: int
    received: list[list[Inbox]] = field(default_factory=list)  # [party][step]


def simulate(
    program: Program,
    inputs: Sequence[int] | Sequence[Sequence[int]],
    rng_for: Callable[[int], RandomSource],
    keep_transcript: bool = False,
) -> Simulation:
    """All n parties run `program` on their `inputs` (a value each, or a vector each);
    returns the reconstructed outputs."""
    n = len(inputs)
    parties = [Party(i + 1, n, rng_for(i)) for i in range(n)]
    own = [[x] if isinstance(x, int) else list(x) for x in inputs]
    runs: list[Steps] = [run(program, p, x) for p, x in zip(parties, own, strict=True)]
    pending: list[Exchange | None] = [next(r) for r in runs]
    outputs: list[list[int] | None] = [None] * n
    received: list[list[Inbox]] = [[] for _ in range(n)]
    steps = sent = 0
    while any(e is not None for e in pending):
        steps += 1
        if any(e is None for e in pending):
            raise RuntimeError("parties disagree on the number of steps")
        exchanges = [e for e in pending if e is not None]
        for i, runner in enumerate(runs):
            inbox = {j + 1: exchanges[j].outgoing[i + 1] for j in range(n) if j != i}
            sent += sum(len(v) for v in inbox.values()) * ELEMENT_BYTES
            if keep_transcript:  # a copy: the party adds its own share to the dict it gets
                received[i].append({j: list(v) for j, v in inbox.items()})
            try:
                pending[i] = runner.send(inbox)
            except StopIteration as done:
                pending[i], outputs[i] = None, done.value
    shares = [o for o in outputs if o is not None]
    opened = shamir.reconstruct(shares, parties[0].t)
    return Simulation(opened, steps, sent, received)
