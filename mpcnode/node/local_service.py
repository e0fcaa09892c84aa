"""The organization's own systems -> its node (the Local service): its private inputs.

Only the organization's own client certificates may call (`NodeAccess.local`). Errors here
go back to the owner, so they may say what is wrong with its values or records.
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
from mpcnode.core.declaration import Shape
from mpcnode.core.privacy import Mechanism, Placement, Unit
from mpcnode.core.spec import MAX_LENGTH, check_dataset_name
from mpcnode.errors import InvalidInput, PreconditionFailed, shown
from mpcnode.node.access import NodeAccess
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.store import NodeStore
from mpcnode.node.stored import StoredInput
from mpcnode.records.load import load_records
from mpcnode.records.source import RecordSource
from mpcnode.rpc.status import rpc_method
from mpcnode.wire.budgets import budget_to_proto
from mpcnode.wire.declarations import declaration_from_proto, declaration_to_proto
from mpcnode.wire.specs import MECHANISMS, PLACEMENTS, UNITS, key_of
from mpcnode.wire.tensors import ChunkAssembler

log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]
_DTYPES = {types_pb2.DTYPE_INT64: np.dtype(np.int64), types_pb2.DTYPE_FLOAT64: np.dtype(np.float64)}


class LocalService(node_pb2_grpc.LocalServicer):
    """The organization's own systems -> its node: manage its private inputs."""

    def __init__(
        self,
        store: NodeStore,
        access: NodeAccess,
        budget: BudgetPolicy,
        sources: dict[str, RecordSource] | None = None,
    ) -> None:
        self._store = store
        self._access = access
        self._budget = budget
        self._sources = sources or {}
        self._loading = asyncio.Lock()  # one load at a time: each may read millions of rows

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
        return input_info(stored)

    @rpc_method
    async def LoadRecords(
        self, request: node_pb2.LoadRecordsRequest, context: Context
    ) -> node_pb2.InputInfo:
        """Compute a records dataset's contribution from its configured source, and store it."""
        client = self._access.local(context)
        check_dataset_name(request.dataset)
        declaration = (await asyncio.to_thread(self._store.dataset, request.dataset)).declaration
        source = self._sources.get(request.dataset)
        if source is None or declaration.shape is not Shape.COHORTS:
            raise PreconditionFailed(
                f"dataset {shown(request.dataset)} has no records source: declare it in the "
                f'node\'s config with shape = "cohorts" and a [datasets.{request.dataset}'
                ".source] table",
                reason="NO_RECORDS_SOURCE",
            )
        async with self._loading:
            snapshot = await asyncio.to_thread(load_records, source, declaration)
            stored = await asyncio.to_thread(
                self._store.put_input,
                request.dataset,
                snapshot.values,
                None,
                None,
                snapshot.text(),
            )
        log.info(
            "records for %r (period %s) loaded by client %s: %d of %d rows",
            request.dataset,
            stored.period,
            client,
            snapshot.rows_used,
            snapshot.rows_read,
        )
        return input_info(stored)

    @rpc_method
    async def ListInputs(
        self, request: node_pb2.ListInputsRequest, context: Context
    ) -> node_pb2.ListInputsReply:
        """What this node holds, without the values."""
        self._access.local(context)
        inputs = await asyncio.to_thread(self._store.list_inputs)
        return node_pb2.ListInputsReply(inputs=[input_info(i) for i in inputs])

    @rpc_method
    async def DeleteInput(
        self, request: node_pb2.DeleteInputRequest, context: Context
    ) -> node_pb2.InputInfo:
        """Delete a dataset's input (NOT_FOUND when there is none)."""
        self._access.local(context)
        return input_info(await asyncio.to_thread(self._store.delete_input, request.dataset))

    @rpc_method
    async def ListReleases(
        self, request: node_pb2.ListReleasesRequest, context: Context
    ) -> node_pb2.ListReleasesReply:
        """Every partial this node released."""
        self._access.local(context)
        releases = await asyncio.to_thread(self._store.list_releases, request.dataset)
        return node_pb2.ListReleasesReply(releases=[release_to_proto(r) for r in releases])

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


def input_info(stored: StoredInput) -> node_pb2.InputInfo:
    """What the node holds for a dataset, as the owner's listing shows it (no values)."""
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
        snapshot=stored.snapshot,
    )


def release_to_proto(record: ReleaseRecord) -> node_pb2.Release:
    """One audit-trail entry as its mpc.v1 message."""
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
        snapshot=record.snapshot,
    )


PLACEMENTS_BY_NAME = {p.value: p for p in Placement}
