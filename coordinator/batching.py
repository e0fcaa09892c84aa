"""Calls to one node, sent together when they queue up (RoundControl.Batch; issue 10, item 9).

A lane lets at most `in_flight` calls or batches to its node be outstanding at once. A call
made while fewer are outstanding and none is waiting goes out alone, as its own RPC, so a
lone computation pays nothing for batching. A call made while the lane is full waits; when
an outstanding one returns, everything that waited (up to 64 calls) goes out as one Batch.
Under load the calls of many computations thus share one message per node, as the commits
of a database's group commit share one fsync; without load nothing waits.

Each call keeps its own deadline: a call that waited past it fails as a call alone would
(DEADLINE_EXCEEDED), whether it was still waiting or already in a batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mpcnode.api.v1 import node_pb2
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import MpcError
from mpcnode.wire.batches import MAX_CALLS, MAX_PARTIAL_ELEMENTS, MAX_REQUEST_BYTES

_T = TypeVar("_T")
SendBatch = Callable[[node_pb2.BatchRequest, float], Awaitable[node_pb2.BatchReply]]
IN_FLIGHT = 1  # one: under load, the next batch fills while the node serves the last one


def batchable(spec: ComputationSpec, participants: tuple[str, ...]) -> bool:
    """Whether a round's calls may travel in batches: a short vector (its Prepare is quick and
    its partial fits one chunk of a Batch) among at most 65 parties (one Share of at most 64
    seeds)."""
    return spec.length <= MAX_PARTIAL_ELEMENTS and len(participants) <= MAX_CALLS + 1


@dataclass
class _Waiting:
    call: node_pb2.RoundCall
    alone: Callable[[], Awaitable[Any]]
    unpack: Callable[[node_pb2.RoundCallResult], Any]
    deadline: float  # the event loop's clock
    future: asyncio.Future[Any]
    size: int  # bytes of the call's request


class NodeLane:
    """The round calls to one node: alone while the lane has room, else batched."""

    def __init__(
        self,
        party: str,
        send: SendBatch,
        in_flight: int = IN_FLIGHT,
        max_calls: int = MAX_CALLS,
        observe: Callable[[int], None] = lambda calls: None,
    ) -> None:
        self._party = party
        self._send = send
        self._observe = observe  # told the number of calls of each message sent
        self._limit = in_flight
        self._max_calls = max_calls
        self._outstanding = 0
        self._waiting: deque[_Waiting] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self.batching = True  # False once the node answered UNIMPLEMENTED (an older version)

    async def call(
        self,
        call: node_pb2.RoundCall,
        alone: Callable[[], Awaitable[_T]],
        unpack: Callable[[node_pb2.RoundCallResult], _T],
        timeout: float,
    ) -> _T:
        """`alone()` now if the lane has room, else `call` in the next batch, `unpack`ed.

        TimeoutError when `timeout` seconds pass first (the caller names the party).
        """
        if self._outstanding < self._limit and not self._waiting:
            self._outstanding += 1
            self._observe(1)
            try:
                return await alone()
            finally:
                self._outstanding -= 1
                self._dispatch()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        deadline = loop.time() + timeout
        self._waiting.append(_Waiting(call, alone, unpack, deadline, future, call.ByteSize()))
        async with asyncio.timeout(timeout):  # cancels the future: a batch then skips it
            return await future

    def _dispatch(self) -> None:
        while self._waiting and self._outstanding < self._limit:
            taken: list[_Waiting] = []
            size = 0
            while self._waiting and len(taken) < self._max_calls:
                waiting = self._waiting[0]
                if taken and size + waiting.size > MAX_REQUEST_BYTES:
                    break  # the next batch takes it (a call that large alone goes alone)
                self._waiting.popleft()
                if not waiting.future.done():  # not timed out meanwhile
                    taken.append(waiting)
                    size += waiting.size
            if not taken:
                return
            self._outstanding += 1
            # A context of its own: the batch's log lines are not one computation's.
            task = asyncio.create_task(self._run(taken), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, taken: list[_Waiting]) -> None:
        try:
            if len(taken) == 1 or not self.batching:
                for _ in taken:
                    self._observe(1)
                await asyncio.gather(*(_settle_alone(w) for w in taken))
            else:
                await self._batch(taken)
        finally:
            self._outstanding -= 1
            self._dispatch()

    async def _batch(self, taken: list[_Waiting]) -> None:
        remaining = max(w.deadline for w in taken) - asyncio.get_running_loop().time()
        request = node_pb2.BatchRequest(calls=[w.call for w in taken])
        self._observe(len(taken))
        try:
            reply = await self._send(request, max(0.1, remaining))
        except MpcError as exc:
            if exc.status == "UNIMPLEMENTED":  # a node of an older version: no batches
                self.batching = False
                await asyncio.gather(*(_settle_alone(w) for w in taken))
                return
            for waiting in taken:
                _settle(waiting.future, exc=_copy(exc))
            return
        if len(reply.results) != len(taken):
            wrong = MpcError(
                f"{self._party} answered a Batch of {len(taken)} calls with "
                f"{len(reply.results)} results",
                party=self._party,
            )
            for waiting in taken:
                _settle(waiting.future, exc=_copy(wrong))
            return
        for waiting, result in zip(taken, reply.results, strict=True):
            try:
                value = waiting.unpack(result)
            except Exception as exc:  # the call's own error, as it would have ended alone
                _settle(waiting.future, exc=exc)
            else:
                _settle(waiting.future, value=value)

    async def close(self) -> None:
        """Stop the batches in flight (at shutdown: their rounds are aborted at restart)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _settle_alone(waiting: _Waiting) -> None:
    try:
        value = await waiting.alone()
    except Exception as exc:
        _settle(waiting.future, exc=exc)
    else:
        _settle(waiting.future, value=value)


def _settle(
    future: asyncio.Future[Any], value: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():  # its caller timed out: nobody waits for it any more
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


def _copy(exc: MpcError) -> MpcError:
    """One error object per waiting call: each round's failure handling owns its own."""
    return type(exc)(exc.message, party=exc.party, reason=exc.reason)
