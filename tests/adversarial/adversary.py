"""The attacker's toolbox of the adversarial tests: raw gRPC from the generated stubs.

Every hostile caller here holds a genuine certificate of the federation's PKI and talks to
the daemons with nothing but the generated stubs (`mpcnode/api/v1/*_pb2*.py`), so no client
library check can refuse a request before the daemon sees it:

- the analyst (`analyst_tls`) through the coordinator's analyst API;
- a malicious coordinator (`coordinator_tls`: the coordinator's own certificate and key)
  driving a node's round control by hand (`PreparedRound`);
- a party (`party_tls`) pushing shares, or calling what it may not;
- an impostor (`impostor_tls`): a certificate the same CA issued for a genuine name, with
  another key, which only the roster's (or config's) pin tells apart.

Every raw call answers a `Reply`: status code, details, trailing metadata and the
serialized reply messages, so a test can assert that two replies are identical byte for
byte. The organizations' own systems (declaring datasets, submitting values) use the
client library: they are the honest side.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, node_pb2_grpc
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.federation import LocalFederation
from mpcnode.pki import Identity, Role, issue
from mpcnode.tls import TlsFiles, channel_credentials, channel_options
from mpcnode.wire.declarations import declaration_to_proto
from mpcnode.wire.specs import spec_to_proto
from mpcnode.wire.tensors import ChunkAssembler, iter_chunks

RPC_TIMEOUT = 20.0
PARTIES4 = ("alice", "bob", "carlos", "david")
# The seed example's raises (DESIGN 6); alice is the victim whose value the attacks target.
RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}
DOMAIN = (0, 10_000)
NEVER_SUGGESTED = "submit a new input"  # the old advice that let a resubmission difference


# -- federations -----------------------------------------------------------------------------
@contextmanager
def running_federation(
    root: Path,
    parties: Sequence[str] = PARTIES4,
    env: Mapping[str, Mapping[str, str]] | None = None,
    **kwargs: Any,
) -> Iterator[LocalFederation]:
    """A set-up and started federation under `root`; every daemon is stopped on exit.

    `env` maps a daemon name to extra environment variables (e.g. a failpoint).
    """
    fed = LocalFederation(root, parties, **kwargs)
    fed.setup()
    try:
        for name in (*fed.parties, "coordinator"):
            fed.start_daemon(name, env=(env or {}).get(name))
        for name in (*fed.parties, "coordinator"):
            fed.wait_ready(name)
        yield fed
    finally:
        fed.stop()


# -- identities ------------------------------------------------------------------------------
def analyst_tls(fed: LocalFederation) -> TlsFiles:
    """The federation's analyst certificate."""
    return fed.tls("analyst", "analyst")


def coordinator_tls(fed: LocalFederation) -> TlsFiles:
    """The coordinator's own certificate and key: what a malicious coordinator holds."""
    return fed.tls("coordinator", "coordinator")


def party_tls(fed: LocalFederation, party: str) -> TlsFiles:
    """A party's node certificate (the one it pushes shares with)."""
    return fed.tls(party, party)


def hr_tls(fed: LocalFederation, party: str) -> TlsFiles:
    """The organization's own HR system's client certificate for its node's local API."""
    return fed.tls(party, f"{party}-hr")


def impostor_tls(fed: LocalFederation, role: Role, name: str, org: str | None = None) -> TlsFiles:
    """A certificate the federation's own CA issued for `name`, with a fresh key.

    It passes every CA and name check; only a pin of the genuine key refuses it.
    """
    identity = Identity(role, name, org)
    folder = fed.root / "impostors" / f"{role.value}-{identity.file_stem}"
    if not (folder / f"{identity.file_stem}.crt").exists():
        hosts = ("localhost", "127.0.0.1") if role.serves else ()
        issue(fed.ca_dir, folder, identity, hosts)
    stem = folder / identity.file_stem
    return TlsFiles(stem.with_suffix(".crt"), stem.with_suffix(".key"), folder / "ca.crt")


