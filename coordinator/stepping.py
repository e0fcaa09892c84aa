"""Driving a multi-step round (DESIGN 9): relay each step's sealed messages, open the outputs.

The coordinator is a relay and a clock here, never a party: it forwards every step's
messages unopened (each is sealed between two nodes), enforces the round's deadline on
every step, and at the end receives each node's shares of the outputs, re-randomized so
that all of them together determine the outputs and nothing else. It checks that all n
shares lie on one polynomial of degree t (a node whose shares do not is caught) and
decodes the outputs. It deals no randomness: the nodes make all of it jointly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from coordinator.nodes import NodeGateway
from coordinator.records import Output
from coordinator.relay import route_steps
from coordinator.round_failure import RoundFailure
from mpcnode.api.v1 import node_pb2, types_pb2
from mpcnode.core import field as gf
from mpcnode.core import shamir
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import InvalidInput, MpcError
from mpcnode.protocols.plan import program_for, published_arrays

MAX_STEPS = 2000  # far above any program's; a node that never finishes is stopped here

Fanout = Callable[
    [str, tuple[str, ...], Callable[[str], Awaitable[node_pb2.StepReply]]],
    Awaitable[dict[str, node_pb2.StepReply]],
]


async def run_steps(
    gateway: NodeGateway,
    fanout: Fanout,
    header: types_pb2.RoundHeader,
    spec: ComputationSpec,
    participants: tuple[str, ...],
    timeout: Callable[[], float],
) -> tuple[Output, ...]:
    """Every step until each node is done; the published outputs. RoundFailure on abort.

    `timeout` bounds each step's call: a step is small, so a node that does not answer one
    within it is stalled, and is blamed alone, well before the round's deadline.
    """

    def caller(
        step: int, inbox: dict[str, list[node_pb2.StepMessage]]
    ) -> Callable[[str], Awaitable[node_pb2.StepReply]]:
        def call(party: str) -> Awaitable[node_pb2.StepReply]:
            others = [q for q in participants if q != party]
            return gateway.step(party, header, step, inbox[party], others, timeout())

        return call

    inbox: dict[str, list[node_pb2.StepMessage]] = {p: [] for p in participants}
    for step in range(1, MAX_STEPS + 1):
        replies = await fanout("compute", participants, caller(step, inbox))
        finished = [p for p, r in replies.items() if r.done]
        if finished:
            late = {
                p: MpcError(f"{p} did not finish at step {step} as the others did", party=p)
                for p in participants
                if p not in finished
            }
            if late:
                raise RoundFailure("compute", late)
            return _open(spec, participants, replies)
        inbox = route_steps(replies)
    raise RoundFailure(
        "compute", {p: MpcError(f"no result after {MAX_STEPS} steps") for p in participants}
    )


def _open(
    spec: ComputationSpec, participants: tuple[str, ...], replies: dict[str, node_pb2.StepReply]
) -> tuple[Output, ...]:
    n = len(participants)
    count = program_for(spec, n).needs(n).outputs
    shares = []
    for party in sorted(participants):  # a party's Shamir point is its place in this order
        try:
            shares.append(gf.decode(replies[party].output_shares, count, f"{party}'s outputs"))
        except InvalidInput as exc:
            raise RoundFailure("compute", {party: MpcError(exc.message, party=party)}) from None
    try:
        opened = shamir.reconstruct(shares, shamir.honest_majority_threshold(n))
    except ValueError:
        fault = MpcError("the output shares do not lie on one polynomial: a node deviated")
        raise RoundFailure("compute", dict.fromkeys(participants, fault)) from None
    return tuple(
        Output(name, values) for name, values in published_arrays(spec, participants, opened)
    )
