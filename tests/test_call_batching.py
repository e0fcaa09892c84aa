"""The coordinator's lanes (coordinator/batching.py): alone when idle, batched under load,
each call with its own deadline and its own outcome. A scripted node stands in for the RPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

import pytest

from coordinator.batching import MAX_WAIT_S, NodeLane, batchable
from mpcnode.api.v1 import node_pb2
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput, MpcError, Unimplemented
from mpcnode.rpc.status import call_error, from_call_error
from mpcnode.wire.batches import MAX_CALLS, batch_calls


def _call(tag: int) -> node_pb2.RoundCall:
    return node_pb2.RoundCall(collect=node_pb2.CollectPartialRequest(header=_header(tag)))


def _header(tag: int) -> pb.RoundHeader:
    return pb.RoundHeader(round_id=tag.to_bytes(16, "big"), transcript_hash=bytes(32))


def _tag(call: node_pb2.RoundCall) -> int:
    header = call.prepare.header if call.HasField("prepare") else call.collect.header
    return int.from_bytes(header.round_id, "big")


def _large(tag: int, size: int) -> node_pb2.RoundCall:
    """A Prepare of about `size` bytes (a long participant list stands in for a long spec)."""
    request = node_pb2.PrepareRequest(header=_header(tag), participants=["x" * size])
    return node_pb2.RoundCall(prepare=request)


def _answer(tag: int) -> node_pb2.RoundCallResult:
    """The scripted node's reply to call `tag`: a one-element partial holding the tag."""
    part = pb.Tensor(dtype=pb.DTYPE_UINT64, data=tag.to_bytes(8, "little"), length=1)
    chunk = pb.TensorChunk(offset=0, part=part)
    return node_pb2.RoundCallResult(partial=node_pb2.PartialChunk(total_length=1, chunk=chunk))


def _unpack(result: node_pb2.RoundCallResult) -> int:
    if result.HasField("error"):
        raise from_call_error(result.error, "node")
    return int.from_bytes(result.partial.chunk.part.data, "little")


