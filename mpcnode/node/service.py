"""The node's gRPC servicers: decode, check the caller, call the round book, encode.

Thin on purpose: every rule is in `rounds` (protocol), `access` (who may call) and `store`
(durable state). Errors become statuses in `mpcnode.rpc.status`, nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import grpc.aio

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.core.sealing import RECEIPT_BYTES, SEALED_BYTES
from mpcnode.errors import InvalidInput, MpcError, shown
from mpcnode.log_context import bind
from mpcnode.node.access import NodeAccess
from mpcnode.node.metrics import NodeMetrics
from mpcnode.node.rounds import RELEASED, RoundBook
from mpcnode.rpc.status import call_error, rpc_method
from mpcnode.wire.batches import MAX_PARTIAL_ELEMENTS, METHODS, batch_calls
from mpcnode.wire.specs import spec_from_proto
from mpcnode.wire.tensors import CHUNK_ELEMENTS, to_tensor

log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]
_INLINE_ELEMENTS = 4096  # smaller slices are computed on the event loop: a thread hop costs more
_COALESCE_S = 0.002  # a batch's answers ready within this of each other go in one message


class RoundControlService(node_pb2_grpc.RoundControlServicer):
    """Coordinator -> node: prepare (answering with sealed seeds), share, collect, end; and
    batches of the first three for small rounds."""

    def __init__(
        self, book: RoundBook, access: NodeAccess, metrics: NodeMetrics | None = None
    ) -> None:
        self._book = book
        self._access = access
        self._metrics = metrics or NodeMetrics()

    @contextlib.contextmanager
    def _counted(self, method: str, header: types_pb2.RoundHeader) -> Iterator[None]:
        """Count the call by its outcome's gRPC status (a refusal is still counted); its log
        lines carry the round and the method as the phase."""
        bind(round_id=header.round_id[:16].hex(), phase=method, peer="coordinator")
        try:
            yield
        except MpcError as exc:
            self._metrics.calls.labels(method, exc.status).inc()
            raise
        self._metrics.calls.labels(method, "OK").inc()

    @rpc_method
    async def Prepare(
        self, request: node_pb2.PrepareRequest, context: Context
    ) -> node_pb2.PrepareReply:
        """Accept the round with this node's sealed seeds, or refuse it with the rule."""
        self._access.coordinator(context)
        return await self._prepare(request)

    async def _prepare(self, request: node_pb2.PrepareRequest) -> node_pb2.PrepareReply:
        with self._counted("Prepare", request.header):
            state = await self._book.prepare(
                request.header.round_id,
                request.header.transcript_hash,
                spec_from_proto(request.spec),
                tuple(request.participants),
                request.deadline_unix_ms,
            )
        return node_pb2.PrepareReply(
            seeds=[
                node_pb2.SealedSeed(
                    sender=self._book.party_id,
                    recipient=s.recipient,
                    sealed=s.sealed,
                    receipt=s.receipt,
                )
                for s in state.seeds
            ]
        )

    @rpc_method
    async def Share(self, request: node_pb2.ShareRequest, context: Context) -> node_pb2.ShareReply:
        """Open the seeds the other participants sealed to this node; answer their receipts."""
        self._access.coordinator(context)
        return await self._share(request)

    async def _share(self, request: node_pb2.ShareRequest) -> node_pb2.ShareReply:
        header = request.header
        with self._counted("Share", request.header):
            incoming = _incoming_seeds(request.seeds, self._book.party_id)
            receipts = await self._book.accept_seeds(
                header.round_id, header.transcript_hash, incoming
            )
        return node_pb2.ShareReply(
            receipts=[node_pb2.SeedReceipt(sender=p, receipt=r) for p, r in receipts.items()]
        )

    @rpc_method
    async def CollectPartial(
        self, request: node_pb2.CollectPartialRequest, context: Context
    ) -> AsyncIterator[node_pb2.PartialChunk]:
        """Record the release, then stream the partial sum, computed slice by slice."""
        self._access.coordinator(context)
        header = request.header
        with self._counted("CollectPartial", request.header):
            stream = await self._book.release_partial(header.round_id, header.transcript_hash)
        try:
            for start in range(0, stream.length, CHUNK_ELEMENTS):
                count = min(CHUNK_ELEMENTS, stream.length - start)
                if count <= _INLINE_ELEMENTS:
                    part = stream.chunk(start, count)
                else:
                    part = await asyncio.to_thread(stream.chunk, start, count)
                chunk = types_pb2.TensorChunk(offset=start, part=to_tensor(part))
                yield node_pb2.PartialChunk(total_length=stream.length, chunk=chunk)
        finally:  # released: nothing of the round is left to do here, whatever the stream did
            self._book.end(header.round_id, RELEASED)

    @rpc_method
    async def Batch(
        self, request: node_pb2.BatchRequest, context: Context
    ) -> AsyncIterator[node_pb2.BatchReply]:
        """Carry out every call of the batch concurrently, each as it would be alone; stream
        the answers as they are ready, so a slow call holds up no other."""
        self._access.coordinator(context)
        calls = batch_calls(request)
        pending = {
            asyncio.create_task(self._batched(index, kind, call))
            for index, (kind, call) in enumerate(calls)
        }
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if pending:  # calls ending a moment apart share one message
                    more, pending = await asyncio.wait(pending, timeout=_COALESCE_S)
                    done |= more
                yield node_pb2.BatchReply(results=[task.result() for task in done])
        finally:  # the coordinator went away: what it no longer waits for is not carried out
            for task in pending:
                task.cancel()

    async def _batched(
        self, index: int, kind: str, call: node_pb2.RoundCall
    ) -> node_pb2.RoundCallResult:
        """One call of a batch (a task of its own: its log lines carry its own round)."""
        try:
            if kind == "prepare":
                reply = node_pb2.RoundCallResult(prepare=await self._prepare(call.prepare))
            elif kind == "share":
                reply = node_pb2.RoundCallResult(share=await self._share(call.share))
            else:
                reply = node_pb2.RoundCallResult(partial=await self._partial(call.collect))
        except Exception as exc:
            reply = node_pb2.RoundCallResult(error=call_error(exc, f"{METHODS[kind]} in a Batch"))
        reply.call = index
        return reply

    async def _partial(self, request: node_pb2.CollectPartialRequest) -> node_pb2.PartialChunk:
        """A small round's partial in one chunk (a longer one is refused before its release)."""
        header = request.header
        with self._counted("CollectPartial", header):
            stream = await self._book.release_partial(
                header.round_id, header.transcript_hash, longest=MAX_PARTIAL_ELEMENTS
            )
        try:
            part = to_tensor(stream.chunk(0, stream.length))
            chunk = types_pb2.TensorChunk(offset=0, part=part)
            return node_pb2.PartialChunk(total_length=stream.length, chunk=chunk)
        finally:  # as after a streamed partial: nothing of the round is left to do here
            self._book.end(header.round_id, RELEASED)

    @rpc_method
    async def Step(self, request: node_pb2.StepRequest, context: Context) -> node_pb2.StepReply:
        """One step of a multi-step round: this node's sealed messages, or its output shares."""
        self._access.coordinator(context)
        header = request.header
        with self._counted("Step", request.header):
            messages = _step_messages(request.messages, self._book.party_id, request.step)
            outcome = await self._book.step(
                header.round_id, header.transcript_hash, request.step, messages
            )
        return node_pb2.StepReply(
            step=outcome.step,
            messages=[
                node_pb2.StepMessage(
                    sender=self._book.party_id, recipient=r, step=outcome.step, sealed=m
                )
                for r, m in outcome.messages.items()
            ],
            done=outcome.done,
            output_shares=outcome.output,
        )

    @rpc_method
    async def Abort(self, request: node_pb2.AbortRequest, context: Context) -> node_pb2.AbortReply:
        """Drop the round; idempotent."""
        self._access.coordinator(context)
        self._book.end(request.header.round_id, f"aborted: {request.reason[:200]}")
        return node_pb2.AbortReply()

    @rpc_method
    async def Forget(
        self, request: node_pb2.ForgetRequest, context: Context
    ) -> node_pb2.ForgetReply:
        """Drop a published round; idempotent."""
        self._access.coordinator(context)
        self._book.end(request.header.round_id, "published")
        return node_pb2.ForgetReply()