# -- channels --------------------------------------------------------------------------------
@contextmanager
def channel_to(fed: LocalFederation, daemon: str, tls: TlsFiles) -> Iterator[grpc.Channel]:
    """A mutual-TLS channel to a node (party id) or to "coordinator", presenting `tls`."""
    role = Role.COORDINATOR if daemon == "coordinator" else Role.PARTY
    channel = grpc.secure_channel(
        f"127.0.0.1:{fed.ports[daemon]}",
        channel_credentials(tls),
        options=channel_options(Identity(role, daemon)),
    )
    with channel:
        yield channel


# -- replies ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """Everything a caller learns from one call: status, message, trailers, reply bytes."""

    code: str
    details: str
    trailers: tuple[tuple[str, str | bytes], ...]
    body: tuple[bytes, ...]

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.code == "OK"

    def __str__(self) -> str:
        return f"{self.code}: {self.details[:300]}"

    def blinded(self) -> Reply:
        """This reply with its fresh randomness (sealed seeds, receipts) replaced by sizes.

        Two identical Prepares get different seeds by design; everything else of the reply,
        and the number, addressing and size of the seeds, must be the same.
        """
        body = []
        for raw in self.body:
            try:
                reply = node_pb2.PrepareReply.FromString(raw)
            except DecodeError:
                reply = None
            if reply is not None and reply.seeds and reply.SerializeToString() == raw:
                shape = [
                    (s.sender, s.recipient, len(s.sealed), len(s.receipt)) for s in reply.seeds
                ]
                body.append(repr(shape).encode())
            else:
                body.append(raw)
        return Reply(self.code, self.details, self.trailers, tuple(body))


def _trailers(call: Any) -> tuple[tuple[str, str | bytes], ...]:
    metadata = call.trailing_metadata() if hasattr(call, "trailing_metadata") else None
    return tuple((m[0], m[1]) for m in metadata or ())


def _failed(err: grpc.RpcError) -> Reply:
    code = err.code().name if hasattr(err, "code") else "UNKNOWN"  # type: ignore[attr-defined]
    details = (err.details() if hasattr(err, "details") else str(err)) or ""  # type: ignore[attr-defined]
    return Reply(code, details, _trailers(err), ())


def unary(method: Callable[..., Any], request: Any) -> Reply:
    """Call a unary (or client-streaming, given an iterator) method; never raises RpcError."""
    try:
        response, call = method.with_call(request, timeout=RPC_TIMEOUT)  # type: ignore[attr-defined]
    except grpc.RpcError as err:
        return _failed(err)
    return Reply("OK", call.details() or "", _trailers(call), (response.SerializeToString(),))


def streamed(method: Callable[..., Any], request: Any, timeout: float = RPC_TIMEOUT) -> Reply:
    """Call a server-streaming method and read every message; never raises RpcError."""
    stream = method(request, timeout=timeout)
    body: list[bytes] = []
    try:
        body.extend(message.SerializeToString() for message in stream)
    except grpc.RpcError as err:
        failed = _failed(err)
        return Reply(failed.code, failed.details, failed.trailers, tuple(body))
    return Reply("OK", stream.details() or "", _trailers(stream), tuple(body))


# -- specs and declarations ------------------------------------------------------------------
def spec(dataset: str, name: str = "probe", **fields: Any) -> ComputationSpec:
    """A sum over `dataset` in the seed domain [0, 10000]; `fields` override."""
    values: dict[str, Any] = {
        "name": name,
        "kind": Kind.SUM,
        "dataset": dataset,
        "lower": DOMAIN[0],
        "upper": DOMAIN[1],
        "min_parties": 3,
    }
    values.update(fields)
    return ComputationSpec(**values)


def laplace(epsilon: float, placement: Placement = Placement.DISTRIBUTED, **fields: Any) -> Privacy:
    """Discrete-Laplace privacy settings."""
    return Privacy(
        mechanism=Mechanism.DISCRETE_LAPLACE, placement=placement, epsilon=epsilon, **fields
    )


