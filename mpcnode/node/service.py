"""The node's gRPC servicers: decode, check the caller, call the round book, encode.

Thin on purpose: every rule is in `rounds` (protocol), `access` (who may call) and `store`
(durable state). Errors become statuses in `mpcnode.rpc.status`, nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
import numpy as np

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.config import BudgetPolicy
from mpcnode.core.privacy import Mechanism, Placement, Unit
from mpcnode.core.spec import MAX_LENGTH, check_dataset_name
from mpcnode.errors import InvalidInput, Unimplemented
from mpcnode.node.access import NodeAccess
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.peers import PeerChannels
from mpcnode.node.rounds import RoundBook
from mpcnode.node.store import NodeStore, StoredInput
from mpcnode.rpc.status import rpc_method
from mpcnode.wire.budgets import budget_to_proto
from mpcnode.wire.declarations import declaration_from_proto, declaration_to_proto
from mpcnode.wire.specs import MECHANISMS, PLACEMENTS, UNITS, key_of, spec_from_proto
from mpcnode.wire.tensors import ChunkAssembler, iter_chunks

log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]
_DTYPES = {types_pb2.DTYPE_INT64: np.dtype(np.int64), types_pb2.DTYPE_FLOAT64: np.dtype(np.float64)}


class RoundControlService(node_pb2_grpc.RoundControlServicer):
    """Coordinator -> node: prepare, share, collect the partial, abort, forget."""

    def __init__(self, book: RoundBook, peers: PeerChannels, access: NodeAccess) -> None:
        self._book = book
        self._peers = peers
        self._access = access

    @rpc_method
    async def Prepare(
        self, request: node_pb2.PrepareRequest, context: Context
    ) -> node_pb2.PrepareReply:
        """Accept the round, or refuse it with the status and rule that refused it."""
        self._access.coordinator(context)
        await self._book.prepare(
            request.header.round_id,
            request.header.transcript_hash,
            spec_from_proto(request.spec),
            tuple(request.participants),
            request.deadline_unix_ms,
        )
        return node_pb2.PrepareReply()

    @rpc_method
    async def Share(self, request: node_pb2.ShareRequest, context: Context) -> node_pb2.ShareReply:
        """Push one share to every other participant; fail naming the first peer that failed."""
        self._access.coordinator(context)
        header = request.header
        outgoing = self._book.shares_to_send(header.round_id, header.transcript_hash)
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None else 60.0
        results = await asyncio.gather(
            *(self._peers.push_share(peer, header, share, timeout) for peer, share in outgoing),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        self._book.share_phase_done(header.round_id, ok=not failures)
        if failures:
            raise failures[0]
        return node_pb2.ShareReply(delivered=len(outgoing))

    @rpc_method
    async def CollectPartial(
        self, request: node_pb2.CollectPartialRequest, context: Context
    ) -> AsyncIterator[node_pb2.PartialChunk]:
        """Wait for every share, record the release, stream the partial sum."""
        self._access.coordinator(context)
        header = request.header
        partial = await self._book.release_partial(header.round_id, header.transcript_hash)
        for chunk in iter_chunks(partial):
            yield node_pb2.PartialChunk(total_length=len(partial), chunk=chunk)

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


class PeerService(node_pb2_grpc.PeerServicer):
    """Node -> node: receive one share of a round from a participant."""

    def __init__(self, book: RoundBook, access: NodeAccess) -> None:
        self._book = book
        self._access = access

    @rpc_method
    async def PushShare(
        self, request_iterator: AsyncIterator[node_pb2.ShareChunk], context: Context
    ) -> node_pb2.ShareAck:
        """Admit the sender, assemble its chunks, hand the share to the round."""
        sender = self._access.party(context)
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise InvalidInput("empty share stream: send at least one ShareChunk")
        if first.WhichOneof("body") == "seed":
            raise Unimplemented("seed-expanded shares are not supported by this node version")
        header = first.header
        state = self._book.begin_receive(
            header.round_id, header.transcript_hash, sender, first.total_length
        )
        share = None
        try:
            assembler = ChunkAssembler(first.total_length, np.dtype(np.uint64))
            assembler.add(first.share)
            async for chunk in request_iterator:
                if chunk.header != header or chunk.total_length != first.total_length:
                    raise InvalidInput("every ShareChunk of a stream must repeat the same header")
                assembler.add(chunk.share)
            share = assembler.result()
        finally:
            self._book.end_receive(state, sender, share)
        return node_pb2.ShareAck()


class LocalService(node_pb2_grpc.LocalServicer):
    """The organization's own systems -> its node: manage its private inputs."""

    def __init__(self, store: NodeStore, access: NodeAccess, budget: BudgetPolicy) -> None:
        self._store = store
        self._access = access
        self._budget = budget

    @rpc_method
    async def SubmitInput(
        self, request_iterator: AsyncIterator[node_pb2.SubmitInputChunk], context: Context
    ) -> node_pb2.InputInfo:
        """Check an input against its declaration (declaring it if sent) and store it."""
        client = self._access.local(context)
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise InvalidInput("empty input stream: send at least one SubmitInputChunk")
        check_dataset_name(first.dataset)
        declaration = (
            declaration_from_proto(first.declaration) if first.HasField("declaration") else None
        )
        dtype = _DTYPES.get(first.chunk.part.dtype)
        if dtype is None:
            raise InvalidInput("an input must be INT64 or FLOAT64")
        if not 0 <= first.total_length <= MAX_LENGTH:
            raise InvalidInput(f"an input has 0 to {MAX_LENGTH} elements, not {first.total_length}")
        assembler = ChunkAssembler(first.total_length, dtype)
        assembler.add(first.chunk)
        async for chunk in request_iterator:
            if chunk.dataset != first.dataset or chunk.total_length != first.total_length:
                raise InvalidInput("every chunk of an input must repeat its dataset and length")
            assembler.add(chunk.chunk)
        values = assembler.result()
        stored = await asyncio.to_thread(
            self._store.put_input, first.dataset, values, declaration, first.period or None
        )
        log.info(
            "input for %r (period %s) submitted by client %s (%d elements)",
            first.dataset,
            stored.period,
            client,
            len(values),
        )
        return _input_info(stored)

    @rpc_method
    async def ListInputs(
        self, request: node_pb2.ListInputsRequest, context: Context
    ) -> node_pb2.ListInputsReply:
        """What this node holds, without the values."""
        self._access.local(context)
        inputs = await asyncio.to_thread(self._store.list_inputs)
        return node_pb2.ListInputsReply(inputs=[_input_info(i) for i in inputs])

    @rpc_method
    async def DeleteInput(
        self, request: node_pb2.DeleteInputRequest, context: Context
    ) -> node_pb2.InputInfo:
        """Delete a dataset's input (NOT_FOUND when there is none)."""
        self._access.local(context)
        return _input_info(await asyncio.to_thread(self._store.delete_input, request.dataset))

    @rpc_method
    async def ListReleases(
        self, request: node_pb2.ListReleasesRequest, context: Context
    ) -> node_pb2.ListReleasesReply:
        """Every partial this node released."""
        self._access.local(context)
        releases = await asyncio.to_thread(self._store.list_releases, request.dataset)
        return node_pb2.ListReleasesReply(releases=[_release(r) for r in releases])

    @rpc_method
    async def ListBudgets(
        self, request: node_pb2.ListBudgetsRequest, context: Context
    ) -> node_pb2.ListBudgetsReply:
        """Each dataset's privacy budget: cap, spent, held by open rounds."""
        self._access.local(context)
        rows = await asyncio.to_thread(self._store.budgets, self._budget.caps_for, request.dataset)
        return node_pb2.ListBudgetsReply(
            budgets=[budget_to_proto(r, self._budget.delta) for r in rows]
        )