class ScriptedNode:
    """Answers lone calls and batches once a gate opens (a `slow` call once its own event is
    set, after the rest of its batch); records what it was sent."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.alone: list[int] = []
        self.batches: list[list[int]] = []
        self.fail_batch: Exception | None = None
        self.refuse: set[int] = set()
        self.slow: dict[int, asyncio.Event] = {}

    def alone_call(self, tag: int) -> Callable[[float], Awaitable[int]]:
        async def send(timeout: float) -> int:
            self.alone.append(tag)
            await self.gate.wait()
            if tag in self.slow:
                await self.slow[tag].wait()
            return tag

        return send

    def _result(self, index: int, tag: int) -> node_pb2.RoundCallResult:
        if tag in self.refuse:
            error = call_error(InvalidInput(f"call {tag} refused"), "test")
            return node_pb2.RoundCallResult(call=index, error=error)
        result = _answer(tag)
        result.call = index
        return result

    async def batch(
        self, request: node_pb2.BatchRequest, timeout: float
    ) -> AsyncGenerator[node_pb2.BatchReply, None]:
        tags = [_tag(c) for c in request.calls]
        self.batches.append(tags)
        await self.gate.wait()
        if self.fail_batch is not None:
            raise self.fail_batch
        ready = [i for i, t in enumerate(tags) if t not in self.slow]
        yield node_pb2.BatchReply(results=[self._result(i, tags[i]) for i in ready])
        for i, tag in enumerate(tags):
            if tag in self.slow:
                await self.slow[tag].wait()
                yield node_pb2.BatchReply(results=[self._result(i, tag)])


def _lane(node: ScriptedNode, **kwargs: int) -> tuple[NodeLane, list[int]]:
    sizes: list[int] = []
    return NodeLane("bob", node.batch, observe=sizes.append, **kwargs), sizes


def _start(lane: NodeLane, node: ScriptedNode, tag: int, timeout: float = 5.0) -> asyncio.Task[int]:
    return asyncio.create_task(lane.call(_call(tag), node.alone_call(tag), _unpack, timeout))


async def _many(
    lane: NodeLane, node: ScriptedNode, tags: range, timeout: float = 5.0
) -> list[object]:
    tasks = [_start(lane, node, t, timeout) for t in tags]
    await asyncio.sleep(0.01)  # every call has reached the lane (before MAX_WAIT_S)
    node.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_a_lone_call_goes_alone_and_calls_that_queue_go_as_one_batch() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        lane, sizes = _lane(node)
        results = await _many(lane, node, range(1, 11))
        assert results == list(range(1, 11))  # each caller gets its own answer
        assert node.alone == [1]  # the first found the lane idle
        assert node.batches == [list(range(2, 11))]  # the rest waited, then went together
        assert sizes == [1, 9]

    asyncio.run(scenario())


def test_a_batch_never_carries_more_than_the_limit() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        lane, _ = _lane(node)
        results = await _many(lane, node, range(1, MAX_CALLS + 12))
        assert results == list(range(1, MAX_CALLS + 12))
        assert [len(b) for b in node.batches] == [MAX_CALLS, 10]

    asyncio.run(scenario())


def test_a_batch_never_carries_more_than_a_mebibyte_of_requests() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        lane, _ = _lane(node)
        sizes_of = {1: 10, 2: 400_000, 3: 400_000, 4: 400_000, 5: 10, 6: 1_200_000, 7: 10}
        tasks = [
            asyncio.create_task(lane.call(_large(t, n), node.alone_call(t), _unpack, 5.0))
            for t, n in sizes_of.items()
        ]
        await asyncio.sleep(0.01)
        node.gate.set()
        assert await asyncio.gather(*tasks) == list(sizes_of)
        assert node.batches == [[2, 3], [4, 5]]  # each under 1 MiB, in order
        assert node.alone == [1, 6, 7]  # the first, the one too large for any batch, the last

    asyncio.run(scenario())


def test_one_refused_call_leaves_the_others_of_its_batch_alone() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.refuse = {4}
        lane, _ = _lane(node)
        results = await _many(lane, node, range(1, 7))
        assert [r for r in results if not isinstance(r, BaseException)] == [1, 2, 3, 5, 6]
        refused = results[3]
        assert isinstance(refused, InvalidInput) and refused.message == "node: call 4 refused"

    asyncio.run(scenario())


def test_a_failed_batch_fails_each_of_its_calls_with_an_error_of_its_own() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.fail_batch = MpcError("bob (batch): connection reset", party="bob")
        lane, _ = _lane(node)
        results = await _many(lane, node, range(1, 5))
        assert results[0] == 1  # the lone call was not in the batch
        errors = results[1:]
        assert all(isinstance(e, MpcError) and e.party == "bob" for e in errors)
        assert len({id(e) for e in errors}) == 3  # each round's failure owns its error

    asyncio.run(scenario())


def test_a_call_past_its_deadline_times_out_and_its_late_answer_is_dropped() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        lane, _ = _lane(node)
        first = _start(lane, node, 1)
        await asyncio.sleep(0)
        late, kept = _start(lane, node, 2, timeout=0.001), _start(lane, node, 3)
        with pytest.raises(TimeoutError):
            await late
        await asyncio.sleep(MAX_WAIT_S * 2)  # the overdue call goes out beside the first
        node.gate.set()
        assert [await first, await kept] == [1, 3]
        assert node.batches == [] and node.alone == [1, 3]  # the timed-out one never left

    asyncio.run(scenario())


def test_a_slow_call_holds_up_no_call_queued_behind_it() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.slow[1] = asyncio.Event()  # a Prepare drawing much noise, say
        lane, _ = _lane(node)
        node.gate.set()
        slow = _start(lane, node, 1)
        await asyncio.sleep(0)
        behind = [_start(lane, node, t) for t in range(2, 6)]
        started = asyncio.get_running_loop().time()
        assert await asyncio.gather(*behind) == [2, 3, 4, 5]
        assert asyncio.get_running_loop().time() - started < 10 * MAX_WAIT_S
        assert not slow.done() and node.batches == [[2, 3, 4, 5]]
        node.slow[1].set()
        assert await slow == 1

    asyncio.run(scenario())


def test_a_slow_call_in_a_batch_holds_up_none_of_the_others() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.slow[3] = asyncio.Event()
        lane, _ = _lane(node)
        first = _start(lane, node, 1)
        await asyncio.sleep(0)
        tasks = {t: _start(lane, node, t) for t in range(2, 6)}
        await asyncio.sleep(0.005)
        node.gate.set()
        assert await first == 1
        assert [await tasks[t] for t in (2, 4, 5)] == [2, 4, 5]  # answered as they ended
        assert not tasks[3].done()
        node.slow[3].set()
        assert await tasks[3] == 3

    asyncio.run(scenario())


def test_an_unexpected_error_in_a_batch_fails_each_call_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[object]:
        node = ScriptedNode()
        node.fail_batch = RuntimeError("a bug")
        lane, _ = _lane(node)
        return await _many(lane, node, range(1, 5))

    results = asyncio.run(scenario())
    assert results[0] == 1
    for error in results[1:]:
        assert isinstance(error, MpcError) and error.party == "bob" and error.status == "INTERNAL"
        assert error.message == "bob: unexpected error RuntimeError"
    assert [r.levelname for r in caplog.records] == ["ERROR"]


def test_closing_fails_the_waiting_calls_and_refuses_new_ones() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        lane, _ = _lane(node)
        first = _start(lane, node, 1)
        await asyncio.sleep(0)
        waiting = _start(lane, node, 2)
        await asyncio.sleep(0)
        await lane.close()
        with pytest.raises(MpcError, match="shutting down") as info:
            await waiting
        assert info.value.status == "UNAVAILABLE"
        with pytest.raises(MpcError, match="shutting down"):
            await lane.call(_call(3), node.alone_call(3), _unpack, 1.0)
        first.cancel()

    asyncio.run(scenario())


def test_a_node_without_batch_gets_each_call_alone_from_then_on() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.fail_batch = Unimplemented("bob (batch): Method not found!", party="bob")
        lane, _ = _lane(node)
        assert await _many(lane, node, range(1, 5)) == [1, 2, 3, 4]
        assert not lane.batching and node.alone == [1, 2, 3, 4]
        node.gate.clear()
        assert await _many(lane, node, range(5, 8)) == [5, 6, 7]
        assert len(node.batches) == 1  # never tried again

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ([0], "answered 1 of the 2 calls of a Batch"),
        ([0, 0], "answered call 0 of a Batch of 2 calls twice"),
        ([0, 7], "answered call 7 of a Batch of 2 calls twice or out of range"),
    ],
)
def test_answers_out_of_contract_blame_the_node(calls: list[int], message: str) -> None:
    async def scenario() -> None:
        async def wrong(
            request: node_pb2.BatchRequest, timeout: float
        ) -> AsyncGenerator[node_pb2.BatchReply, None]:
            results = [_answer(9) for _ in calls]
            for result, index in zip(results, calls, strict=True):
                result.call = index
            yield node_pb2.BatchReply(results=results)

        node = ScriptedNode()
        lane = NodeLane("bob", wrong)
        answers = await _many(lane, node, range(1, 4))
        assert answers[0] == 1
        failed = [a for a in answers[1:] if isinstance(a, MpcError)]
        assert failed and all(e.party == "bob" and message in e.message for e in failed)

    asyncio.run(scenario())


def test_only_short_rounds_among_few_parties_are_batched() -> None:
    spec = ComputationSpec("s", Kind.SUM, "d", 0, 10, length=4096)
    parties = tuple(f"p{i}" for i in range(65))
    assert batchable(spec, parties)
    assert not batchable(spec, (*parties, "p65"))
    assert not batchable(ComputationSpec("s", Kind.SUM, "d", 0, 10, length=4097), parties[:3])


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ([], "1 to 64 calls, not 0"),
        ([_call(1)] * (MAX_CALLS + 1), "1 to 64 calls, not 65"),
        ([_call(1), node_pb2.RoundCall()], "call 1 of the Batch has no body"),
    ],
)
def test_a_batch_out_of_shape_is_invalid(calls: list[node_pb2.RoundCall], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        batch_calls(node_pb2.BatchRequest(calls=calls))


def test_a_call_error_round_trips_to_the_same_error() -> None:
    sent = MpcError("boom", party="carol", reason="X")
    back = from_call_error(call_error(sent, "test"), "bob (share)")
    assert (type(back), back.message, back.party, back.reason) == (
        MpcError,
        "bob (share): boom",
        "carol",
        "X",
    )
    internal = from_call_error(call_error(ValueError("secret 42"), "test"))
    assert "secret" not in internal.message and "incident" in internal.message
