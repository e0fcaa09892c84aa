"""RoundControl.Batch driven by hand: an envelope that must change nothing a call does.

A malicious (or merely buggy) coordinator sends batches no honest one would: calls whose
refusals must be exactly those of the same calls alone, two releases of one round in one
batch, a partial too long for a batch, and batches out of shape. Each gets its real status,
and the ledgers record exactly the releases that happened, once each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc
import numpy as np
import pytest
from adversary import (
    PARTIES4,
    RAISES,
    PreparedRound,
    Reply,
    abort,
    collect,
    controlling,
    declare_all,
    list_releases,
    prepare,
    reconstruct,
    running_federation,
    scalar,
    share,
    spec,
    streamed,
    unary,
)

from mpcnode.api.v1 import node_pb2
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.federation import LocalFederation
from mpcnode.rpc.status import reason_of
from mpcnode.wire.batches import MAX_CALLS, MAX_PARTIAL_ELEMENTS

pytestmark = pytest.mark.integration

DATASET = "batch-raises"
LONG = "batch-long"
LONG_LENGTH = MAX_PARTIAL_ELEMENTS + 1
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Four nodes holding a raise each, and a vector one element too long for a batch."""
    with running_federation(tmp_path_factory.mktemp("batch")) as federation:
        declare_all(federation, scalar(DATASET), RAISES)
        long = Declaration(LONG, Shape.VECTOR, 0, 10, length=LONG_LENGTH)
        declare_all(federation, long, {p: np.ones(LONG_LENGTH, dtype=np.int64) for p in PARTIES4})
        yield federation


def _batch(
    fed: LocalFederation, node: str, calls: Sequence[node_pb2.RoundCall]
) -> tuple[Reply, list[node_pb2.RoundCallResult]]:
    """The batch's status, and its answers (streamed as they end) in the order of its calls;
    asserts that every call was answered exactly once."""
    with controlling(fed, node) as stub:
        reply = streamed(stub.Batch, node_pb2.BatchRequest(calls=list(calls)))
    results = [r for body in reply.body for r in node_pb2.BatchReply.FromString(body).results]
    if reply.ok:
        assert sorted(r.call for r in results) == list(range(len(calls))), results
    return reply, sorted(results, key=lambda r: r.call)


def _prepare(r: PreparedRound) -> node_pb2.RoundCall:
    return node_pb2.RoundCall(prepare=r.request())


def _share(r: PreparedRound, node: str) -> node_pb2.RoundCall:
    return node_pb2.RoundCall(share=node_pb2.ShareRequest(header=r.header, seeds=r.inbox(node)))


def _collect(header: pb.RoundHeader) -> node_pb2.RoundCall:
    return node_pb2.RoundCall(collect=node_pb2.CollectPartialRequest(header=header))


def _kinds(results: list[node_pb2.RoundCallResult]) -> list[str | None]:
    return [r.WhichOneof("result") for r in results]


def _as_alone(error: node_pb2.RoundCallError) -> tuple[str, str, str]:
    """A batched call's error as the (code, message, reason) a call alone would carry."""
    return _CODE_NAMES[error.code], error.message, error.reason


def _alone(reply: Reply) -> tuple[str, str, str]:
    return reply.code, reply.details, reason_of(reply.trailers)


def _ready(fed: LocalFederation, r: PreparedRound, shared: bool = True) -> None:
    """Every node prepares the round by hand (and, `shared`, opens its seeds), call by call."""
    for node in PARTIES4:
        assert prepare(fed, node, r).ok
    for node in PARTIES4 if shared else ():
        assert share(fed, node, r).ok


def _released(fed: LocalFederation, dataset: str) -> dict[str, int]:
    return {p: len(list_releases(fed, p, dataset)) for p in PARTIES4}


def test_two_rounds_batched_at_every_node_give_each_its_total_and_one_release(
    fed: LocalFederation,
) -> None:
    before = _released(fed, DATASET)
    rounds = [PreparedRound(spec(DATASET, name=n), PARTIES4) for n in ("first", "second")]
    for node in PARTIES4:
        reply, results = _batch(fed, node, [_prepare(r) for r in rounds])
        assert reply.ok and _kinds(results) == ["prepare", "prepare"], str(reply)
        for r, result in zip(rounds, results, strict=True):
            r.seeds[node] = list(result.prepare.seeds)
    for node in PARTIES4:
        reply, results = _batch(fed, node, [_share(r, node) for r in rounds])
        assert _kinds(results) == ["share", "share"], results
    partials: list[list[Reply]] = [[], []]
    for node in PARTIES4:
        reply, results = _batch(fed, node, [_collect(r.header) for r in rounds])
        assert _kinds(results) == ["partial", "partial"], results
        for mine, result in zip(partials, results, strict=True):
            mine.append(Reply("OK", "", (), (result.partial.SerializeToString(),)))
    for mine in partials:
        assert reconstruct(mine).tolist() == [sum(RAISES.values())]
    assert _released(fed, DATASET) == {p: n + 2 for p, n in before.items()}
    for r in rounds:  # each round ended at every node once its partial was out
        assert collect(fed, "alice", r.header).code == "ALREADY_EXISTS"


