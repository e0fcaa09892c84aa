"""Callers that hold a genuine certificate and misuse it, and impostors that hold a copy.

A malicious coordinator drives nodes by hand (its own certificate and key): it announces a
spec its owners never declared, participants not on the roster, 10 KB names, a dataset name
with a trailing newline, a conflicting replay of a Prepare, or different participant sets
to different nodes. An impostor holds a certificate the federation's own CA issued for a
party's (or the coordinator's) name with another key. And every role calls what only
another role may call. Each attack gets its real status and a bounded message, and leaves
nothing released and no budget spent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adversary import (
    PARTIES4,
    RAISES,
    PreparedRound,
    Reply,
    abort,
    analyst_tls,
    channel_to,
    collect,
    controlling,
    coordinator_tls,
    create_raw,
    declare_all,
    hr_tls,
    impostor_tls,
    ledgers,
    local_call,
    party_tls,
    prepare,
    probe_prepare,
    run,
    running_federation,
    scalar,
    share,
    spec,
    streamed,
    submit_chunks,
    unary,
)

from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2
from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.spec import Kind
from mpcnode.federation import LocalFederation
from mpcnode.pki import Role, public_key_pin
from mpcnode.tls import TlsFiles
from mpcnode.wire.specs import spec_to_proto

pytestmark = pytest.mark.integration

DATASET = "rogue-raises"
THREE = ("alice", "bob", "carlos")
HUGE = 10 * 1024
SHOWN_MAX = 400  # a refusal quoting a 10 KB name must stay this short


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """alice, bob, carlos, david, each holding its raise in `rogue-raises`."""
    with running_federation(tmp_path_factory.mktemp("rogue")) as federation:
        declare_all(federation, scalar(DATASET), RAISES)
        yield federation


@pytest.fixture
def unchanged(fed: LocalFederation) -> Iterator[None]:
    """Assert that the test leaves every node's releases and budgets as it found them."""
    before = ledgers(fed)
    yield
    assert ledgers(fed) == before, "an attack released a partial or spent budget"


def _refused(reply: Reply, code: str, *fragments: str) -> None:
    assert reply.code == code, str(reply)
    for fragment in fragments:
        assert fragment in reply.details, reply.details


def _bounded(reply: Reply) -> None:
    assert len(reply.details) < SHOWN_MAX, f"{len(reply.details)} characters: {reply}"
    assert f"({HUGE} characters)" in reply.details, reply.details


# -- a malicious coordinator's Prepare -------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "fields",
    [
        {"upper": 5000},
        {"lower": 1},
        {"fractional_bits": 4},
        {"length": 3},
        {"kind": Kind.HISTOGRAM, "bins": ("a", "b"), "length": 2},
    ],
    ids=["upper", "lower", "fractional-bits", "length", "kind"],
)
def test_prepare_with_a_spec_that_does_not_conform_is_refused(
    fed: LocalFederation, fields: dict[str, object]
) -> None:
    prepared = PreparedRound(spec(DATASET, **fields), PARTIES4)
    for party in PARTIES4:
        reply = probe_prepare(fed, party, prepared)
        _refused(
            reply,
            "FAILED_PRECONDITION",
            f"the spec does not conform to dataset '{DATASET}' as its owner declared it",
        )


@pytest.mark.usefixtures("unchanged")
def test_prepare_with_participants_not_on_the_roster_is_refused(fed: LocalFederation) -> None:
    one = probe_prepare(fed, "alice", PreparedRound(spec(DATASET), ("alice", "bob", "mallory")))
    _refused(one, "PERMISSION_DENIED", "participants not on this node's roster: 'mallory'")
    many = ("alice", "bob", *(f"mallory-{i}" for i in range(7)))
    seven = probe_prepare(fed, "alice", PreparedRound(spec(DATASET), many))
    _refused(seven, "PERMISSION_DENIED", "and 2 more")
    assert len(seven.details) < SHOWN_MAX