def record_laplace(epsilon: float, record_bound: float) -> Privacy:
    """Distributed discrete Laplace protecting one record of at most `record_bound`."""
    return laplace(epsilon, unit=Unit.RECORD, record_bound=record_bound)


def scalar(dataset: str, **fields: Any) -> Declaration:
    """A scalar dataset in the seed domain [0, 10000]; `fields` override."""
    values: dict[str, Any] = {
        "dataset": dataset,
        "shape": Shape.SCALAR,
        "lower": DOMAIN[0],
        "upper": DOMAIN[1],
    }
    values.update(fields)
    return Declaration(**values)


def declare_all(
    fed: LocalFederation,
    declaration: Declaration,
    values: Mapping[str, npt.ArrayLike],
) -> None:
    """Each organization declares the dataset on its own node and submits its value."""
    for party, value in values.items():
        with fed.local_client(party) as node:
            node.submit(declaration.dataset, value, declaration=declaration)


# -- the malicious coordinator's hand-made rounds --------------------------------------------
class PreparedRound:
    """A round announced by hand, as the coordinator would announce it.

    The same object may be sent to two federations: its request is then byte-identical, so
    any difference between the two replies comes from the nodes' state alone.
    """

    def __init__(
        self,
        spec: ComputationSpec,
        participants: Sequence[str],
        deadline_s: float = 60.0,
        round_id: bytes | None = None,
        deadline_ms: int | None = None,
    ) -> None:
        self.spec = spec
        self.participants = tuple(participants)
        self.round_id = round_id or new_round_id()
        self.deadline_ms = deadline_ms or int((time.time() + deadline_s) * 1000)
        self.header = pb.RoundHeader(
            round_id=self.round_id,
            transcript_hash=transcript_hash(
                self.round_id, spec, self.participants, self.deadline_ms
            ),
        )
        # The sealed seeds each node answered Prepare with, by sender.
        self.seeds: dict[str, list[node_pb2.SealedSeed]] = {}

    def inbox(self, node: str) -> list[node_pb2.SealedSeed]:
        """What an honest relay hands `node`: every seed sealed to it, receipts stripped."""
        return [
            node_pb2.SealedSeed(sender=s.sender, recipient=s.recipient, sealed=s.sealed)
            for seeds in self.seeds.values()
            for s in seeds
            if s.recipient == node
        ]

    def request(self) -> node_pb2.PrepareRequest:
        """The PrepareRequest of this round."""
        return node_pb2.PrepareRequest(
            header=self.header,
            spec=spec_to_proto(self.spec),
            participants=list(self.participants),
            deadline_unix_ms=self.deadline_ms,
        )


@contextmanager
def controlling(
    fed: LocalFederation, node: str, tls: TlsFiles | None = None
) -> Iterator[node_pb2_grpc.RoundControlStub]:
    """RoundControl of `node`, called with `tls` (the coordinator's key by default)."""
    with channel_to(fed, node, tls or coordinator_tls(fed)) as channel:
        yield node_pb2_grpc.RoundControlStub(channel)


def prepare(
    fed: LocalFederation, node: str, prepared: PreparedRound, tls: TlsFiles | None = None
) -> Reply:
    """RoundControl.Prepare on `node`; an acceptance's seeds are kept on `prepared`."""
    with controlling(fed, node, tls) as stub:
        reply = unary(stub.Prepare, prepared.request())
    if reply.ok:
        prepared.seeds[node] = list(node_pb2.PrepareReply.FromString(reply.body[0]).seeds)
    return reply


def share(
    fed: LocalFederation,
    node: str,
    prepared: PreparedRound,
    seeds: Sequence[node_pb2.SealedSeed] | None = None,
) -> Reply:
    """RoundControl.Share on `node` as the coordinator, relaying `seeds`.

    By default the honest relay: every seed the round's Prepare replies sealed to `node`.
    """
    with controlling(fed, node) as stub:
        inbox = prepared.inbox(node) if seeds is None else list(seeds)
        return unary(stub.Share, node_pb2.ShareRequest(header=prepared.header, seeds=inbox))