def test_each_refusal_in_a_batch_is_the_one_the_call_alone_gets(fed: LocalFederation) -> None:
    live = PreparedRound(spec(DATASET, name="live"), PARTIES4)
    undeclared = PreparedRound(spec("never-declared"), PARTIES4)
    unknown = PreparedRound(spec(DATASET, name="never prepared"), PARTIES4)
    calls = [
        _prepare(undeclared),
        _prepare(live),
        _collect(unknown.header),
        node_pb2.RoundCall(share=node_pb2.ShareRequest(header=unknown.header)),
    ]
    before = _released(fed, DATASET)
    reply, results = _batch(fed, "alice", calls)
    assert reply.ok and _kinds(results) == ["error", "prepare", "error", "error"], results
    assert len(results[1].prepare.seeds) == 3  # the good call is served beside the refusals
    with controlling(fed, "alice") as stub:
        alone = [
            unary(stub.Prepare, undeclared.request()),
            streamed(stub.CollectPartial, calls[2].collect),
            unary(stub.Share, calls[3].share),
        ]
    batched = [results[0].error, results[2].error, results[3].error]
    assert [_as_alone(e) for e in batched] == [_alone(r) for r in alone]
    assert [e.reason for e in batched][1:] == ["ROUND_UNKNOWN", "ROUND_UNKNOWN"]
    abort(fed, "alice", live.header)
    assert _released(fed, DATASET) == before


def test_one_round_released_twice_in_one_batch_is_released_once(fed: LocalFederation) -> None:
    r = PreparedRound(spec(DATASET, name="twice"), PARTIES4)
    _ready(fed, r)
    before = _released(fed, DATASET)
    reply, results = _batch(fed, "alice", [_collect(r.header), _collect(r.header)])
    assert reply.ok and sorted(map(str, _kinds(results))) == ["error", "partial"], results
    refused = next(x.error for x in results if x.HasField("error"))
    assert _CODE_NAMES[refused.code] == "ALREADY_EXISTS"
    assert refused.reason == "ALREADY_RELEASED"
    assert _released(fed, DATASET)["alice"] == before["alice"] + 1
    for node in PARTIES4:
        abort(fed, node, r.header)


def test_a_partial_too_long_for_a_batch_is_refused_before_it_is_released(
    fed: LocalFederation,
) -> None:
    r = PreparedRound(spec(LONG, upper=10, length=LONG_LENGTH), PARTIES4)
    _ready(fed, r)
    before = _released(fed, LONG)
    reply, results = _batch(fed, "alice", [_collect(r.header)])
    assert reply.ok and _kinds(results) == ["error"]
    code, message, _ = _as_alone(results[0].error)
    assert code == "INVALID_ARGUMENT"
    assert f"a partial of {LONG_LENGTH} elements is streamed with CollectPartial" in message
    assert _released(fed, LONG) == before  # nothing was spent on the refused call
    streamed_reply = collect(fed, "alice", r.header)  # the stream still gets it, once
    assert streamed_reply.ok, str(streamed_reply)
    assert _released(fed, LONG)["alice"] == before["alice"] + 1
    for node in PARTIES4:
        abort(fed, node, r.header)


def test_a_long_partial_not_shared_yet_is_refused_in_a_batch_as_it_is_alone(
    fed: LocalFederation,
) -> None:
    """The length rule comes last: every refusal CollectPartial makes comes first, the same."""
    r = PreparedRound(spec(LONG, upper=10, length=LONG_LENGTH), PARTIES4)
    _ready(fed, r, shared=False)
    _, results = _batch(fed, "alice", [_collect(r.header)])
    alone = collect(fed, "alice", r.header)
    assert _as_alone(results[0].error) == _alone(alone)
    assert alone.code == "FAILED_PRECONDITION" and "call Share before" in alone.details
    for node in PARTIES4:
        abort(fed, node, r.header)


@pytest.mark.parametrize(
    ("count", "body", "message"),
    [
        (0, True, "a Batch carries 1 to 64 calls, not 0"),
        (MAX_CALLS + 1, True, f"a Batch carries 1 to 64 calls, not {MAX_CALLS + 1}"),
        (2, False, "call 1 of the Batch has no body"),
    ],
)
def test_a_batch_out_of_shape_is_refused_whole_and_prepares_nothing(
    fed: LocalFederation, count: int, body: bool, message: str
) -> None:
    r = PreparedRound(spec(DATASET, name="out of shape"), PARTIES4)
    calls = [_prepare(r)] * count if body else [_prepare(r), node_pb2.RoundCall()]
    reply, _ = _batch(fed, "alice", calls)
    assert reply.code == "INVALID_ARGUMENT" and message in reply.details, str(reply)
    assert reply.body == ()
    with controlling(fed, "alice") as stub:  # no call of it ran: the round is unknown
        probe = unary(stub.Share, node_pb2.ShareRequest(header=r.header))
    assert probe.code == "NOT_FOUND" and reason_of(probe.trailers) == "ROUND_UNKNOWN"
