"""Server reflection on real daemons: a partner's tool (grpcurl, Postman) can list and describe
the services over the federation's mutual TLS, with no .proto file at hand."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mpcnode.federation import LocalFederation
from mpcnode.pki import Identity, Role
from mpcnode.tls import channel_credentials, channel_options

pytestmark = pytest.mark.integration


def _ask(fed: LocalFederation, daemon: str, folder: str, stem: str, request: object) -> object:
    role = Role.COORDINATOR if daemon == "coordinator" else Role.PARTY
    channel = grpc.secure_channel(
        f"127.0.0.1:{fed.ports[daemon]}",
        channel_credentials(fed.tls(folder, stem)),
        options=channel_options(Identity(role, daemon)),
    )
    with channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        return next(iter(stub.ServerReflectionInfo(iter([request]), timeout=10)))


def test_each_daemon_lists_its_services_and_describes_them(fed4: LocalFederation) -> None:
    listing = reflection_pb2.ServerReflectionRequest(list_services="")
    coordinator = _ask(fed4, "coordinator", "analyst", "analyst", listing)
    names = {s.name for s in coordinator.list_services_response.service}  # type: ignore[attr-defined]
    assert {"mpc.v1.Coordinator", "grpc.health.v1.Health"} <= names
    node = _ask(fed4, "alice", "alice", "alice-hr", listing)
    names = {s.name for s in node.list_services_response.service}  # type: ignore[attr-defined]
    assert {"mpc.v1.RoundControl", "mpc.v1.Local", "grpc.health.v1.Health"} <= names
    described = _ask(
        fed4, "alice", "alice", "alice-hr",
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="mpc.v1.RoundControl"),
    )  # fmt: skip
    files = described.file_descriptor_response.file_descriptor_proto  # type: ignore[attr-defined]
    protos = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in files]
    methods = {m.name for p in protos for s in p.service for m in s.method}
    assert {"Prepare", "Share", "Step", "CollectPartial"} <= methods
