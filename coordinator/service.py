"""The coordinator's gRPC servicer for analysts: thin, errors mapped in one place."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
import numpy as np

from coordinator.config import AccessSettings
from coordinator.outputs import poll_stderr
from coordinator.sequencer import Sequencer
from coordinator.store import Computation, CoordinatorStore, Event
from mpcnode.api.v1 import coordinator_pb2 as cpb
from mpcnode.api.v1 import coordinator_pb2_grpc
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.result_privacy import result_privacy
from mpcnode.core.spec import reader_names
from mpcnode.errors import PermissionDenied
from mpcnode.pki import Role
from mpcnode.protocols.plan import revealed, threat_model
from mpcnode.rpc.status import rpc_method
from mpcnode.tls import caller_identity
from mpcnode.wire.reports import report_to_proto
from mpcnode.wire.specs import spec_from_proto, spec_to_proto
from mpcnode.wire.tensors import iter_chunks

Context = grpc.aio.ServicerContext[Any, Any]
_STATES = {
    "pending": pb.COMPUTATION_STATE_PENDING,
    "running": pb.COMPUTATION_STATE_RUNNING,
    "published": pb.COMPUTATION_STATE_PUBLISHED,
    "failed": pb.COMPUTATION_STATE_FAILED,
}
_PHASES = {
    "created": pb.PHASE_CREATED,
    "prepare": pb.PHASE_PREPARE,
    "share": pb.PHASE_SHARE,
    "partial": pb.PHASE_PARTIAL,
    "compute": pb.PHASE_COMPUTE,
    "published": pb.PHASE_PUBLISHED,
    "aborted": pb.PHASE_ABORTED,
    "failed": pb.PHASE_ABORTED,
}
# A statement is a pure function of (spec, contributors, stderr) and its 95% interval costs an
# FFT over the noise law, so results that are read often are stated once.
_statement = functools.lru_cache(maxsize=256)(result_privacy)
_DTYPES = {"int64": pb.DTYPE_INT64, "float64": pb.DTYPE_FLOAT64}


class CoordinatorService(coordinator_pb2_grpc.CoordinatorServicer):
    """Analyst -> coordinator."""

    def __init__(
        self, sequencer: Sequencer, store: CoordinatorStore, access: AccessSettings
    ) -> None:
        self._sequencer = sequencer
        self._store = store
        self._access = access

    def _analyst(self, context: Context) -> str:
        ident = caller_identity(context).identity
        allowed = not self._access.analysts or ident.name in self._access.analysts
        if ident.role is not Role.ANALYST or not allowed:
            raise PermissionDenied(
                f"certificate {ident.role.value} {ident.name!r} may not use the analyst API; "
                "it needs an analyst certificate listed in the coordinator's access.analysts"
            )
        return ident.name

    @rpc_method
    async def CreateComputation(
        self, request: cpb.CreateComputationRequest, context: Context
    ) -> pb.ComputationRef:
        """Validate and start a computation."""
        self._analyst(context)
        cid = await self._sequencer.create(spec_from_proto(request.spec), tuple(request.parties))
        return pb.ComputationRef(computation_id=cid)

    @rpc_method
    async def WatchComputation(
        self, request: pb.ComputationRef, context: Context
    ) -> AsyncIterator[cpb.ComputationEvent]:
        """Stream a computation's events until it ends."""
        self._analyst(context)
        async for event in self._sequencer.watch(request.computation_id):
            yield _event(request, event)

    @rpc_method
    async def GetComputation(
        self, request: pb.ComputationRef, context: Context
    ) -> cpb.ComputationStatus:
        """Where one computation stands."""
        self._analyst(context)
        comp = await asyncio.to_thread(self._store.get, request.computation_id)
        return _status(comp)

    @rpc_method
    async def ListComputations(
        self, request: cpb.ListComputationsRequest, context: Context
    ) -> cpb.ListComputationsReply:
        """The newest computations."""
        self._analyst(context)
        comps = await asyncio.to_thread(self._store.recent, request.limit or 100)
        return cpb.ListComputationsReply(computations=[_status(c) for c in comps])

    @rpc_method
    async def ListParties(
        self, request: cpb.ListPartiesRequest, context: Context
    ) -> cpb.ListPartiesReply:
        """The roster's parties (whom an invitation of everyone invites)."""
        self._analyst(context)
        return cpb.ListPartiesReply(parties=list(self._sequencer.parties))

    @rpc_method
    async def GetResult(
        self, request: pb.ComputationRef, context: Context
    ) -> AsyncIterator[cpb.ResultChunk]:
        """Stream a published result to an allowed reader."""
        name = self._analyst(context)
        result = await asyncio.to_thread(self._store.result, request.computation_id)
        comp = result.computation
        if comp.spec.readers and name not in reader_names(comp.spec.readers):
            raise PermissionDenied(
                f"analyst {name!r} is not among this result's readers "
                f"({', '.join(comp.spec.readers)})"
            )
        yield cpb.ResultChunk(
            header=pb.ResultHeader(
                ref=request,
                spec=spec_to_proto(comp.spec),
                round_id=result.round_id,
                participants=list(comp.participants),
                privacy=report_to_proto(
                    _statement(comp.spec, len(comp.participants), poll_stderr(result.outputs))
                ),
                outputs=[o.name for o in result.outputs],
                output_dtypes=[_DTYPES[o.values.dtype.name] for o in result.outputs],
                created_unix_ms=comp.created_ms,
                published_unix_ms=comp.updated_ms,
                dropped=_dropped(comp),
                threat_model=threat_model(comp.spec, len(comp.participants)),
                revealed=revealed(comp.spec, len(comp.participants)),
            )
        )
        for index, output in enumerate(result.outputs):
            for chunk in iter_chunks(np.ascontiguousarray(output.values)):
                yield cpb.ResultChunk(
                    output=cpb.OutputChunk(
                        output_index=index, total_length=len(output.values), chunk=chunk
                    )
                )


def _status(comp: Computation) -> cpb.ComputationStatus:
    return cpb.ComputationStatus(
        ref=pb.ComputationRef(computation_id=comp.id),
        spec=spec_to_proto(comp.spec),
        state=_STATES[comp.state],
        reason=comp.reason,
        attempts=comp.attempts,
        participants=list(comp.participants or comp.parties),
        created_unix_ms=comp.created_ms,
        updated_unix_ms=comp.updated_ms,
        dropped=_dropped(comp),
    )


def _dropped(comp: Computation) -> list[pb.DroppedParty]:
    return [pb.DroppedParty(party=p, reason=r) for p, r in comp.dropped]


def _event(ref: pb.ComputationRef, event: Event) -> cpb.ComputationEvent:
    return cpb.ComputationEvent(
        ref=ref,
        sequence=event.seq,
        round_id=event.round_id,
        attempt=event.attempt,
        phase=_PHASES[event.phase],
        state=_STATES[event.state],
        participants=list(event.participants),
        party=event.party,
        message=event.message,
        unix_ms=event.unix_ms,
    )
