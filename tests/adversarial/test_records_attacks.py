"""Attacks on records datasets (issue 13) through raw gRPC, on real daemons.

The owner's node computes a records dataset's contribution itself, so nobody, not even the
owner's own client, may hand it a cohort vector; only the owner's certificate may make it
load; malformed requests change nothing; and a spec that does not fit the declaration or
the ring is refused before any round starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import numpy as np
import pytest
from adversary import (
    analyst_tls,
    channel_to,
    coordinator_tls,
    hr_tls,
    impostor_tls,
    party_tls,
    unary,
)

from mpcnode import wagegap_demo as demo
from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, node_pb2_grpc
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.cohorts import CohortOptions
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.privacy import Mechanism, Placement, Privacy
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.federation import DEMO_PARTIES, LocalFederation
from mpcnode.pki import Role
from mpcnode.wire.declarations import declaration_to_proto
from mpcnode.wire.specs import spec_to_proto
from mpcnode.wire.tensors import iter_chunks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """The demo's four employers, each payroll loaded into both datasets."""
    with demo.running(tmp_path_factory.mktemp("records-attacks")) as federation:
        yield federation


def _inputs(fed: LocalFederation, party: str) -> list[tuple[str, str, str, str]]:
    with fed.local_client(party) as node:
        return [(i.dataset, i.input_id, i.period, i.snapshot) for i in node.inputs()]


def test_only_the_owner_s_certificate_makes_its_node_load(fed: LocalFederation) -> None:
    request = node_pb2.LoadRecordsRequest(dataset="payroll")
    before = _inputs(fed, "alice")
    for tls in (
        analyst_tls(fed),
        coordinator_tls(fed),
        party_tls(fed, "bob"),
        hr_tls(fed, "bob"),  # another organization's HR system
        impostor_tls(fed, Role.CLIENT, "hr", org="bob"),
    ):
        with channel_to(fed, "alice", tls) as channel:
            reply = unary(node_pb2_grpc.LocalStub(channel).LoadRecords, request)
        assert reply.code == "PERMISSION_DENIED", (tls.cert, reply)
    assert _inputs(fed, "alice") == before


@pytest.mark.parametrize(
    ("dataset", "code"),
    [
        ("x" * 10_000, "INVALID_ARGUMENT"),
        ("payroll\n", "INVALID_ARGUMENT"),
        ("../payroll", "INVALID_ARGUMENT"),
        ("nope", "NOT_FOUND"),
        ("", "INVALID_ARGUMENT"),
    ],
)
def test_malformed_load_requests_get_a_status_and_change_nothing(
    fed: LocalFederation, dataset: str, code: str
) -> None:
    before = _inputs(fed, "david")
    with channel_to(fed, "david", hr_tls(fed, "david")) as channel:
        reply = unary(
            node_pb2_grpc.LocalStub(channel).LoadRecords,
            node_pb2.LoadRecordsRequest(dataset=dataset),
        )
    assert reply.code == code, reply
    assert _inputs(fed, "david") == before


def _submit(dataset: str, values: np.ndarray, decl: Declaration | None) -> list[object]:
    chunks = list(iter_chunks(values))
    first = {"declaration": declaration_to_proto(decl)} if decl else {}
    return [
        node_pb2.SubmitInputChunk(
            dataset=dataset, total_length=len(values), chunk=c, **(first if i == 0 else {})
        )
        for i, c in enumerate(chunks)
    ]


def test_the_roster_is_listed_to_analysts_only(fed: LocalFederation) -> None:
    for tls, code in (
        (analyst_tls(fed), "OK"),
        (party_tls(fed, "alice"), "PERMISSION_DENIED"),
        (hr_tls(fed, "alice"), "PERMISSION_DENIED"),
    ):
        with channel_to(fed, "coordinator", tls) as channel:
            stub = coordinator_pb2_grpc.CoordinatorStub(channel)
            reply = unary(stub.ListParties, coordinator_pb2.ListPartiesRequest())
        assert reply.code == code, reply
        if reply.ok:
            parties = coordinator_pb2.ListPartiesReply.FromString(reply.body[0]).parties
            assert tuple(parties) == DEMO_PARTIES


