"""Bytes that are not the message a method takes: INVALID_ARGUMENT, no traceback, still serving.

Every method of every service of both daemons is called, with the certificate that may call
it, with raw bytes that no protobuf parser accepts (sent with no serializer, so the client
library cannot refuse them first). The daemon must blame the caller (INVALID_ARGUMENT naming
the message type it expected), not itself (UNKNOWN or INTERNAL), log no traceback, and keep
serving honest callers.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest
from adversary import channel_to
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, node_pb2_grpc
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration

TIMEOUT = 20.0
# An 11-byte varint (at most 10 are allowed) where the first tag should be.
OVERLONG_VARINT = b"\xff" * 11
# Field 1, length-delimited, says 127 bytes follow; none do.
TRUNCATED = b"\x0a\x7f"


@dataclass(frozen=True)
class Method:
    """One RPC of the contract, as its descriptor describes it."""

    path: str
    input_type: str
    client_streaming: bool
    server_streaming: bool


def _methods(file: FileDescriptor, service: str) -> list[Method]:
    descriptor = file.services_by_name[service]
    return [
        Method(
            f"/{descriptor.full_name}/{m.name}",
            m.input_type.full_name,
            m.client_streaming,
            m.server_streaming,
        )
        for m in descriptor.methods
    ]


# (service, daemon it runs on, who may call it: (folder, certificate stem))
CALLERS = {
    "RoundControl": ("alice", ("coordinator", "coordinator")),
    "Local": ("alice", ("alice", "alice-hr")),
    "Coordinator": ("coordinator", ("analyst", "analyst")),
}
METHODS = [
    (service, method)
    for file, services in (
        (node_pb2.DESCRIPTOR, ("RoundControl", "Local")),
        (coordinator_pb2.DESCRIPTOR, ("Coordinator",)),
    )
    for service in services
    for method in _methods(file, service)
]


def _call_raw(channel: grpc.Channel, method: Method, data: bytes) -> None:
    """Send `data` as the (only) request message of `method`, with no serializer at all."""
    raw = {"request_serializer": None, "response_deserializer": None}  # bytes as they are
    if method.client_streaming and method.server_streaming:
        list(channel.stream_stream(method.path, **raw)(iter([data]), timeout=TIMEOUT))
    elif method.client_streaming:
        channel.stream_unary(method.path, **raw)(iter([data]), timeout=TIMEOUT)
    elif method.server_streaming:
        list(channel.unary_stream(method.path, **raw)(data, timeout=TIMEOUT))
    else:
        channel.unary_unary(method.path, **raw)(data, timeout=TIMEOUT)


def _refusal(fed: LocalFederation, service: str, method: Method, data: bytes) -> grpc.RpcError:
    daemon, (folder, stem) = CALLERS[service]
    with (
        channel_to(fed, daemon, fed.tls(folder, stem)) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _call_raw(channel, method, data)
    return caught.value


@pytest.mark.parametrize(
    ("service", "method"), METHODS, ids=[m.path.rsplit(".", 1)[-1] for _, m in METHODS]
)
def test_undecodable_request_is_invalid_argument(
    fed2: LocalFederation, service: str, method: Method
) -> None:
    err = _refusal(fed2, service, method, OVERLONG_VARINT)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert err.details() == (f"malformed request: the bytes are not a valid {method.input_type}"), (
        err.details()
    )


@pytest.mark.parametrize("service", ["RoundControl", "Local", "Coordinator"])
def test_truncated_request_is_invalid_argument(fed2: LocalFederation, service: str) -> None:
    file = coordinator_pb2.DESCRIPTOR if service == "Coordinator" else node_pb2.DESCRIPTOR
    unary = [m for m in _methods(file, service) if not m.client_streaming]
    err = _refusal(fed2, service, unary[0], TRUNCATED)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert unary[0].input_type in (err.details() or "")


def test_daemons_keep_serving_and_log_no_traceback(fed2: LocalFederation) -> None:
    for service, method in METHODS:  # every refusal first, so this test stands alone too
        _refusal(fed2, service, method, OVERLONG_VARINT)
    with channel_to(fed2, "alice", fed2.tls("alice", "alice-hr")) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        # Watch writes through its context instead of yielding: the guard keeps that kind.
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        node_pb2_grpc.LocalStub(channel).ListInputs(node_pb2.ListInputsRequest(), timeout=TIMEOUT)
    with channel_to(fed2, "coordinator", fed2.tls("analyst", "analyst")) as channel:
        coordinator_pb2_grpc.CoordinatorStub(channel).ListComputations(
            coordinator_pb2.ListComputationsRequest(), timeout=TIMEOUT
        )
    for daemon in ("alice", "coordinator"):
        log = (fed2.root / "logs" / f"{daemon}.log").read_text()
        assert "refused a malformed" in log
        assert "Traceback" not in log, log[-3000:]
        assert "internal error" not in log
