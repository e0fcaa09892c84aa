"""The coordinator's calls to nodes' RoundControl service (coordinator -> node, mutual TLS).

Each failure comes back as an MpcError whose `party` names who is at fault: the node the
call went to when it could not be reached or misbehaved, or the party the node named (via
the `mpc-party` trailer), e.g. the sender of a seed that did not open.

Channels are opened to every roster party in parallel when the daemon starts (`warm`) and
kept open, so the first round pays no handshakes. The calls of small rounds go through one
`NodeLane` per party, which sends them together (RoundControl.Batch) when they queue up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from coordinator.batching import NodeLane, batchable
from coordinator.metrics import CoordinatorMetrics
from coordinator.relay import check_receipts
from coordinator.round_failure import blame, is_unreachable
from mpcnode import failpoints
from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.config import Roster
from mpcnode.core.sealing import RECEIPT_BYTES, SEALED_BYTES
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import DeadlineExceeded, MpcError
from mpcnode.log_context import bind
from mpcnode.rpc.channels import open_party_channel
from mpcnode.rpc.status import from_call_error, from_rpc_error
from mpcnode.tls import TlsFiles
from mpcnode.wire.batches import MAX_CALLS, MAX_PARTIAL_ELEMENTS
from mpcnode.wire.specs import spec_to_proto
from mpcnode.wire.tensors import ChunkAdder

log = logging.getLogger(__name__)
# How long Prepare waits for a failed channel to come back before calling its party
# unreachable: longer than the channels' largest reconnect backoff (rpc/channels.py).
RECONNECT_WAIT_S = 2.0
_T = TypeVar("_T")


class NodeGateway:
    """One channel per roster party; the round-control calls with errors that name parties."""

    def __init__(
        self,
        roster: Roster,
        tls: TlsFiles,
        metrics: CoordinatorMetrics | None = None,
        batch: bool = True,
    ) -> None:
        self._roster = roster
        self._batch = batch
        self._tls = tls
        self._metrics = metrics or CoordinatorMetrics()
        self._stubs: dict[str, node_pb2_grpc.RoundControlAsyncStub] = {}
        self._channel_of: dict[str, grpc.aio.Channel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lanes: dict[str, NodeLane] = {}

    async def _stub(self, party: str) -> node_pb2_grpc.RoundControlAsyncStub:
        stub = self._stubs.get(party)
        if stub is not None:
            return stub
        # One lock per party: opening one channel (a pin pre-flight) never waits for another.
        async with self._locks.setdefault(party, asyncio.Lock()):
            if party not in self._stubs:
                entry = self._roster.get(party)
                if entry is None:
                    raise MpcError(f"{party} is not on the roster")
                channel = await open_party_channel(entry, self._tls, 10.0)
                self._channel_of[party] = channel
                self._stubs[party] = node_pb2_grpc.RoundControlStub(channel)
            return self._stubs[party]

    async def warm(self) -> None:
        """Open a channel to every roster party at once (best effort; failures are logged)."""

        async def one(party: str) -> None:
            try:
                await self._stub(party)
                await asyncio.wait_for(self._channel_of[party].channel_ready(), 10.0)
            except Exception as exc:
                log.info("channel to %s not ready yet: %s", party, exc)

        await asyncio.gather(*(one(p) for p in self._roster.ids))

    async def _reconnects(self, party: str, timeout: float) -> bool:
        """True when the channel to `party` becomes ready within a short wait."""
        channel = self._channel_of.get(party)
        if channel is None:
            return False
        try:
            await asyncio.wait_for(channel.channel_ready(), min(RECONNECT_WAIT_S, timeout))
        except TimeoutError:
            return False
        return True

    async def _call(self, party: str, step: str, call: Awaitable[Any], sent: int) -> Any:
        bind(peer=party)  # this call's task only: each call of a fan-out is a task of its own
        self._metrics.bytes_sent.labels(party).inc(sent)
        try:
            reply = await call
        except grpc.RpcError as err:
            error = blame(from_rpc_error(err, f"{party} ({step})"), party)
            if is_unreachable(error):
                self._metrics.peer_answered(party, False)
            raise error from None
        self._metrics.peer_answered(party, True)
        return reply

    def _lane(self, party: str) -> NodeLane:
        lane = self._lanes.get(party)
        if lane is None:

            async def send(
                request: node_pb2.BatchRequest, timeout: float
            ) -> AsyncGenerator[node_pb2.BatchReply, None]:
                stub = await self._stub(party)
                self._metrics.bytes_sent.labels(party).inc(request.ByteSize())
                call = stub.Batch(request, timeout=timeout)
                try:
                    async for reply in call:
                        yield reply
                except grpc.RpcError as err:
                    error = blame(from_rpc_error(err, f"{party} (batch)"), party)
                    self._metrics.peer_answered(party, not is_unreachable(error))
                    raise error from None
                finally:
                    call.cancel()  # no-op once it ended; else the reader stopped early
                self._metrics.peer_answered(party, True)

            observe = self._metrics.calls_per_message.observe
            lane = self._lanes[party] = NodeLane(party, send, observe=observe)
        return lane

    async def _round_call(
        self,
        party: str,
        step: str,
        call: node_pb2.RoundCall,
        alone: Callable[[float], Awaitable[_T]],
        timeout: float,
        unpack: Callable[[node_pb2.RoundCallResult], _T] | None = None,
    ) -> _T:
        """A call of a small round, through the party's lane (alone or in a batch); by
        default its batched answer is the reply field named like `step`."""
        if not self._batch:
            return await alone(timeout)

        def answer(result: node_pb2.RoundCallResult) -> _T:
            reply: _T = self._answer(party, step, result, step)
            return reply

        try:
            return await self._lane(party).call(call, alone, unpack or answer, timeout)
        except TimeoutError:
            self._metrics.peer_answered(party, False)
            raise DeadlineExceeded(
                f"{party} ({step}): no answer within {timeout:.1f} s", party=party
            ) from None

    def _answer(self, party: str, step: str, result: node_pb2.RoundCallResult, field: str) -> Any:
        """One result of a Batch: its reply, or the error the call alone would have raised."""
        which = result.WhichOneof("result")
        if which == "error":
            error = blame(from_call_error(result.error, f"{party} ({step})"), party)
            if is_unreachable(error):
                self._metrics.peer_answered(party, False)
            raise error
        if which != field:
            raise MpcError(
                f"{party} answered a {step} call in a Batch with {which or 'nothing'}",
                party=party,
            )
        return getattr(result, field)

    async def prepare(
        self,
        party: str,
        header: types_pb2.RoundHeader,
        spec: ComputationSpec,
        participants: tuple[str, ...],
        deadline_ms: int,
        timeout: float,
    ) -> list[node_pb2.SealedSeed]:
        """Ask one node to prepare; its sealed seeds, or its refusal or unreachability.

        The seeds are checked against the contract: one per other participant, each from the
        node, 80 sealed bytes and a 32-byte receipt; a node that breaks it is at fault.
        """
        request = node_pb2.PrepareRequest(
            header=header,
            spec=spec_to_proto(spec),
            participants=list(participants),
            deadline_unix_ms=deadline_ms,
        )
        try:
            stub = await self._stub(party)
        except MpcError as exc:
            raise blame(exc, party) from None

        async def alone(limit: float) -> node_pb2.PrepareReply:
            reply: node_pb2.PrepareReply = await self._call(
                party, "prepare", stub.Prepare(request, timeout=limit), request.ByteSize()
            )
            return reply

        async def once() -> node_pb2.PrepareReply:
            if not batchable(spec, participants):
                return await alone(timeout)
            call = node_pb2.RoundCall(prepare=request)
            return await self._round_call(party, "prepare", call, alone, timeout)

        try:
            reply = await once()
        except MpcError as exc:
            if exc.status != "UNAVAILABLE" or not await self._reconnects(party, timeout):
                raise
            # A node that restarted since the channel last failed: its channel was still
            # waiting to reconnect. Prepare is idempotent, so asking again is harmless.
            reply = await once()
        seeds = list(reply.seeds)
        recipients = sorted(s.recipient for s in seeds)
        others = sorted(p for p in participants if p != party)
        malformed = [
            s
            for s in seeds
            if s.sender != party or len(s.sealed) != SEALED_BYTES or len(s.receipt) != RECEIPT_BYTES
        ]
        if recipients != others or malformed:
            raise MpcError(
                f"{party} answered Prepare with {len(seeds)} seeds that are not one sealed seed "
                f"with its receipt for each of {', '.join(others)}",
                party=party,
            )
        return seeds

    async def share(
        self,
        party: str,
        header: types_pb2.RoundHeader,
        seeds: list[node_pb2.SealedSeed],
        receipts: dict[str, bytes],
        timeout: float,
    ) -> None:
        """Hand one node the seeds sealed to it; check it returns every seed's receipt.

        The receipts are the proof that the node answering for `party` holds `party`'s seal
        key (the senders predicted them). Otherwise the round fails naming `party`
        (PERMISSION_DENIED) before any node has released a partial. Opening n - 1 seeds is
        quick whatever the round's length, so any Share of at most 64 seeds may be batched.
        """
        stub = await self._stub(party)
        request = node_pb2.ShareRequest(header=header, seeds=seeds)

        async def alone(limit: float) -> node_pb2.ShareReply:
            reply: node_pb2.ShareReply = await self._call(
                party, "share", stub.Share(request, timeout=limit), request.ByteSize()
            )
            return reply

        if len(seeds) <= MAX_CALLS:
            call = node_pb2.RoundCall(share=request)
            reply = await self._round_call(party, "share", call, alone, timeout)
        else:
            reply = await alone(timeout)
        check_receipts(party, reply.receipts, receipts)

    async def collect(
        self,
        party: str,
        header: types_pb2.RoundHeader,
        total: npt.NDArray[np.uint64],
        timeout: float,
    ) -> None:
        """Add one node's partial sum into `total` (mod 2^64) chunk by chunk as it streams;
        a short one (at most 4,096 elements) comes in one piece, alone or in a batch."""
        stub = await self._stub(party)
        request = node_pb2.CollectPartialRequest(header=header)
        if len(total) <= MAX_PARTIAL_ELEMENTS:

            def add(result: node_pb2.RoundCallResult) -> None:
                self._add_partial(party, total, self._answer(party, "partial", result, "partial"))

            await self._round_call(
                party,
                "partial",
                node_pb2.RoundCall(collect=request),
                lambda limit: self._stream_partial(stub, party, request, total, limit),
                timeout,
                add,
            )
            return
        await self._stream_partial(stub, party, request, total, timeout)

    def _add_partial(
        self, party: str, total: npt.NDArray[np.uint64], piece: node_pb2.PartialChunk
    ) -> None:
        if piece.total_length != len(total):
            raise MpcError(f"{party} sent a partial of length {piece.total_length}", party=party)
        adder = ChunkAdder(total)
        adder.add(piece.chunk)
        failpoints.hit("mid-collect")
        adder.finish()

    async def _stream_partial(
        self,
        stub: node_pb2_grpc.RoundControlAsyncStub,
        party: str,
        request: node_pb2.CollectPartialRequest,
        total: npt.NDArray[np.uint64],
        timeout: float,
    ) -> None:
        adder = ChunkAdder(total)
        bind(peer=party)
        try:
            async for piece in stub.CollectPartial(request, timeout=timeout):
                if piece.total_length != len(total):
                    raise MpcError(
                        f"{party} sent a partial of length {piece.total_length}", party=party
                    )
                adder.add(piece.chunk)
                failpoints.hit("mid-collect")
        except grpc.RpcError as err:
            raise blame(from_rpc_error(err, f"{party} (partial)"), party) from None
        adder.finish()

    async def step(
        self,
        party: str,
        header: types_pb2.RoundHeader,
        step: int,
        messages: list[node_pb2.StepMessage],
        others: list[str],
        timeout: float,
    ) -> node_pb2.StepReply:
        """One step of a multi-step round at one node; its reply, checked against the
        contract (the step, one message from it to each of `others`, or output shares)."""
        stub = await self._stub(party)
        request = node_pb2.StepRequest(header=header, step=step, messages=messages)
        reply: node_pb2.StepReply = await self._call(
            party, "compute", stub.Step(request, timeout=timeout), request.ByteSize()
        )
        recipients = sorted(m.recipient for m in reply.messages)
        wrong = [m for m in reply.messages if m.sender != party or m.step != step]
        if reply.step != step or wrong or (reply.done and reply.messages):
            raise MpcError(f"{party} answered step {step} out of contract", party=party)
        if not reply.done and recipients != sorted(others):
            raise MpcError(
                f"{party} answered step {step} with messages for {', '.join(recipients)}, "
                f"not one for each of {', '.join(sorted(others))}",
                party=party,
            )
        return reply

    async def notify_end(self, party: str, header: types_pb2.RoundHeader, reason: str) -> None:
        """Best effort: tell a node to drop a round (Forget when published, else Abort)."""
        try:
            stub = await self._stub(party)
            if reason == "published":
                await stub.Forget(node_pb2.ForgetRequest(header=header), timeout=5.0)
            else:
                await stub.Abort(node_pb2.AbortRequest(header=header, reason=reason), timeout=5.0)
        except Exception as exc:
            log.info(
                "could not tell %s that round %s ended: %s", party, header.round_id.hex()[:8], exc
            )

    async def close(self) -> None:
        """Close every channel."""
        for lane in self._lanes.values():
            await lane.close()
        for channel in self._channel_of.values():
            await channel.close(None)