def test_nobody_hands_a_node_a_cohort_vector(fed: LocalFederation) -> None:
    """A forged vector (one cohort's count set to 10_000) is refused however it is sent."""
    before = _inputs(fed, "bob")
    forged = np.zeros(54, dtype=np.int64)
    forged[0] = 10_000
    fresh = Declaration(
        "payroll-forged", Shape.COHORTS, 0, demo.UPPER, length=18,
        groups=demo.LAYOUT.groups, max_records=demo.MAX_RECORDS,
    )  # fmt: skip
    for dataset, decl in (("payroll", None), ("payroll-forged", fresh)):
        with channel_to(fed, "bob", hr_tls(fed, "bob")) as channel:
            reply = unary(
                node_pb2_grpc.LocalStub(channel).SubmitInput, iter(_submit(dataset, forged, decl))
            )
        assert reply.code == "INVALID_ARGUMENT", reply
        assert "mpcnode load" in reply.details
    assert _inputs(fed, "bob") == before


@pytest.mark.parametrize(
    "change",
    [
        {"bins": tuple(f"gender=g{i}" for i in range(10_001)), "length": 30_003},
        {"length": 18},
        {"cohorts": CohortOptions(0, 5, "")},
        {"cohorts": CohortOptions(demo.MAX_RECORDS, 5, "gender=f/" + "m" * 300)},
        {"cohorts": CohortOptions(demo.MAX_RECORDS, 5, "level=1/1")},
        {"cohorts": CohortOptions(1 << 41, 5, "")},
        {
            "privacy": Privacy(Mechanism.DISCRETE_GAUSSIAN, Placement.CENTRAL, rho=1.0),
            "cohorts": CohortOptions(demo.MAX_RECORDS, 5, ""),
        },
        {"upper": 2.0**40},
    ],
)
def test_a_cohorts_spec_that_does_not_hold_together_is_refused_at_create(
    fed: LocalFederation, change: dict[str, object]
) -> None:
    spec = dataclasses.replace(demo.cohort_spec("payroll"), **change)  # type: ignore[arg-type]
    request = coordinator_pb2.CreateComputationRequest(spec=spec_to_proto(spec))
    with channel_to(fed, "coordinator", analyst_tls(fed)) as channel:
        reply = unary(coordinator_pb2_grpc.CoordinatorStub(channel).CreateComputation, request)
    assert reply.code == "INVALID_ARGUMENT", reply


def test_a_prepare_with_another_layout_is_refused_the_same_by_every_node(
    fed: LocalFederation,
) -> None:
    """The payrolls differ; the refusal (by the declaration alone) does not."""
    spec = demo.cohort_spec("payroll")
    swapped = dataclasses.replace(spec, bins=(spec.bins[1], spec.bins[0], *spec.bins[2:]))
    round_id = new_round_id()
    deadline = int((time.time() + 60) * 1000)
    request = node_pb2.PrepareRequest(
        header=pb.RoundHeader(
            round_id=round_id,
            transcript_hash=transcript_hash(round_id, swapped, DEMO_PARTIES, deadline),
        ),
        spec=spec_to_proto(swapped),
        participants=list(DEMO_PARTIES),
        deadline_unix_ms=deadline,
    )
    replies = []
    for party in DEMO_PARTIES:
        with channel_to(fed, party, coordinator_tls(fed)) as channel:
            reply = unary(node_pb2_grpc.RoundControlStub(channel).Prepare, request)
        replies.append((reply.code, reply.details.replace(party, "<party>")))
    assert replies[0][0] in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"), replies[0]
    assert len(set(replies)) == 1, replies