@pytest.mark.usefixtures("unchanged")
def test_prepare_that_leaves_out_the_node_or_lies_about_the_hash_is_refused(
    fed: LocalFederation,
) -> None:
    absent = probe_prepare(fed, "david", PreparedRound(spec(DATASET), THREE))
    _refused(absent, "INVALID_ARGUMENT", "(david) is not among the participants")
    lying = PreparedRound(spec(DATASET), PARTIES4)
    lying.header.transcript_hash = bytes(32)
    _refused(probe_prepare(fed, "alice", lying), "INVALID_ARGUMENT", "transcript_hash")


@pytest.mark.usefixtures("unchanged")
def test_a_10_kb_dataset_name_is_invalid_with_a_bounded_message(fed: LocalFederation) -> None:
    huge = "r" * HUGE
    direct = probe_prepare(fed, "alice", PreparedRound(spec(huge), PARTIES4))
    _refused(direct, "INVALID_ARGUMENT", "dataset name 'rrrr")
    _bounded(direct)
    request = coordinator_pb2.CreateComputationRequest(spec=spec_to_proto(spec(huge)))
    created = create_raw(fed, request, analyst_tls(fed))
    _refused(created, "INVALID_ARGUMENT", "dataset name 'rrrr")
    _bounded(created)
    hr = hr_tls(fed, "alice")
    submitted = local_call(fed, "alice", hr, "SubmitInput", submit_chunks(huge, 1))
    _refused(submitted, "INVALID_ARGUMENT", "dataset name 'rrrr")
    _bounded(submitted)
    deleted = local_call(fed, "alice", hr, "DeleteInput", node_pb2.DeleteInputRequest(dataset=huge))
    _refused(deleted, "NOT_FOUND", "dataset 'rrrr")
    _bounded(deleted)


@pytest.mark.usefixtures("unchanged")
def test_a_10_kb_party_id_at_a_node_is_permission_denied_with_a_bounded_message(
    fed: LocalFederation,
) -> None:
    huge = "m" * HUGE
    reply = probe_prepare(fed, "alice", PreparedRound(spec(DATASET), ("alice", "bob", huge)))
    _refused(reply, "PERMISSION_DENIED", "participants not on this node's roster: 'mmmm")
    _bounded(reply)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("count", [1, 2], ids=["10KB", "2x10KB"])
def test_a_10_kb_party_id_at_the_coordinator_is_invalid_with_a_bounded_message(
    fed: LocalFederation, count: int
) -> None:
    invited = ["alice", *(f"{i}" + "m" * (HUGE - 1) for i in range(count))]
    request = coordinator_pb2.CreateComputationRequest(
        spec=spec_to_proto(spec(DATASET)), parties=invited
    )
    created = create_raw(fed, request, analyst_tls(fed))
    _refused(created, "INVALID_ARGUMENT", "not on the coordinator's roster")
    assert len(created.details) < SHOWN_MAX * count, f"{len(created.details)} characters"
    assert f"({HUGE} characters)" in created.details


def test_a_10_kb_reader_list_does_not_turn_a_refusal_into_resource_exhausted(
    fed: LocalFederation,
) -> None:
    """An analyst listing 10 KB readers must not break every other analyst's GetResult."""
    dataset = "rogue-readers"
    declare_all(fed, scalar(dataset), RAISES)
    readers = ("r" * HUGE, "s" * HUGE)
    published = run(fed, spec(dataset, name="for-someone-else", readers=readers))
    if published.state == "refused":  # refused at creation, with its real status
        _refused(published.created, "INVALID_ARGUMENT", "spec.readers")
        assert len(published.created.details) < SHOWN_MAX
        return
    assert published.state == "PUBLISHED", published.reason
    ref = pb.ComputationRef(computation_id=published.computation_id)
    with channel_to(fed, "coordinator", analyst_tls(fed)) as channel:
        reply = streamed(coordinator_pb2_grpc.CoordinatorStub(channel).GetResult, ref)
    _refused(reply, "PERMISSION_DENIED", "is not among this result's readers")
    assert reply.body == ()
    assert len(reply.details) < 2 * SHOWN_MAX


