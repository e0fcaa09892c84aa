"""A malicious coordinator drives a multi-step round by hand (DESIGN 9) through raw gRPC.

It holds the coordinator's own certificate, so every call is authorized; what it sends is
not what an honest relay would: steps out of order, steps before Share, repeats with other
messages, altered, replayed, misaddressed or missing messages, messages of another round,
a CollectPartial on a comparison round. What must hold: each gets a clear status, a refused
step changes nothing (the right messages still go through afterwards), each node records
its release exactly once, and the coordinator, at the end, learns the outputs and nothing
else it could open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from adversary import (
    PreparedRound,
    Reply,
    collect,
    controlling,
    declare_all,
    list_releases,
    prepare,
    running_federation,
    scalar,
    share,
    spec,
    unary,
)

from mpcnode.api.v1 import node_pb2
from mpcnode.config import EVERY_KIND
from mpcnode.core import field as gf
from mpcnode.core import shamir
from mpcnode.core.spec import Kind
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration
PARTIES = ("alice", "bob", "carlos")
BIDS = {"alice": 120, "bob": 150, "carlos": 135}
ALL_KINDS = list(EVERY_KIND)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Three nodes that allow every kind; each holds a bid under several datasets."""
    root: Path = tmp_path_factory.mktemp("steps")
    with running_federation(root, PARTIES, policy={"allowed_kinds": ALL_KINDS}) as federation:
        for name in ("bids", "bids-b", "bids-c", "bids-d", "bids-e", "bids-f"):
            declare_all(federation, scalar(name), {p: [v] for p, v in BIDS.items()})
        yield federation


def ready(fed: LocalFederation, dataset: str, kind: Kind = Kind.MAX) -> PreparedRound:
    """A round every node prepared and shared seeds for, as an honest coordinator would."""
    prepared = PreparedRound(spec(dataset, kind=kind), PARTIES)
    for party in PARTIES:
        assert prepare(fed, party, prepared).ok
    for party in PARTIES:
        assert share(fed, party, prepared).ok
    return prepared


def step(
    fed: LocalFederation,
    party: str,
    prepared: PreparedRound,
    number: int,
    messages: list[node_pb2.StepMessage],
) -> Reply:
    with controlling(fed, party) as stub:
        request = node_pb2.StepRequest(header=prepared.header, step=number, messages=messages)
        return unary(stub.Step, request)


def parsed(reply: Reply) -> node_pb2.StepReply:
    assert reply.ok, str(reply)
    return node_pb2.StepReply.FromString(reply.body[0])


def inbox(replies: dict[str, node_pb2.StepReply], party: str) -> list[node_pb2.StepMessage]:
    """What an honest relay hands `party`: every message addressed to it."""
    return [m for r in replies.values() for m in r.messages if m.recipient == party]


def run_all(
    fed: LocalFederation,
    prepared: PreparedRound,
    start: int = 1,
    first: dict[str, node_pb2.StepReply] | None = None,
) -> tuple[int, dict[str, node_pb2.StepReply], dict[str, list[node_pb2.StepMessage]]]:
    """Drive every node to the end honestly; the last step, its replies and its inboxes."""
    replies = first or {p: parsed(step(fed, p, prepared, start, [])) for p in PARTIES}
    number, inboxes = start, {}
    while not all(r.done for r in replies.values()):
        number += 1
        inboxes = {p: inbox(replies, p) for p in PARTIES}
        replies = {p: parsed(step(fed, p, prepared, number, inboxes[p])) for p in PARTIES}
    return number, replies, inboxes


def opened(replies: dict[str, node_pb2.StepReply], count: int) -> list[int]:
    shares = [gf.decode(replies[p].output_shares, count, p) for p in sorted(PARTIES)]
    return shamir.reconstruct(shares, 1)


def test_step_before_share_or_on_a_sum_is_refused_and_releases_nothing(
    fed: LocalFederation,
) -> None:
    prepared = PreparedRound(spec("bids-b", kind=Kind.MAX), PARTIES)
    assert prepare(fed, "alice", prepared).ok
    early = step(fed, "alice", prepared, 1, [])
    assert early.code == "FAILED_PRECONDITION" and "call Share before Step" in early.details
    summed = ready(fed, "bids-c", kind=Kind.SUM)
    refused = step(fed, "alice", summed, 1, [])
    assert refused.code == "FAILED_PRECONDITION" and "CollectPartial, not Step" in refused.details
    compared = ready(fed, "bids-d")
    wrong_call = collect(fed, "alice", compared.header)
    assert wrong_call.code == "FAILED_PRECONDITION" and "runs with Step" in wrong_call.details
    assert not [r for r in list_releases(fed, "alice") if r.dataset in ("bids-b", "bids-d")]


