"""Helpers of the integration tests: running federations and raw gRPC calls to the daemons.

The client library (`LocalClient`, `CoordinatorClient`) is what a user runs; the raw helpers
here play the parts a misbehaving or foreign caller would: a party calling round control,
a coordinator preparing a round by hand, a replayed, forged or malformed seed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy.typing as npt

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.sealing import parse_seal_key, seal, seal_context
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.federation import LocalFederation
from mpcnode.pki import Identity, Role
from mpcnode.seal_keys import public_seal_key, seal_key_path
from mpcnode.tls import TlsFiles, channel_credentials, channel_options
from mpcnode.wire.specs import spec_to_proto

RPC_TIMEOUT = 20.0


@contextmanager
def running_federation(
    root: Path,
    parties: Sequence[str] = ("alice", "bob", "carlos", "david"),
    **kwargs: object,
) -> Iterator[LocalFederation]:
    """A set-up and started federation under `root`, stopped (every daemon) on exit."""
    fed = LocalFederation(root, parties, **kwargs)  # type: ignore[arg-type]
    fed.setup()
    try:
        fed.start()
        yield fed
    finally:
        fed.stop()


def scalar(dataset: str, upper: float = 10_000, lower: float = 0, **more: object) -> Declaration:
    """The declaration of a dataset of one number per organization in [lower, upper]."""
    return Declaration(dataset, Shape.SCALAR, lower, upper, **more)  # type: ignore[arg-type]


def vector(dataset: str, length: int, lower: float, upper: float, **more: object) -> Declaration:
    """The declaration of a dataset of `length` numbers per organization in [lower, upper]."""
    return Declaration(dataset, Shape.VECTOR, lower, upper, length, **more)  # type: ignore[arg-type]


def submit_all(
    fed: LocalFederation,
    dataset: str,
    values: Mapping[str, npt.ArrayLike],
    declaration: Declaration,
    period: str = "",
) -> None:
    """Each party's HR system declares `dataset` on its own node and hands it its input.

    Every party declares the same `declaration` (re-declaring it unchanged is harmless);
    `period` ("next", or a label) starts a new period of the dataset on each node.
    """
    for party, value in values.items():
        with fed.local_client(party) as node:
            node.submit(dataset, value, declaration, period)


# -- raw gRPC -------------------------------------------------------------------------------
@contextmanager
def node_channel(fed: LocalFederation, node: str, tls: TlsFiles) -> Iterator[grpc.Channel]:
    """A mutual-TLS channel to `node`'s port, presenting the certificate in `tls`."""
    channel = grpc.secure_channel(
        f"127.0.0.1:{fed.ports[node]}",
        channel_credentials(tls),
        options=channel_options(Identity(Role.PARTY, node)),
    )
    with channel:
        yield channel


def party_tls(fed: LocalFederation, party: str) -> TlsFiles:
    """A party's own server certificate (the one its node uses to push shares)."""
    return fed.tls(party, party)


def coordinator_tls(fed: LocalFederation) -> TlsFiles:
    """The coordinator's certificate (the only one allowed to call round control)."""
    return fed.tls("coordinator", "coordinator")


class PreparedRound:
    """A round announced by hand to one node, as the coordinator would announce it."""

    def __init__(
        self,
        spec: ComputationSpec,
        participants: tuple[str, ...],
        deadline_s: float = 60.0,
        round_id: bytes | None = None,
    ) -> None:
        self.spec = spec
        self.participants = participants
        self.round_id = round_id or new_round_id()
        self.deadline_ms = int((time.time() + deadline_s) * 1000)
        self.header = types_pb2.RoundHeader(
            round_id=self.round_id,
            transcript_hash=transcript_hash(self.round_id, spec, participants, self.deadline_ms),
        )

    def request(self) -> node_pb2.PrepareRequest:
        """The PrepareRequest of this round."""
        return node_pb2.PrepareRequest(
            header=self.header,
            spec=spec_to_proto(self.spec),
            participants=list(self.participants),
            deadline_unix_ms=self.deadline_ms,
        )


def prepare(
    fed: LocalFederation, node: str, prepared: PreparedRound, tls: TlsFiles
) -> list[node_pb2.SealedSeed]:
    """Call RoundControl.Prepare on `node` with the certificate in `tls`; its sealed seeds."""
    with node_channel(fed, node, tls) as channel:
        reply = node_pb2_grpc.RoundControlStub(channel).Prepare(
            prepared.request(), timeout=RPC_TIMEOUT
        )
    return list(reply.seeds)


def sealed_for(
    fed: LocalFederation, prepared: PreparedRound, sender: str, recipient: str
) -> node_pb2.SealedSeed:
    """A fresh seed from `sender` sealed to `recipient`'s roster key for `prepared`'s round
    (what `sender`'s node would have answered Prepare with), as the relay forwards it."""
    public = parse_seal_key(public_seal_key(seal_key_path(fed.root / recipient, recipient)))
    context = seal_context(prepared.header.transcript_hash, sender, recipient)
    return node_pb2.SealedSeed(
        sender=sender, recipient=recipient, sealed=seal(os.urandom(32), public, context)
    )


def share(
    fed: LocalFederation,
    node: str,
    header: types_pb2.RoundHeader,
    seeds: Sequence[node_pb2.SealedSeed],
) -> list[node_pb2.SeedReceipt]:
    """Call RoundControl.Share on `node` as the coordinator, relaying `seeds`; the receipts."""
    with node_channel(fed, node, coordinator_tls(fed)) as channel:
        request = node_pb2.ShareRequest(header=header, seeds=seeds)
        reply = node_pb2_grpc.RoundControlStub(channel).Share(request, timeout=RPC_TIMEOUT)
    return list(reply.receipts)


def collect(
    fed: LocalFederation, node: str, header: types_pb2.RoundHeader
) -> list[node_pb2.PartialChunk]:
    """Call RoundControl.CollectPartial on `node` as the coordinator; every chunk."""
    with node_channel(fed, node, coordinator_tls(fed)) as channel:
        request = node_pb2.CollectPartialRequest(header=header)
        stub = node_pb2_grpc.RoundControlStub(channel)
        return list(stub.CollectPartial(request, timeout=RPC_TIMEOUT))


def abort(fed: LocalFederation, node: str, header: types_pb2.RoundHeader) -> None:
    """Drop a hand-prepared round from `node` (as the coordinator)."""
    with node_channel(fed, node, coordinator_tls(fed)) as channel:
        node_pb2_grpc.RoundControlStub(channel).Abort(
            node_pb2.AbortRequest(header=header, reason="test done"), timeout=RPC_TIMEOUT
        )


def list_inputs_with(fed: LocalFederation, node: str, credentials: grpc.ChannelCredentials) -> None:
    """Call Local.ListInputs on `node` over a channel built from raw `credentials`."""
    channel = grpc.secure_channel(
        f"127.0.0.1:{fed.ports[node]}",
        credentials,
        options=channel_options(Identity(Role.PARTY, node)),
    )
    with channel:
        node_pb2_grpc.LocalStub(channel).ListInputs(
            node_pb2.ListInputsRequest(), timeout=RPC_TIMEOUT
        )


def log_records(path: Path) -> list[dict[str, str]]:
    """A daemon's log as records: its JSON lines parsed (the daemons log JSON when stderr is
    not a terminal), any other line (gRPC core's own) as {"message": line}."""
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else {"message": line})
    return records
