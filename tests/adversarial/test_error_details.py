"""Refusals carry a google.rpc.Status with an ErrorInfo: a stable reason a partner branches on.

Raw gRPC, as a partner's client in any language sees it: the standard trailing metadata key
`grpc-status-details-bin` holds the Status (same code and message as the call's), whose one
detail is an ErrorInfo in domain "mpc.v1" with the reason from the README's table.
"""

from __future__ import annotations

import grpc
import pytest
from adversary import (
    PreparedRound,
    controlling,
    declare_all,
    prepare,
    scalar,
    spec,
    unary,
)
from google.rpc import error_details_pb2, status_pb2

from mpcnode.api.v1 import node_pb2
from mpcnode.errors import PreconditionFailed
from mpcnode.federation import LocalFederation
from mpcnode.rpc.status import DETAILS_KEY, from_rpc_error, status_details

pytestmark = pytest.mark.integration


def _info(trailers: tuple[tuple[str, str | bytes], ...], code: str, message: str) -> str:
    raw = dict(trailers)[DETAILS_KEY]
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    assert status.message == message and status.code > 0
    (detail,) = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info) and info.domain == "mpc.v1"
    return str(info.reason)


def test_each_refusal_names_its_rule_by_a_stable_reason(fed2: LocalFederation) -> None:
    declare_all(fed2, scalar("details"), {"alice": [1], "bob": [2]})
    cases = [
        (spec("undeclared-here", min_parties=2), "DATASET_UNDECLARED"),
        (spec("details", upper=5, min_parties=2), "SPEC_NOT_CONFORMING"),
    ]
    for probe, reason in cases:
        reply = prepare(fed2, "alice", PreparedRound(probe, ("alice", "bob")))
        assert not reply.ok
        assert _info(reply.trailers, reply.code, reply.details) == reason, reply
    unknown = PreparedRound(spec("details", min_parties=2), ("alice", "bob"))
    with controlling(fed2, "alice") as stub:
        reply = unary(stub.Share, node_pb2.ShareRequest(header=unknown.header))
    assert reply.code == "NOT_FOUND"
    assert _info(reply.trailers, reply.code, reply.details) == "ROUND_UNKNOWN"


class _Failed(grpc.RpcError):
    def __init__(self, trailing: tuple[tuple[str, bytes | str], ...]) -> None:
        self._trailing = trailing

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.FAILED_PRECONDITION

    def details(self) -> str:
        return "budget"

    def trailing_metadata(self) -> tuple[tuple[str, bytes | str], ...]:
        return self._trailing


def test_the_client_library_reads_the_reason_back() -> None:
    sent = PreconditionFailed("budget", party="bob", reason="BUDGET_EXHAUSTED")
    got = from_rpc_error(_Failed(((DETAILS_KEY, status_details(sent)), ("mpc-party", "bob"))))
    assert (type(got), got.reason, got.party) == (PreconditionFailed, "BUDGET_EXHAUSTED", "bob")
    assert from_rpc_error(_Failed(())).reason == "REFUSED"  # an old server: the class default