def test_out_of_order_and_malformed_steps_change_nothing(fed: LocalFederation) -> None:
    prepared = ready(fed, "bids")
    ahead = step(fed, "alice", prepared, 2, [])
    assert ahead.code == "FAILED_PRECONDITION" and "expects step 1" in ahead.details
    zero = step(fed, "alice", prepared, 0, [])
    assert zero.code == "INVALID_ARGUMENT"
    first = {p: parsed(step(fed, p, prepared, 1, [])) for p in PARTIES}
    # The same step again: the same reply, byte for byte, and no second release.
    again = parsed(step(fed, "alice", prepared, 1, []))
    assert again.SerializeToString() == first["alice"].SerializeToString()
    mine = inbox(first, "alice")
    assert len(mine) == 2
    altered = node_pb2.StepMessage()
    altered.CopyFrom(mine[0])
    altered.sealed = bytes([altered.sealed[0] ^ 1]) + altered.sealed[1:]
    bad = step(fed, "alice", prepared, 2, [altered, mine[1]])
    assert bad.code == "FAILED_PRECONDITION" and mine[0].sender in bad.details
    missing = step(fed, "alice", prepared, 2, [mine[0]])
    assert missing.code == "INVALID_ARGUMENT" and "missing" in missing.details
    stranger = node_pb2.StepMessage(sender="mallory", recipient="alice", step=1, sealed=b"x" * 40)
    extra = step(fed, "alice", prepared, 2, [*mine, stranger])
    assert extra.code == "INVALID_ARGUMENT" and "mallory" in extra.details
    misaddressed = inbox(first, "bob")[0]
    wrong_to = step(fed, "alice", prepared, 2, [misaddressed, mine[1]])
    assert wrong_to.code == "INVALID_ARGUMENT" and "addressed to 'bob'" in wrong_to.details
    relabelled = node_pb2.StepMessage()
    relabelled.CopyFrom(mine[0])
    relabelled.step = 2  # a step-1 message passed off as step 2's: the step field must match
    mislabelled = step(fed, "alice", prepared, 2, [relabelled, mine[1]])
    assert mislabelled.code == "INVALID_ARGUMENT"
    # After every refusal the honest messages still go through, and the round completes.
    second = {p: parsed(step(fed, p, prepared, 2, inbox(first, p))) for p in PARTIES}
    conflict = step(fed, "alice", prepared, 2, [altered, mine[1]])
    assert conflict.code == "ALREADY_EXISTS"
    replay = step(fed, "alice", prepared, 4, inbox(first, "alice"))
    assert replay.code in ("FAILED_PRECONDITION", "INVALID_ARGUMENT")
    number, last, inboxes = run_all(fed, prepared, 2, second)
    key = opened(last, 1)[0]
    assert key >> 2 == 150 and 2 - (key & 3) == 1  # the max, 150, and its holder, bob
    for party in PARTIES:
        assert len([r for r in list_releases(fed, party) if r.dataset == "bids"]) == 1
    # The last step again (its reply was lost, say) gets the same output shares; no step
    # after it is taken, and no second release is recorded.
    again = parsed(step(fed, "alice", prepared, number, inboxes["alice"]))
    assert again.SerializeToString() == last["alice"].SerializeToString()
    after = step(fed, "alice", prepared, number + 1, [])
    assert after.code == "FAILED_PRECONDITION" and "ended at step" in after.details
    assert len([r for r in list_releases(fed, "alice") if r.dataset == "bids"]) == 1
    # Another function over the same dataset-period (a min after the max) is refused by the
    # ledger: the two together would reveal more than either.
    other = PreparedRound(spec("bids", kind=Kind.MIN), PARTIES)
    refused = prepare(fed, "alice", other)
    assert refused.code == "FAILED_PRECONDITION"


def test_messages_of_another_round_do_not_open(fed: LocalFederation) -> None:
    one, other = ready(fed, "bids-e"), ready(fed, "bids-f")
    first = {p: parsed(step(fed, p, one, 1, [])) for p in PARTIES}
    theirs = {p: parsed(step(fed, p, other, 1, [])) for p in PARTIES}
    crossed = step(fed, "alice", one, 2, inbox(theirs, "alice"))
    assert crossed.code == "FAILED_PRECONDITION" and "another round" in crossed.details
    assert step(fed, "alice", one, 2, inbox(first, "alice")).ok