# -- a dataset name with a trailing newline --------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_a_dataset_name_with_a_trailing_newline_is_invalid_not_a_new_dataset(
    fed: LocalFederation,
) -> None:
    newline = DATASET + "\n"
    hr = hr_tls(fed, "alice")
    inputs_before = local_call(fed, "alice", hr, "ListInputs", node_pb2.ListInputsRequest())
    for chunks in (
        submit_chunks(newline, 1),
        submit_chunks(newline, 1, scalar(DATASET)),
        submit_chunks(DATASET, 1, scalar(newline)),
    ):
        reply = local_call(fed, "alice", hr, "SubmitInput", chunks)
        _refused(reply, "INVALID_ARGUMENT", "'rogue-raises\\n'")
    direct = probe_prepare(fed, "alice", PreparedRound(spec(newline), PARTIES4))
    _refused(direct, "INVALID_ARGUMENT", "dataset name 'rogue-raises\\n'")
    request = coordinator_pb2.CreateComputationRequest(spec=spec_to_proto(spec(newline)))
    _refused(create_raw(fed, request, analyst_tls(fed)), "INVALID_ARGUMENT", "'rogue-raises\\n'")
    delete = node_pb2.DeleteInputRequest(dataset=newline)
    assert not local_call(fed, "alice", hr, "DeleteInput", delete).ok
    inputs_after = local_call(fed, "alice", hr, "ListInputs", node_pb2.ListInputsRequest())
    assert inputs_after == inputs_before  # no new dataset, and the real one is untouched


# -- replays ---------------------------------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_a_replayed_prepare_with_a_conflicting_transcript_is_refused(
    fed: LocalFederation,
) -> None:
    original = PreparedRound(spec(DATASET, name="original"), PARTIES4)
    assert prepare(fed, "alice", original).ok
    assert prepare(fed, "alice", original).ok  # an identical repeat is harmless
    rid = original.round_id
    conflicts = {
        "participants": PreparedRound(spec(DATASET, name="original"), THREE, round_id=rid),
        "spec": PreparedRound(spec(DATASET, name="other"), PARTIES4, round_id=rid),
        "deadline": PreparedRound(
            spec(DATASET, name="original"), PARTIES4, round_id=rid, deadline_s=30
        ),
    }
    for conflicting in conflicts.values():
        _refused(prepare(fed, "alice", conflicting), "ALREADY_EXISTS", "different transcript")
    abort(fed, "alice", original.header)
    _refused(prepare(fed, "alice", original), "ALREADY_EXISTS", "already ended")


# -- seeds from someone else ------------------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_no_node_accepts_shares_from_another_node(fed: LocalFederation) -> None:
    """Version 1's Peer service is gone: seeds reach a node only inside the coordinator's
    CollectPartial, so a party (genuine or an impostor with a CA-issued certificate) has no
    call by which to hand a node a share, and none by which to probe a round."""
    live = PreparedRound(spec(DATASET, name="live"), THREE)
    assert prepare(fed, "alice", live).ok
    for tls in (party_tls(fed, "bob"), impostor_tls(fed, Role.PARTY, "bob")):
        with channel_to(fed, "alice", tls) as channel:
            push = channel.unary_unary(
                "/mpc.v1.Peer/PushShare", request_serializer=None, response_deserializer=None
            )
            reply = unary(push, b"")
        assert reply.code in ("UNIMPLEMENTED", "PERMISSION_DENIED"), str(reply)
        assert reply.body == ()
        with controlling(fed, "alice", tls) as stub:
            handed = unary(
                stub.Share, node_pb2.ShareRequest(header=live.header, seeds=live.inbox("alice"))
            )
        _refused(handed, "PERMISSION_DENIED")
        assert handed.body == ()
    abort(fed, "alice", live.header)


