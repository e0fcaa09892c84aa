"""Calls to one node, sent together when they queue up (RoundControl.Batch; issue 10, item 9).

A lane keeps one message to its node outstanding at a time. A call made while none is
outstanding goes out alone, as its own RPC, so a lone computation pays nothing for batching.
A call made while one is outstanding waits; when the outstanding one is answered, everything
that waited (up to 64 calls, 1 MiB of requests) goes out as one Batch. Under load the calls
of many computations thus share one message per node, as the commits of a group commit share
one fsync; without load nothing waits.

No call is held up by another: one that has waited `MAX_WAIT_S` goes out anyway, in a
second message beside the outstanding one (a slow call, say a Prepare drawing much
noise, never makes the calls behind it miss their deadlines), and the node streams a
batch's answers as each call ends. Each call keeps its own deadline: one that is not
answered in time fails as a call alone would (DEADLINE_EXCEEDED), waiting or sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mpcnode.api.v1 import node_pb2
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import MpcError, Unavailable
from mpcnode.wire.batches import MAX_CALLS, MAX_PARTIAL_ELEMENTS, MAX_REQUEST_BYTES

log = logging.getLogger(__name__)
_T = TypeVar("_T")
SendBatch = Callable[[node_pb2.BatchRequest, float], AsyncGenerator[node_pb2.BatchReply, None]]
Alone = Callable[[float], Awaitable[Any]]
MAX_WAIT_S = 0.05  # longer than a loaded node takes to answer a batch, short next to deadlines


def batchable(spec: ComputationSpec, participants: tuple[str, ...]) -> bool:
    """Whether a round's Prepare may travel in a batch: a short vector (its Prepare is quick;
    its partial, at most 4,096 elements, is batched too) among at most 65 parties (a reply
    of at most 64 seeds). A Share goes by its seeds, a CollectPartial by its length."""
    return spec.length <= MAX_PARTIAL_ELEMENTS and len(participants) <= MAX_CALLS + 1


@dataclass
class _Waiting:
    call: node_pb2.RoundCall
    alone: Alone  # the call as its own RPC, given its timeout
    unpack: Callable[[node_pb2.RoundCallResult], Any]
    deadline: float  # the event loop's clock
    future: asyncio.Future[Any]
    size: int  # bytes of the call's request


class NodeLane:
    """The round calls to one node: alone while nothing is outstanding, else batched."""

    def __init__(
        self,
        party: str,
        send: SendBatch,
        max_calls: int = MAX_CALLS,
        observe: Callable[[int], None] = lambda calls: None,
    ) -> None:
        self._party = party
        self._send = send
        self._max_calls = max_calls
        self._observe = observe  # told the number of calls of each message sent
        self._outstanding = 0
        self._waiting: deque[_Waiting] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.batching = True  # False once the node answered UNIMPLEMENTED (an older version)

    async def call(
        self,
        call: node_pb2.RoundCall,
        alone: Callable[[float], Awaitable[_T]],
        unpack: Callable[[node_pb2.RoundCallResult], _T],
        timeout: float,
    ) -> _T:
        """`alone(timeout)` now if nothing is outstanding, else `call` in a later batch,
        `unpack`ed. TimeoutError when `timeout` seconds pass first (the caller names the
        party)."""
        if self._closed:
            raise Unavailable(f"{self._party}: the coordinator is shutting down")
        if self._outstanding == 0 and not self._waiting:
            self._outstanding += 1
            self._observe(1)
            try:
                return await alone(timeout)
            finally:
                self._outstanding -= 1
                self._dispatch()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        waiting = _Waiting(call, alone, unpack, loop.time() + timeout, future, call.ByteSize())
        self._waiting.append(waiting)
        if self._timer is None:
            self._timer = loop.call_later(MAX_WAIT_S, self._overdue)
        async with asyncio.timeout(timeout):  # cancels the future: a batch then skips it
            return await future

    def _overdue(self) -> None:
        """The calls that waited MAX_WAIT_S go now, whatever is outstanding."""
        self._timer = None
        self._dispatch(force=True)

    def _dispatch(self, force: bool = False) -> None:
        while self._waiting and (force or self._outstanding == 0):
            taken = self._take()
            if not taken:
                break
            self._outstanding += 1
            # A context of its own: the message's log lines are not one computation's.
            task = asyncio.create_task(self._run(taken), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._finished)  # runs even if cancelled before it started
            force = False  # one forced message per timer: the rest waits for an answer
        if not self._waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        elif self._waiting and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(MAX_WAIT_S, self._overdue)

    def _take(self) -> list[_Waiting]:
        """The next message's calls, oldest first, within the batch limits."""
        taken: list[_Waiting] = []
        size = 0
        while self._waiting and len(taken) < self._max_calls:
            waiting = self._waiting[0]
            if taken and size + waiting.size > MAX_REQUEST_BYTES:
                break  # the next message takes it (a call that large alone goes alone)
            self._waiting.popleft()
            if not waiting.future.done():  # not timed out meanwhile
                taken.append(waiting)
                size += waiting.size
        return taken

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._outstanding -= 1
        if not self._closed:
            self._dispatch()

    async def _run(self, taken: list[_Waiting]) -> None:
        if len(taken) == 1 or not self.batching:
            for _ in taken:
                self._observe(1)
            await asyncio.gather(*(_settle_alone(w) for w in taken))
            return
        self._observe(len(taken))
        try:
            await self._batch(taken)
        except MpcError as exc:
            if exc.status == "UNIMPLEMENTED":  # a node of an older version: each call alone
                log.info("%s takes no batches (%s); sending each call alone", self._party, exc)
                self.batching = False
                await asyncio.gather(*(_settle_alone(w) for w in taken))
                return
            for waiting in taken:
                _settle(waiting.future, exc=_copy(exc))
        except Exception as exc:  # a bug, not the node: once in the log, each call told
            log.error("a batch to %s failed unexpectedly", self._party, exc_info=exc)
            for waiting in taken:
                what = f"{self._party}: unexpected error {type(exc).__name__}"
                _settle(waiting.future, exc=MpcError(what, party=self._party))

    async def _batch(self, taken: list[_Waiting]) -> None:
        remaining = max(w.deadline for w in taken) - asyncio.get_running_loop().time()
        request = node_pb2.BatchRequest(calls=[w.call for w in taken])
        answered: set[int] = set()
        async with contextlib.aclosing(self._send(request, max(0.1, remaining))) as replies:
            async for reply in replies:
                for result in reply.results:
                    self._answered(taken, answered, result)
        if len(answered) < len(taken):
            raise MpcError(
                f"{self._party} answered {len(answered)} of the {len(taken)} calls of a Batch",
                party=self._party,
            )

    def _answered(
        self, taken: list[_Waiting], answered: set[int], result: node_pb2.RoundCallResult
    ) -> None:
        """Hand one answer of a batch to its caller; MpcError for an answer out of contract."""
        if result.call >= len(taken) or result.call in answered:
            raise MpcError(
                f"{self._party} answered call {result.call} of a Batch of {len(taken)} calls "
                "twice or out of range",
                party=self._party,
            )
        answered.add(result.call)
        waiting = taken[result.call]
        if waiting.future.done():  # its caller gave up: nothing to add anywhere
            return
        try:
            value = waiting.unpack(result)
        except Exception as exc:  # the call's own error, as it would have ended alone
            _settle(waiting.future, exc=exc)
        else:
            _settle(waiting.future, value=value)

    async def close(self) -> None:
        """Stop: calls waiting or in flight fail UNAVAILABLE (their rounds end at restart)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        while self._waiting:
            waiting = self._waiting.popleft()
            _settle(waiting.future, exc=Unavailable(f"{self._party}: shutting down"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _settle_alone(waiting: _Waiting) -> None:
    remaining = waiting.deadline - asyncio.get_running_loop().time()
    if waiting.future.done() or remaining <= 0:
        return  # its caller gave up or is about to: its own timeout tells it
    try:
        value = await waiting.alone(remaining)
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
