"""Client of a node's local API: how an organization's systems hand the node its values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mpcnode.api.v1 import node_pb2, node_pb2_grpc
from mpcnode.client.channel import ChannelClient, call
from mpcnode.core.declaration import Declaration
from mpcnode.core.privacy import Mechanism, Placement, Unit
from mpcnode.errors import InvalidInput
from mpcnode.pki import Identity, Role
from mpcnode.tls import TlsFiles
from mpcnode.wire.budgets import BudgetView, budget_from_proto
from mpcnode.wire.declarations import declaration_from_proto, declaration_to_proto
from mpcnode.wire.specs import MECHANISMS, PLACEMENTS, UNITS
from mpcnode.wire.tensors import iter_chunks


@dataclass(frozen=True)
class InputSummary:
    """What the node holds for a dataset (never the value), with its declaration."""

    dataset: str
    input_id: str
    dtype: str
    length: int
    submitted_unix_ms: int
    releases: int
    period: str = ""
    declaration: str = ""  # one line: shape, domain, encoding, unit, fingerprint prefix
    declaration_fingerprint: str = ""
    snapshot: str = ""  # a records dataset: the source snapshot its values came from


@dataclass(frozen=True)
class ReleaseSummary:
    """One partial sum the node released: its round, input and participants."""

    round_id: str
    dataset: str
    input_id: str
    computation: str
    participants: tuple[str, ...]
    released_unix_ms: int
    mechanism: str = "none"
    epsilon: str = "0"
    rho: str = "0"
    sampler: str = ""
    period: str = ""
    placement: str = "none"
    unit: str = "organization"
    function: str = ""
    declaration_fingerprint: str = ""
    organization_epsilon: str = "0"
    organization_rho: str = "0"
    snapshot: str = ""


def as_input_array(values: npt.ArrayLike) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """A 1-D int64 (all whole numbers given as ints) or float64 array from numbers."""
    arr = np.atleast_1d(np.asarray(values))
    if arr.size == 0:  # a poll with no respondents: no dtype to infer, and none matters
        arr = arr.astype(np.int64)
    if arr.ndim != 1:
        raise InvalidInput(f"an input is a scalar or a 1-D vector, not shape {arr.shape}")
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    raise InvalidInput(f"an input must hold numbers, not {arr.dtype}")


class LocalClient(ChannelClient):
    """The local API of one organization's node, called with that organization's client cert."""

    def __init__(self, address: str, party_id: str, tls: TlsFiles, timeout: float = 60.0) -> None:
        super().__init__(address, Identity(Role.PARTY, party_id), tls)
        self._stub = node_pb2_grpc.LocalStub(self._channel)
        self._timeout = timeout
        self._what = self.target(f"node {party_id} at {address}")

    def submit(
        self,
        dataset: str,
        values: npt.ArrayLike,
        declaration: Declaration | None = None,
        period: str = "",
    ) -> InputSummary:
        """Store (or replace) this organization's input for `dataset` on its node.

        `declaration` (re)declares the dataset in the same call; `period` starts a new
        period ("next", or a new label such as "2027"). The node checks the values against
        the declaration and refuses, naming what is wrong, before storing anything.
        """
        arr = as_input_array(values)
        first = {
            "declaration": declaration_to_proto(declaration) if declaration else None,
            "period": period,
        }

        def chunks() -> Iterator[node_pb2.SubmitInputChunk]:
            for index, chunk in enumerate(iter_chunks(arr)):
                extra = first if index == 0 else {}
                yield node_pb2.SubmitInputChunk(
                    dataset=dataset,
                    total_length=len(arr),
                    chunk=chunk,
                    **extra,  # type: ignore[arg-type]
                )

        reply = call(self._what, lambda: self._stub.SubmitInput(chunks(), timeout=self._timeout))
        return _summary(reply)

    def load_records(self, dataset: str) -> InputSummary:
        """Have the node compute a records dataset's contribution from its source.

        The node reads the source its config names, clips and aggregates every row into
        the declared cohorts, and stores the result for the dataset's current period (a
        new period is started in the config). Loading a few million rows takes seconds, so
        this call waits up to ten minutes.
        """
        request = node_pb2.LoadRecordsRequest(dataset=dataset)
        timeout = max(self._timeout or 0.0, 600.0)
        reply = call(self._what, lambda: self._stub.LoadRecords(request, timeout=timeout))
        return _summary(reply)

    def inputs(self) -> list[InputSummary]:
        """Every input the node holds."""
        reply = call(
            self._what,
            lambda: self._stub.ListInputs(node_pb2.ListInputsRequest(), timeout=self._timeout),
        )
        return [_summary(i) for i in reply.inputs]

    def delete(self, dataset: str) -> InputSummary:
        """Delete the input of a dataset."""
        reply = call(
            self._what,
            lambda: self._stub.DeleteInput(
                node_pb2.DeleteInputRequest(dataset=dataset), timeout=self._timeout
            ),
        )
        return _summary(reply)

    def releases(self, dataset: str = "") -> list[ReleaseSummary]:
        """Every partial the node released (optionally for one dataset)."""
        reply = call(
            self._what,
            lambda: self._stub.ListReleases(
                node_pb2.ListReleasesRequest(dataset=dataset), timeout=self._timeout
            ),
        )
        return [
            ReleaseSummary(
                r.round_id.hex(),
                r.dataset,
                r.input_id,
                r.computation,
                tuple(r.participants),
                r.released_unix_ms,
                MECHANISMS.get(r.mechanism, Mechanism.NONE).value,
                r.epsilon or "0",
                r.rho or "0",
                r.sampler,
                r.period,
                PLACEMENTS.get(r.placement, Placement.DISTRIBUTED).value if r.placement else "none",
                UNITS.get(r.unit, Unit.ORGANIZATION).value,
                r.function,
                r.declaration_fingerprint,
                r.organization_epsilon or "0",
                r.organization_rho or "0",
                r.snapshot,
            )
            for r in reply.releases
        ]

    def budgets(self, dataset: str = "") -> list[BudgetView]:
        """The privacy budget of each dataset and privacy unit (optionally one dataset)."""
        reply = call(
            self._what,
            lambda: self._stub.ListBudgets(
                node_pb2.ListBudgetsRequest(dataset=dataset), timeout=self._timeout
            ),
        )
        return [budget_from_proto(b) for b in reply.budgets]


def _summary(info: node_pb2.InputInfo) -> InputSummary:
    dtype = {2: "int64", 3: "float64"}.get(info.dtype, "unknown")
    described = ""
    if info.HasField("declaration"):
        described = declaration_from_proto(info.declaration).describe()
    return InputSummary(
        info.dataset,
        info.input_id,
        dtype,
        info.length,
        info.submitted_unix_ms,
        info.releases,
        info.period,
        described,
        info.declaration_fingerprint,
        info.snapshot,
    )


__all__: Sequence[str] = (
    "BudgetView",
    "Declaration",
    "InputSummary",
    "LocalClient",
    "ReleaseSummary",
    "as_input_array",
)