@pytest.mark.usefixtures("unchanged")
def test_an_impostor_coordinator_cannot_drive_rounds(fed: LocalFederation) -> None:
    impostor = impostor_tls(fed, Role.COORDINATOR, "coordinator")
    live = PreparedRound(spec(DATASET, name="live"), PARTIES4)
    refused = prepare(fed, "alice", live, impostor)
    _refused(refused, "PERMISSION_DENIED", "this node's coordinator.pin")
    assert prepare(fed, "alice", live).ok  # the genuine coordinator's round
    with controlling(fed, "alice", impostor) as stub:
        header = live.header
        calls = {
            "Share": unary(stub.Share, node_pb2.ShareRequest(header=header)),
            "CollectPartial": streamed(
                stub.CollectPartial, node_pb2.CollectPartialRequest(header=header)
            ),
            "Abort": unary(stub.Abort, node_pb2.AbortRequest(header=header, reason="x")),
            "Forget": unary(stub.Forget, node_pb2.ForgetRequest(header=header)),
            "Batch": streamed(
                stub.Batch,
                node_pb2.BatchRequest(calls=[node_pb2.RoundCall(prepare=live.request())]),
            ),
        }
    for method, reply in calls.items():
        _refused(reply, "PERMISSION_DENIED", "coordinator.pin")
        assert reply.body == (), method
    assert prepare(fed, "alice", live).ok  # still alive: the impostor's Abort did nothing
    abort(fed, "alice", live.header)


# -- every role calling what another role may call -------------------------------------------
def _round_control_calls(
    fed: LocalFederation, node: str, tls: TlsFiles, header: pb.RoundHeader, live: PreparedRound
) -> dict[str, Reply]:
    with controlling(fed, node, tls) as stub:
        return {
            "Prepare": unary(stub.Prepare, live.request()),
            "Share": unary(stub.Share, node_pb2.ShareRequest(header=header)),
            "CollectPartial": streamed(
                stub.CollectPartial, node_pb2.CollectPartialRequest(header=header)
            ),
            "Abort": unary(stub.Abort, node_pb2.AbortRequest(header=header, reason="x")),
            "Forget": unary(stub.Forget, node_pb2.ForgetRequest(header=header)),
            "Batch": streamed(
                stub.Batch,
                node_pb2.BatchRequest(calls=[node_pb2.RoundCall(prepare=live.request())]),
            ),
        }


@pytest.mark.usefixtures("unchanged")
def test_analysts_parties_and_clients_cannot_call_round_control(fed: LocalFederation) -> None:
    live = PreparedRound(spec(DATASET, name="live"), PARTIES4)
    assert prepare(fed, "alice", live).ok
    callers = {
        "analyst": analyst_tls(fed),
        "party bob": party_tls(fed, "bob"),
        "party alice (the node itself)": party_tls(fed, "alice"),
        "alice's HR": hr_tls(fed, "alice"),
    }
    for who, tls in callers.items():
        for method, reply in _round_control_calls(fed, "alice", tls, live.header, live).items():
            assert reply.code == "PERMISSION_DENIED", (who, method, str(reply))
            assert "may not drive rounds" in reply.details
            assert reply.body == ()
    assert prepare(fed, "alice", live).ok  # nobody's Abort or Forget ended it
    abort(fed, "alice", live.header)


def _local_calls(fed: LocalFederation, node: str, tls: TlsFiles) -> dict[str, Reply]:
    return {
        "SubmitInput": local_call(fed, node, tls, "SubmitInput", submit_chunks(DATASET, 1)),
        "ListInputs": local_call(fed, node, tls, "ListInputs", node_pb2.ListInputsRequest()),
        "DeleteInput": local_call(
            fed, node, tls, "DeleteInput", node_pb2.DeleteInputRequest(dataset=DATASET)
        ),
        "ListReleases": local_call(fed, node, tls, "ListReleases", node_pb2.ListReleasesRequest()),
        "ListBudgets": local_call(fed, node, tls, "ListBudgets", node_pb2.ListBudgetsRequest()),
    }