def collect(
    fed: LocalFederation, node: str, header: pb.RoundHeader, timeout: float = RPC_TIMEOUT
) -> Reply:
    """RoundControl.CollectPartial on `node` (as the coordinator)."""
    with controlling(fed, node) as stub:
        request = node_pb2.CollectPartialRequest(header=header)
        return streamed(stub.CollectPartial, request, timeout)


def reconstruct(partials: Iterable[Reply], length: int = 1) -> npt.NDArray[np.int64]:
    """What a coordinator holding every partial learns: their sum, as signed integers."""
    total = np.zeros(length, dtype=np.uint64)
    for reply in partials:
        assembler = ChunkAssembler(length, np.dtype(np.uint64))
        for body in reply.body:
            assembler.add(node_pb2.PartialChunk.FromString(body).chunk)
        total += assembler.result()
    return total.view(np.int64)


def abort(fed: LocalFederation, node: str, header: pb.RoundHeader) -> Reply:
    """RoundControl.Abort on `node` (as the coordinator)."""
    with controlling(fed, node) as stub:
        return unary(stub.Abort, node_pb2.AbortRequest(header=header, reason="probe done"))


def probe_prepare(fed: LocalFederation, node: str, prepared: PreparedRound) -> Reply:
    """Prepare on `node` as the coordinator, then abort it whatever the answer."""
    reply = prepare(fed, node, prepared)
    abort(fed, node, prepared.header)
    return reply


# -- the organization's view: what was released and spent ------------------------------------
def list_releases(fed: LocalFederation, party: str, dataset: str = "") -> list[node_pb2.Release]:
    """Local.ListReleases on the party's node, with its own HR certificate."""
    with channel_to(fed, party, hr_tls(fed, party)) as channel:
        reply = node_pb2_grpc.LocalStub(channel).ListReleases(
            node_pb2.ListReleasesRequest(dataset=dataset), timeout=RPC_TIMEOUT
        )
    return list(reply.releases)


def list_budgets(fed: LocalFederation, party: str, dataset: str = "") -> list[node_pb2.Budget]:
    """Local.ListBudgets on the party's node, with its own HR certificate."""
    with channel_to(fed, party, hr_tls(fed, party)) as channel:
        reply = node_pb2_grpc.LocalStub(channel).ListBudgets(
            node_pb2.ListBudgetsRequest(dataset=dataset), timeout=RPC_TIMEOUT
        )
    return list(reply.budgets)


@dataclass(frozen=True)
class Ledgers:
    """Every node's releases and budgets of some datasets, as serialized bytes."""

    releases: dict[str, tuple[bytes, ...]]
    budgets: dict[str, tuple[bytes, ...]]


def ledgers(fed: LocalFederation, datasets: Iterable[str] = ()) -> Ledgers:
    """A snapshot of every node's releases and budgets (of `datasets`, or of all)."""
    names = set(datasets)
    releases, budgets = {}, {}
    for party in fed.parties:
        with channel_to(fed, party, hr_tls(fed, party)) as channel:
            stub = node_pb2_grpc.LocalStub(channel)
            listed = stub.ListReleases(node_pb2.ListReleasesRequest(), timeout=RPC_TIMEOUT)
            rows = stub.ListBudgets(node_pb2.ListBudgetsRequest(), timeout=RPC_TIMEOUT)
        releases[party] = tuple(
            r.SerializeToString() for r in listed.releases if not names or r.dataset in names
        )
        budgets[party] = tuple(
            b.SerializeToString()
            for b in rows.budgets
            if not names or b.dataset.rsplit("@", 1)[0] in names
        )
    return Ledgers(releases, budgets)


