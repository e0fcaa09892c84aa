"""Client of the coordinator's analyst API: create computations, follow them, read results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mpcnode.api.v1 import coordinator_pb2 as cpb
from mpcnode.api.v1 import coordinator_pb2_grpc
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.client.channel import ChannelClient, call, translated
from mpcnode.core.result_privacy import ResultPrivacy
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import DeadlineExceeded, PreconditionFailed
from mpcnode.pki import Identity, Role
from mpcnode.tls import TlsFiles
from mpcnode.wire.reports import report_from_proto
from mpcnode.wire.specs import spec_from_proto, spec_to_proto
from mpcnode.wire.tensors import ChunkAssembler

_STATE = {v: k.removeprefix("COMPUTATION_STATE_").lower() for k, v in pb.ComputationState.items()}
_PHASE = {v: k.removeprefix("PHASE_").lower() for k, v in pb.Phase.items()}
_NUMPY = {pb.DTYPE_INT64: np.dtype(np.int64), pb.DTYPE_FLOAT64: np.dtype(np.float64)}


@dataclass(frozen=True)
class Progress:
    """One event of a computation: a phase reached, a round aborted (with why), the end."""

    sequence: int
    round_id: str
    attempt: int
    phase: str
    state: str
    participants: tuple[str, ...]
    party: str
    message: str


@dataclass(frozen=True)
class ComputationInfo:
    """Where a computation stands; `reason` names the party and phase when it failed."""

    computation_id: str
    spec: ComputationSpec
    state: str
    reason: str
    attempts: int
    participants: tuple[str, ...]
    created_unix_ms: int
    updated_unix_ms: int
    dropped: tuple[tuple[str, str], ...] = ()  # (party, reason) a retry went on without


@dataclass(frozen=True)
class Result:
    """A published aggregate: named outputs (e.g. "sum", "mean") and who took part."""

    computation_id: str
    spec: ComputationSpec
    round_id: str
    participants: tuple[str, ...]
    outputs: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]]
    privacy: ResultPrivacy
    published_unix_ms: int
    # Invited parties the round went on without, each with the reason (party, reason).
    dropped: tuple[tuple[str, str], ...] = ()
    threat_model: str = ""  # e.g. "honest majority, passive, t = 1 of 3 parties ..."
    revealed: str = ""  # exactly what the result reveals, in words

    def party(self, output: str) -> str:
        """The party id an index output names (argmax, argmin, an auction's winner)."""
        return self.participants[int(self.outputs[output][0])]

    @property
    def mechanism(self) -> str:
        """The privacy mechanism's name ("none" for an exact aggregate)."""
        return self.privacy.mechanism.value


WATCH_TIMEOUT_S = 600.0
"""How long `watch` and `run` follow a computation by default before giving up on it (the
computation itself goes on; `status` and `result` find it later)."""


class CoordinatorClient(ChannelClient):
    """The analyst API of a coordinator, called with an analyst certificate."""

    def __init__(
        self,
        address: str,
        tls: TlsFiles,
        coordinator: str = "coordinator",
        timeout: float = 60.0,
    ) -> None:
        super().__init__(address, Identity(Role.COORDINATOR, coordinator), tls)
        self._stub = coordinator_pb2_grpc.CoordinatorStub(self._channel)
        self._timeout = timeout
        self._what = self.target(f"coordinator at {address}")

    def create(self, spec: ComputationSpec, parties: tuple[str, ...] = ()) -> str:
        """Start a computation; returns its id. Refusals raise InvalidInput etc."""
        request = cpb.CreateComputationRequest(spec=spec_to_proto(spec), parties=list(parties))
        ref = call(self._what, lambda: self._stub.CreateComputation(request, timeout=self._timeout))
        return ref.computation_id

    def watch(self, computation_id: str, timeout: float = WATCH_TIMEOUT_S) -> Iterator[Progress]:
        """Yield a computation's events from the first until it is published or failed.

        After `timeout` seconds, DeadlineExceeded saying that the computation still runs
        (watching again, or `status`, picks it up: events are kept).
        """
        ref = pb.ComputationRef(computation_id=computation_id)
        try:
            yield from self._follow(ref, timeout)
        except DeadlineExceeded:
            raise DeadlineExceeded(
                f"{self._what}: computation {computation_id} is still running after {timeout:g} "
                "s of watching; watch it again, or ask for its status or result later"
            ) from None

    def _follow(self, ref: pb.ComputationRef, timeout: float) -> Iterator[Progress]:
        with translated(self._what):
            for e in self._stub.WatchComputation(ref, timeout=timeout):
                yield Progress(
                    e.sequence,
                    e.round_id.hex(),
                    e.attempt,
                    _PHASE[e.phase],
                    _STATE[e.state],
                    tuple(e.participants),
                    e.party,
                    e.message,
                )

    def status(self, computation_id: str) -> ComputationInfo:
        """Where one computation stands."""
        ref = pb.ComputationRef(computation_id=computation_id)
        return _info(
            call(self._what, lambda: self._stub.GetComputation(ref, timeout=self._timeout))
        )

    def list(self, limit: int = 100) -> list[ComputationInfo]:
        """The newest computations first."""
        request = cpb.ListComputationsRequest(limit=limit)
        reply = call(
            self._what, lambda: self._stub.ListComputations(request, timeout=self._timeout)
        )
        return [_info(c) for c in reply.computations]

    def parties(self) -> tuple[str, ...]:
        """The parties on the coordinator's roster (whom `create` invites by default)."""
        request = cpb.ListPartiesRequest()
        reply = call(self._what, lambda: self._stub.ListParties(request, timeout=self._timeout))
        return tuple(reply.parties)

    def result(self, computation_id: str) -> Result:
        """The published result (FAILED_PRECONDITION while not published)."""
        ref = pb.ComputationRef(computation_id=computation_id)
        header: pb.ResultHeader | None = None
        assemblers: dict[int, ChunkAssembler] = {}
        with translated(self._what):
            for piece in self._stub.GetResult(ref, timeout=self._timeout):
                if piece.HasField("header"):
                    header = piece.header
                elif header is not None:
                    out = piece.output
                    if out.output_index not in assemblers:
                        dtype = _NUMPY[header.output_dtypes[out.output_index]]
                        assemblers[out.output_index] = ChunkAssembler(out.total_length, dtype)
                    assemblers[out.output_index].add(out.chunk)
        if header is None:
            raise PreconditionFailed(f"{self._what} sent no result header")
        outputs = {name: assemblers[i].result() for i, name in enumerate(header.outputs)}
        return Result(
            computation_id=computation_id,
            spec=spec_from_proto(header.spec),
            round_id=header.round_id.hex(),
            participants=tuple(header.participants),
            outputs=outputs,
            privacy=report_from_proto(header.privacy),
            published_unix_ms=header.published_unix_ms,
            dropped=tuple((d.party, d.reason) for d in header.dropped),
            threat_model=header.threat_model,
            revealed=header.revealed,
        )

    def run(
        self,
        spec: ComputationSpec,
        parties: tuple[str, ...] = (),
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float = WATCH_TIMEOUT_S,
    ) -> Result:
        """Create, follow and fetch: the result, or PreconditionFailed with the failure reason.

        DeadlineExceeded when the computation has not ended within `timeout` seconds.
        """
        cid = self.create(spec, parties)
        last: Progress | None = None
        for last in self.watch(cid, timeout):
            if on_progress is not None:
                on_progress(last)
        # The watch ends with the terminal event, whose message is the failure's reason.
        if last is None or last.state not in ("published", "failed"):
            info = self.status(cid)
            state, reason = info.state, info.reason
        else:
            state, reason = last.state, last.message
        if state != "published":
            raise PreconditionFailed(f"computation {cid} {state}: {reason}")
        return self.result(cid)


def _info(s: cpb.ComputationStatus) -> ComputationInfo:
    return ComputationInfo(
        s.ref.computation_id,
        spec_from_proto(s.spec),
        _STATE[s.state],
        s.reason,
        s.attempts,
        tuple(s.participants),
        s.created_unix_ms,
        s.updated_unix_ms,
        tuple((d.party, d.reason) for d in s.dropped),
    )