@pytest.mark.usefixtures("unchanged")
def test_the_coordinator_and_other_organizations_cannot_call_the_local_api(
    fed: LocalFederation,
) -> None:
    callers = {
        "coordinator": coordinator_tls(fed),
        "analyst": analyst_tls(fed),
        "party alice (its node's own certificate)": party_tls(fed, "alice"),
        "party bob": party_tls(fed, "bob"),
        "bob's HR": hr_tls(fed, "bob"),
    }
    hr = hr_tls(fed, "alice")
    inputs_before = local_call(fed, "alice", hr, "ListInputs", node_pb2.ListInputsRequest())
    for who, tls in callers.items():
        for method, reply in _local_calls(fed, "alice", tls).items():
            assert reply.code == "PERMISSION_DENIED", (who, method, str(reply))
            assert "may not use the local API of alice" in reply.details
            assert reply.body == ()
    assert local_call(fed, "alice", hr, "ListInputs", node_pb2.ListInputsRequest()) == inputs_before


@pytest.mark.usefixtures("unchanged")
def test_coordinators_parties_and_clients_cannot_use_the_analyst_api(
    fed: LocalFederation,
) -> None:
    request = coordinator_pb2.CreateComputationRequest(spec=spec_to_proto(spec(DATASET)))
    for who, tls in {
        "coordinator": coordinator_tls(fed),
        "party alice": party_tls(fed, "alice"),
        "alice's HR": hr_tls(fed, "alice"),
    }.items():
        reply = create_raw(fed, request, tls)
        _refused(reply, "PERMISSION_DENIED", "may not use the analyst API")
        assert reply.body == (), who


# -- a coordinator that tells different nodes different stories ------------------------------
@pytest.mark.usefixtures("unchanged")
def test_different_participant_sets_to_different_nodes_release_no_partial(
    fed: LocalFederation,
) -> None:
    """alice and carlos are told {alice, bob, carlos}; bob and david are told all four."""
    small = PreparedRound(spec(DATASET, name="story"), THREE, deadline_s=5)
    same = {"round_id": small.round_id, "deadline_ms": small.deadline_ms}
    large = PreparedRound(spec(DATASET, name="story"), PARTIES4, **same)
    told = {"alice": small, "carlos": small, "bob": large, "david": large}
    for party, story in told.items():
        assert prepare(fed, party, story).ok, party  # each story alone is a valid round
    # The coordinator relays to each node the seeds of the participants in its story; the
    # seeds of a node told the other story were sealed to another transcript.
    for party, story in told.items():
        inbox = [
            s for s in small.inbox(party) + large.inbox(party) if s.sender in story.participants
        ]
        shared = share(fed, party, story, inbox)
        assert not shared.ok, party
        assert shared.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"), str(shared)
        partial = collect(fed, party, story.header)
        _refused(partial, "FAILED_PRECONDITION", "no seeds were shared")
        assert partial.body == ()
    refused = share(
        fed,
        "alice",
        small,
        [s for s in large.inbox("alice") if s.sender == "bob"] + small.inbox("alice"),
    )
    _refused(refused, "FAILED_PRECONDITION", "the seed from bob", "does not open")
    for party, story in told.items():
        abort(fed, party, story.header)
    # Crossing the stories does not help either: alice refuses the other transcript.
    _refused(collect(fed, "alice", large.header), "FAILED_PRECONDITION", "already ended")


def test_issue_makes_a_second_key_for_a_genuine_name(fed: LocalFederation) -> None:
    """The impostors above are real: same CA, same name, another key (mpcnode.pki.issue)."""
    genuine = party_tls(fed, "bob")
    impostor = impostor_tls(fed, Role.PARTY, "bob")
    assert impostor.identity == genuine.identity
    assert impostor.cert.read_bytes() != genuine.cert.read_bytes()
    assert impostor.ca.read_bytes() == genuine.ca.read_bytes()
    pins = {public_key_pin(tls.cert.read_bytes()) for tls in (genuine, impostor)}
    assert len(pins) == 2