def _input_info(stored: StoredInput) -> node_pb2.InputInfo:
    dtype = types_pb2.DTYPE_INT64 if stored.values.dtype == np.int64 else types_pb2.DTYPE_FLOAT64
    return node_pb2.InputInfo(
        dataset=stored.dataset,
        input_id=stored.input_id,
        dtype=dtype,
        length=len(stored.values),
        submitted_unix_ms=stored.submitted_ms,
        releases=stored.releases,
        declaration=declaration_to_proto(stored.declaration),
        declaration_fingerprint=stored.declaration.fingerprint,
        period=stored.period,
    )


def _release(record: ReleaseRecord) -> node_pb2.Release:
    own = record.costs.get(record.unit)
    org = record.costs.get("organization")
    placement = PLACEMENTS_BY_NAME.get(record.placement)
    return node_pb2.Release(
        mechanism=key_of(MECHANISMS, Mechanism(record.mechanism)),
        epsilon=str(own.epsilon) if own else "0",
        rho=str(own.rho) if own else "0",
        sampler=record.sampler,
        round_id=record.round_id,
        transcript_hash=record.transcript_hash,
        dataset=record.dataset,
        input_id=record.input_id,
        computation=record.computation,
        participants=list(record.participants),
        released_unix_ms=record.released_ms,
        period=record.period,
        function=record.function,
        placement=(
            types_pb2.Privacy.PLACEMENT_UNSPECIFIED
            if placement is None
            else key_of(PLACEMENTS, placement)
        ),
        unit=key_of(UNITS, Unit(record.unit)),
        declaration_fingerprint=record.declaration,
        organization_epsilon=str(org.epsilon) if org else "0",
        organization_rho=str(org.rho) if org else "0",
    )


PLACEMENTS_BY_NAME = {p.value: p for p in Placement}