def _incoming_seeds(seeds: Sequence[node_pb2.SealedSeed], party: str) -> dict[str, bytes]:
    """The relayed seeds by sender; INVALID_ARGUMENT for a malformed or misaddressed one."""
    by_sender: dict[str, bytes] = {}
    for seed in seeds:
        if seed.recipient != party:
            raise InvalidInput(
                f"a seed addressed to {shown(seed.recipient)} was relayed to {party}"
            )
        if len(seed.sealed) != SEALED_BYTES:
            raise InvalidInput(f"a sealed seed is {SEALED_BYTES} bytes, not {len(seed.sealed)}")
        if seed.receipt:
            raise InvalidInput(
                f"a relayed seed carries no receipt (only a PrepareReply does; {RECEIPT_BYTES} "
                "bytes there)"
            )
        if seed.sender in by_sender:
            raise InvalidInput(f"two seeds from {shown(seed.sender)}; one per sender")
        by_sender[seed.sender] = seed.sealed
    return by_sender


def _step_messages(
    messages: Sequence[node_pb2.StepMessage], party: str, step: int
) -> dict[str, bytes]:
    """The relayed messages of step - 1 by sender; INVALID_ARGUMENT for a misaddressed one."""
    if step < 1:
        raise InvalidInput("steps are numbered from 1")
    by_sender: dict[str, bytes] = {}
    for message in messages:
        if message.recipient != party:
            raise InvalidInput(
                f"a step message addressed to {shown(message.recipient)} was relayed to {party}"
            )
        if message.step != step - 1:
            raise InvalidInput(
                f"step {step} carries the messages of step {step - 1}, not of step {message.step}"
            )
        if message.sender in by_sender:
            raise InvalidInput(f"two step messages from {shown(message.sender)}; one per sender")
        by_sender[message.sender] = message.sealed
    return by_sender