# -- the analyst's view ----------------------------------------------------------------------
@dataclass(frozen=True)
class Computation:
    """What an analyst learns from one computation: the create reply, events, status."""

    created: Reply
    computation_id: str
    events: tuple[coordinator_pb2.ComputationEvent, ...]
    status: coordinator_pb2.ComputationStatus | None

    @property
    def state(self) -> str:
        """ "refused" when CreateComputation failed, else the final state's short name."""
        if self.status is None:
            return "refused"
        return pb.ComputationState.Name(self.status.state).removeprefix("COMPUTATION_STATE_")

    @property
    def reason(self) -> str:
        """The failure reason (GetComputation.reason), or the create refusal's message."""
        return self.status.reason if self.status is not None else self.created.details

    def texts(self) -> list[str]:
        """Every human-readable text the analyst received."""
        return [self.created.details, self.reason, *(e.message for e in self.events)]

    def observed(self) -> tuple[object, ...]:
        """Everything observed, with the random ids and the clock taken out (see `blind`)."""
        status = None
        if self.status is not None:
            status = (
                self.status.state,
                blind(self.status.reason),
                self.status.attempts,
                tuple(self.status.participants),
                self.status.spec.SerializeToString(),
            )
        events = tuple(
            (
                e.sequence,
                e.attempt,
                e.phase,
                e.state,
                tuple(e.participants),
                e.party,
                blind(e.message),
                len(e.round_id),
            )
            for e in self.events
        )
        created = (self.created.code, blind(self.created.details), self.created.trailers)
        return created, events, status


_ROUND_LABEL = re.compile(r"\bround [0-9a-f]{8,32}\b")


def blind(text: str) -> str:
    """`text` with round labels (random, value-independent ids) replaced by a placeholder.

    Nothing else is normalized: any other difference between two federations' texts is a
    difference the attacker sees.
    """
    return _ROUND_LABEL.sub("round <id>", text)


def run(
    fed: LocalFederation,
    spec: ComputationSpec,
    parties: Sequence[str] = (),
    tls: TlsFiles | None = None,
) -> Computation:
    """CreateComputation, then WatchComputation to the end, then GetComputation (raw)."""
    with channel_to(fed, "coordinator", tls or analyst_tls(fed)) as channel:
        stub = coordinator_pb2_grpc.CoordinatorStub(channel)
        request = coordinator_pb2.CreateComputationRequest(
            spec=spec_to_proto(spec), parties=list(parties)
        )
        created = unary(stub.CreateComputation, request)
        if not created.ok:
            return Computation(created, "", (), None)
        ref = pb.ComputationRef.FromString(created.body[0])
        events = []
        for event in stub.WatchComputation(ref, timeout=60.0):
            events.append(event)
        status = stub.GetComputation(ref, timeout=RPC_TIMEOUT)
    return Computation(created, ref.computation_id, tuple(events), status)


def create_raw(
    fed: LocalFederation, request: coordinator_pb2.CreateComputationRequest, tls: TlsFiles
) -> Reply:
    """CreateComputation with a hand-made request and any certificate."""
    with channel_to(fed, "coordinator", tls) as channel:
        return unary(coordinator_pb2_grpc.CoordinatorStub(channel).CreateComputation, request)


# -- the local API, raw ----------------------------------------------------------------------
def local_call(fed: LocalFederation, node: str, tls: TlsFiles, method: str, request: Any) -> Reply:
    """Call Local.<method> on `node` with any certificate (an iterator for SubmitInput)."""
    with channel_to(fed, node, tls) as channel:
        return unary(getattr(node_pb2_grpc.LocalStub(channel), method), request)


def submit_chunks(
    dataset: str, values: npt.ArrayLike, declaration: Declaration | None = None
) -> Iterator[node_pb2.SubmitInputChunk]:
    """The SubmitInput stream of `values` (int64) for `dataset`, declaring it if given."""
    array = np.atleast_1d(np.asarray(values, dtype=np.int64))
    for index, chunk in enumerate(iter_chunks(array)):
        first = index == 0 and declaration is not None
        yield node_pb2.SubmitInputChunk(
            dataset=dataset,
            total_length=len(array),
            chunk=chunk,
            declaration=declaration_to_proto(declaration) if first else None,  # type: ignore[arg-type]
        )
