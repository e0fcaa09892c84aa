"""Refusals on real daemons: each with its gRPC status and a message a person can act on.

TLS refusals happen in the handshake (UNAVAILABLE at the client, no RPC runs); identity and
role refusals are PERMISSION_DENIED; refusals of relayed seeds follow the RoundControl contract.
Values are checked against their owner's declaration when submitted (INVALID_ARGUMENT, to the
owner only); a spec that does not conform to the declaration, or that the dataset-period's
ledger forbids, fails the computation at Prepare with a reason naming the party, the phase
and the rule, and never depends on a stored value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from integration_helpers import (
    RPC_TIMEOUT,
    PreparedRound,
    abort,
    collect,
    coordinator_tls,
    list_inputs_with,
    node_channel,
    party_tls,
    prepare,
    scalar,
    sealed_for,
    share,
    submit_all,
    vector,
)

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.client import LocalClient
from mpcnode.commands.node import cli
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput, PreconditionFailed, Unavailable
from mpcnode.federation import LocalFederation
from mpcnode.pki import Identity, Role, create_ca, issue, public_key_pin
from mpcnode.tls import TlsFiles

pytestmark = pytest.mark.integration

PARTIES = ("alice", "bob", "carlos", "david")


def _status(err: grpc.RpcError) -> str:
    return err.code().name  # type: ignore[no-any-return,attr-defined]


def _details(err: grpc.RpcError) -> str:
    return err.details() or ""  # type: ignore[attr-defined,no-any-return]


def _scalar_spec(name: str, dataset: str, **kwargs: object) -> ComputationSpec:
    fields: dict[str, object] = {
        "name": name,
        "kind": Kind.SUM,
        "dataset": dataset,
        "lower": 0,
        "upper": 10_000,
        "min_parties": 3,
    }
    fields.update(kwargs)
    return ComputationSpec(**fields)  # type: ignore[arg-type]


# -- TLS: who may connect at all -------------------------------------------------------------
def test_no_client_certificate_fails_the_handshake(fed4: LocalFederation) -> None:
    ca = (fed4.root / "bob" / "ca.crt").read_bytes()
    only_roots = grpc.ssl_channel_credentials(root_certificates=ca)
    with pytest.raises(grpc.RpcError) as caught:
        list_inputs_with(fed4, "bob", only_roots)
    assert _status(caught.value) == "UNAVAILABLE"
    assert "failed to connect" in _details(caught.value)


def test_certificate_from_another_ca_fails_the_handshake(
    fed4: LocalFederation, tmp_path: Path
) -> None:
    # A client certificate for bob's organization, but signed by a CA bob never trusted.
    create_ca(tmp_path / "other-ca", "other")
    hr = Identity(Role.CLIENT, "hr", "bob")
    forged = issue(tmp_path / "other-ca", tmp_path / "other", hr, ())
    files = TlsFiles(forged.cert, forged.key, fed4.root / "bob" / "ca.crt")
    with (
        LocalClient(f"127.0.0.1:{fed4.ports['bob']}", "bob", files) as node,
        pytest.raises(Unavailable) as caught,
    ):
        node.inputs()
    assert caught.value.status == "UNAVAILABLE"
    assert "bob" in caught.value.message
    assert "failed to connect" in caught.value.message


# -- key pins ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pinfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """alice, bob, carlos; the coordinator's roster pins a key for alice that is not alice's."""
    fed = LocalFederation(tmp_path_factory.mktemp("pinfed"), ("alice", "bob", "carlos"))
    fed.setup()
    wrong = public_key_pin((fed.root / "carlos" / "carlos.crt").read_bytes())
    fed.write_roster(pins={"alice": wrong})
    (fed.root / "roster.toml").rename(fed.root / "coordinator" / "roster.toml")
    fed.write_roster()  # every node keeps the true pins
    config = fed.root / "coordinator" / "coordinator.toml"
    config.write_text(
        config.read_text().replace('roster_file = "../roster.toml"', 'roster_file = "roster.toml"')
    )
    assert 'roster_file = "roster.toml"' in config.read_text()
    try:
        fed.start()
        yield fed
    finally:
        fed.stop()


def test_pin_mismatch_fails_the_computation(pinfed: LocalFederation) -> None:
    """The coordinator's pre-flight handshake sees alice's real key, not the pinned one."""
    submit_all(pinfed, "guarded-run", {"alice": 1, "bob": 2, "carlos": 3}, scalar("guarded-run"))
    with pinfed.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.run(_scalar_spec("guarded run", "guarded-run"))
    reason = caught.value.message
    assert "failed" in reason
    assert "phase prepare" in reason
    assert "alice" in reason
    assert "pin" in reason
    alice_pin = public_key_pin((pinfed.root / "alice" / "alice.crt").read_bytes())
    assert alice_pin in reason
    with pinfed.local_client("bob") as bob:
        assert bob.releases("guarded-run") == []


# -- round control and relayed seeds -----------------------------------------------------------
ROUND_LENGTH = 4
THREE = ("alice", "bob", "carlos")


@pytest.fixture(scope="module")
def raw_dataset(fed4: LocalFederation) -> str:
    """bob's input for the hand-prepared rounds below (only bob is ever prepared)."""
    submit_all(
        fed4, "raw-rounds", {"bob": [1, 2, 3, 4]}, vector("raw-rounds", ROUND_LENGTH, 0, 100)
    )
    return "raw-rounds"


@pytest.fixture
def bob_round(fed4: LocalFederation, raw_dataset: str) -> Iterator[PreparedRound]:
    """A round over alice, bob, carlos, prepared on bob by hand as the coordinator."""
    spec = _scalar_spec("raw", raw_dataset, length=ROUND_LENGTH, upper=100)
    prepared = PreparedRound(spec, THREE, deadline_s=60)
    prepare(fed4, "bob", prepared, coordinator_tls(fed4))
    yield prepared
    abort(fed4, "bob", prepared.header)


def _honest(fed: LocalFederation, prepared: PreparedRound) -> list[node_pb2.SealedSeed]:
    return [sealed_for(fed, prepared, sender, "bob") for sender in ("alice", "carlos")]


def _refused(
    fed: LocalFederation, prepared: PreparedRound, seeds: list[node_pb2.SealedSeed]
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        share(fed, "bob", prepared.header, seeds)
    return caught.value


def test_a_party_may_not_call_round_control(fed4: LocalFederation, raw_dataset: str) -> None:
    spec = _scalar_spec("raw", raw_dataset, length=ROUND_LENGTH, upper=100)
    prepared = PreparedRound(spec, THREE)
    with pytest.raises(grpc.RpcError) as caught:
        prepare(fed4, "bob", prepared, party_tls(fed4, "alice"))
    assert _status(caught.value) == "PERMISSION_DENIED"
    message = _details(caught.value)
    assert "alice" in message
    assert "only the coordinator" in message


def test_prepare_answers_one_sealed_seed_per_other_participant(
    fed4: LocalFederation, raw_dataset: str
) -> None:
    spec = _scalar_spec("raw", raw_dataset, length=ROUND_LENGTH, upper=100)
    prepared = PreparedRound(spec, THREE)
    seeds = prepare(fed4, "bob", prepared, coordinator_tls(fed4))
    try:
        assert sorted(s.recipient for s in seeds) == ["alice", "carlos"]
        assert {s.sender for s in seeds} == {"bob"}
        assert {len(s.sealed) for s in seeds} == {80}
        assert {len(s.receipt) for s in seeds} == {32}
        # A repeated identical Prepare is harmless: the same seeds, not fresh ones.
        again = prepare(fed4, "bob", prepared, coordinator_tls(fed4))
        assert [s.SerializeToString() for s in again] == [s.SerializeToString() for s in seeds]
    finally:
        abort(fed4, "bob", prepared.header)


def test_share_for_an_unknown_round_is_not_found(fed4: LocalFederation) -> None:
    unknown = PreparedRound(_scalar_spec("ghost", "ghost"), THREE)
    err = _refused(fed4, unknown, _honest(fed4, unknown))
    assert _status(err) == "NOT_FOUND"
    assert "unknown round" in _details(err)
    assert unknown.round_id.hex() in _details(err)


def test_seeds_the_relay_got_wrong_are_refused_and_cost_the_round_nothing(
    fed4: LocalFederation, bob_round: PreparedRound
) -> None:
    honest = _honest(fed4, bob_round)
    david = sealed_for(fed4, bob_round, "david", "bob")
    short = node_pb2.SealedSeed(sender="carlos", recipient="bob", sealed=b"x" * 79)
    with_receipt = node_pb2.SealedSeed()
    with_receipt.CopyFrom(honest[1])
    with_receipt.receipt = b"r" * 32
    cases = {
        "no seed from carlos": [honest[0]],
        "two seeds from 'alice'": [honest[0], honest[0], honest[1]],
        "seeds from non-participants: 'david'": [*honest, david],
        "a sealed seed is 80 bytes, not 79": [honest[0], short],
        "a relayed seed carries no receipt": [honest[0], with_receipt],
        "addressed to 'alice' was relayed to bob": [
            honest[0],
            sealed_for(fed4, bob_round, "carlos", "alice"),
        ],
    }
    for words, seeds in cases.items():
        err = _refused(fed4, bob_round, seeds)
        assert _status(err) == "INVALID_ARGUMENT", words
        assert words in _details(err), (words, _details(err))
    # Nothing is released before Share succeeded.
    with pytest.raises(grpc.RpcError) as early:
        collect(fed4, "bob", bob_round.header)
    assert _status(early.value) == "FAILED_PRECONDITION"
    assert "no seeds were shared" in _details(early.value)
    # None of it used the round up: the honest relay gets the receipts, then bob's partial.
    receipts = share(fed4, "bob", bob_round.header, honest)
    assert sorted(r.sender for r in receipts) == ["alice", "carlos"]
    assert share(fed4, "bob", bob_round.header, honest) == receipts  # a repeat is harmless
    conflicting = _refused(fed4, bob_round, _honest(fed4, bob_round))
    assert _status(conflicting) == "ALREADY_EXISTS"
    assert "other seeds were already accepted" in _details(conflicting)
    chunks = collect(fed4, "bob", bob_round.header)
    assert sum(c.chunk.part.length for c in chunks) == ROUND_LENGTH
    with pytest.raises(grpc.RpcError) as replay:
        collect(fed4, "bob", bob_round.header)
    assert _status(replay.value) == "ALREADY_EXISTS"
    assert "already released" in _details(replay.value)


def test_a_seed_sealed_for_another_transcript_does_not_open(
    fed4: LocalFederation, bob_round: PreparedRound
) -> None:
    # The coordinator told carlos another story (here: another deadline) than it told bob.
    forged = PreparedRound(
        bob_round.spec, bob_round.participants, deadline_s=30, round_id=bob_round.round_id
    )
    seeds = [sealed_for(fed4, bob_round, "alice", "bob"), sealed_for(fed4, forged, "carlos", "bob")]
    err = _refused(fed4, bob_round, seeds)
    assert _status(err) == "FAILED_PRECONDITION"
    assert "the seed from carlos" in _details(err)
    assert "does not open" in _details(err)
    # The node that could not open it is the one at fault for the coordinator, not carlos.
    assert "mpc-party" not in dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]


# -- inputs: checked against the owner's declaration when submitted ---------------------------
def test_input_of_the_wrong_length_is_refused_at_submission(fed4: LocalFederation) -> None:
    declared = vector("short-vector", 4, 0, 10)
    with fed4.local_client("alice") as alice, pytest.raises(InvalidInput) as caught:
        alice.submit("short-vector", [1, 2, 3], declared)
    assert caught.value.status == "INVALID_ARGUMENT"
    message = caught.value.message
    assert "alice" in message  # the owner's own node said it
    assert "3 values" in message
    assert "the declaration says length 4" in message
    with fed4.local_client("alice") as alice:
        assert "short-vector" not in [i.dataset for i in alice.inputs()]


def test_nan_input_is_refused_at_submission(fed4: LocalFederation) -> None:
    declared = vector("has-gap", 3, 0, 10, fractional_bits=8)
    with fed4.local_client("alice") as alice, pytest.raises(InvalidInput) as caught:
        alice.submit("has-gap", [1.0, math.nan, 2.0], declared)
    assert caught.value.status == "INVALID_ARGUMENT"
    message = caught.value.message
    assert "NaN" in message
    assert "index 1" in message
    with fed4.local_client("alice") as alice:
        assert "has-gap" not in [i.dataset for i in alice.inputs()]


def test_out_of_domain_input_is_refused_at_submission_to_its_owner_only(
    fed4: LocalFederation,
) -> None:
    declared = scalar("out-of-domain", upper=10_000)
    submit_all(fed4, "out-of-domain", {"alice": 100, "bob": 200, "david": 300}, declared)
    for value, where in ((12_000, "above the declared upper 10000"), (-5, "below the declared")):
        with fed4.local_client("carlos") as carlos, pytest.raises(InvalidInput) as caught:
            carlos.submit("out-of-domain", value, declared)
        assert caught.value.status == "INVALID_ARGUMENT"
        message = caught.value.message
        assert "carlos" in message
        assert where in message
        assert "index 0" in message
        assert str(value) not in message  # it says where, never what
    with fed4.local_client("carlos") as carlos:
        assert "out-of-domain" not in [i.dataset for i in carlos.inputs()]
        # A refused submit changed nothing, not even the declaration: it comes again.
        carlos.submit("out-of-domain", 10_000, declared)
    with fed4.analyst() as analyst:
        result = analyst.run(_scalar_spec("in domain", "out-of-domain"))
    assert result.outputs["sum"].tolist() == [100 + 200 + 10_000 + 300]


def test_a_refused_submission_changes_nothing_on_the_node(fed4: LocalFederation) -> None:
    declared = scalar("atomic", upper=10)
    with fed4.local_client("alice") as alice:
        alice.submit("atomic", 7, declared)
        # A new period with values out of the domain: refused, so no new period either.
        with pytest.raises(InvalidInput, match="above the declared upper 10"):
            alice.submit("atomic", 11, declared, period="next")
        # A narrower domain that the values do not fit: refused, so the old declaration stays.
        with pytest.raises(InvalidInput, match="above the declared upper 5"):
            alice.submit("atomic", 7, scalar("atomic", upper=5))
        held = [i for i in alice.inputs() if i.dataset == "atomic"]
    assert [(i.period, i.declaration_fingerprint) for i in held] == [("1", declared.fingerprint)]


# -- specs and policy ------------------------------------------------------------------------------
def test_spec_that_could_overflow_is_refused_at_creation(fed4: LocalFederation) -> None:
    spec = ComputationSpec(
        name="too big",
        kind=Kind.SUM,
        dataset="huge-values",
        lower=0,
        upper=1e18,
        fractional_bits=16,
        min_parties=3,
    )
    with fed4.analyst() as analyst, pytest.raises(InvalidInput) as caught:
        analyst.create(spec)
    assert caught.value.status == "INVALID_ARGUMENT"
    message = caught.value.message
    assert "overflow" in message
    assert "fractional_bits" in message
    assert "narrow the bounds" in message
    with fed4.analyst() as analyst:
        assert all(c.spec.dataset != "huge-values" for c in analyst.list())


def test_fewer_parties_than_min_parties_is_refused(fed4: LocalFederation) -> None:
    spec = _scalar_spec("five needed", "too-few", min_parties=5)
    with fed4.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.create(spec)
    assert caught.value.status == "FAILED_PRECONDITION"
    message = caught.value.message
    assert "4 parties" in message
    assert "min_parties = 5" in message


# -- specs must conform to the owner's declaration, whatever the stored values -----------------
def test_a_spec_that_differs_from_the_declaration_fails_naming_the_declaration(
    fed4: LocalFederation,
) -> None:
    declared = scalar("conform", upper=10_000)
    submit_all(fed4, "conform", dict(zip(PARTIES, (100, 200, 300, 400), strict=True)), declared)
    with fed4.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.run(_scalar_spec("wider", "conform", upper=12_000))
    reason = caught.value.message
    assert "phase prepare" in reason
    assert "FAILED_PRECONDITION" in reason
    assert "does not conform to dataset 'conform' as its owner declared it" in reason
    assert declared.describe() in reason  # shape, domain, unit and fingerprint prefix
    assert "spec.upper is '12000.0', the declaration says '10000.0'" in reason
    for party in PARTIES:
        with fed4.local_client(party) as node:
            assert node.releases("conform") == []


def test_a_spec_may_not_ask_a_node_to_clip(fed4: LocalFederation, raw_dataset: str) -> None:
    spec = _scalar_spec("clip", raw_dataset, length=ROUND_LENGTH, upper=100)
    request = PreparedRound(spec, ("alice", "bob", "carlos")).request()
    request.spec.on_out_of_bounds = types_pb2.BOUNDS_POLICY_CLIP
    with (
        node_channel(fed4, "bob", coordinator_tls(fed4)) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        node_pb2_grpc.RoundControlStub(channel).Prepare(request, timeout=RPC_TIMEOUT)
    assert _status(caught.value) == "INVALID_ARGUMENT"
    assert "clip" in _details(caught.value)


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"upper": 5000}, "spec.upper is '5000.0', the declaration says '10000.0'"),
        ({"length": 2}, "spec.length is '2', the declaration says '1'"),
    ],
)
def test_a_prepare_refusal_is_the_same_whatever_the_stored_value(
    fed4: LocalFederation, change: dict[str, object], differs: str
) -> None:
    dataset = f"blind-{next(iter(change))}"
    with fed4.local_client("bob") as bob:
        bob.submit(dataset, 100, scalar(dataset, upper=10_000))
    participants = ("alice", "bob", "carlos")
    refusals = []
    for value in (100, 9000, 10_000, 0):  # within spec.upper 5000 or not: it must not matter
        with fed4.local_client("bob") as bob:
            bob.submit(dataset, value)
        prepared = PreparedRound(_scalar_spec("probe", dataset, **change), participants)
        with pytest.raises(grpc.RpcError) as caught:
            prepare(fed4, "bob", prepared, coordinator_tls(fed4))
        refusals.append((_status(caught.value), _details(caught.value)))
        # The conforming spec is accepted whatever the value, too.
        conforming = PreparedRound(_scalar_spec("probe", dataset), participants)
        prepare(fed4, "bob", conforming, coordinator_tls(fed4))
        abort(fed4, "bob", conforming.header)
    assert len(set(refusals)) == 1, refusals
    status, details = refusals[0]
    assert status == "FAILED_PRECONDITION"
    assert differs in details
    assert f"dataset '{dataset}' as its owner declared it" in details


# -- one ledger per dataset-period ------------------------------------------------------------
def test_an_exact_release_repeats_over_the_same_parties_but_not_another_set(
    fed5: LocalFederation,
) -> None:
    everyone = ("alice", "bob", "carlos", "david", "erin")
    submit_all(fed5, "bonus", dict(zip(everyone, (1, 2, 3, 4, 5), strict=True)), scalar("bonus"))
    spec = _scalar_spec("bonus", "bonus")
    with fed5.analyst() as analyst:
        first = analyst.run(spec)
        second = analyst.run(spec)  # the same five: nothing can be differenced out
        mean = analyst.run(_scalar_spec("mean bonus", "bonus", kind=Kind.MEAN))  # one function
        # Without erin, the difference of two exact sums would be erin's input.
        with pytest.raises(PreconditionFailed) as caught:
            analyst.run(spec, parties=everyone[:4])
    assert first.outputs["sum"].tolist() == second.outputs["sum"].tolist() == [15]
    assert mean.outputs["mean"].tolist() == [3.0]
    reason = caught.value.message
    assert "phase prepare" in reason
    assert "FAILED_PRECONDITION" in reason
    assert "exact release refused by the ledger of bonus@1" in reason
    assert "another participant set" in reason
    assert "new period" in reason
    for party in everyone:
        with fed5.local_client(party) as node:
            releases = node.releases("bonus")
        assert [r.round_id for r in releases] == [first.round_id, second.round_id, mean.round_id]
        assert {(r.period, r.participants, r.function) for r in releases} == {
            ("1", everyone, releases[0].function)
        }


def _cli_submit(fed: LocalFederation, party: str, *args: str) -> str:
    hr = fed.tls(party, f"{party}-hr")
    connection = [
        f"--node=127.0.0.1:{fed.ports[party]}",
        f"--party={party}",
        f"--cert={hr.cert}",
        f"--key={hr.key}",
        f"--ca={hr.ca}",
    ]
    result = CliRunner().invoke(cli, ["submit", *connection, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_resubmitting_does_not_lift_the_ledger_but_a_new_period_does(
    fed4: LocalFederation,
) -> None:
    salaries = dict(zip(PARTIES, (10, 20, 30, 40), strict=True))
    declared = scalar("salaries", upper=1000)
    submit_all(fed4, "salaries", salaries, declared)
    spec = _scalar_spec("salaries", "salaries", upper=1000)
    three = ("alice", "bob", "carlos")
    with fed4.analyst() as analyst:
        first = analyst.run(spec)
        assert first.outputs["sum"].tolist() == [100]
        with pytest.raises(PreconditionFailed, match="ledger of salaries@1"):
            analyst.run(spec, parties=three)
    # The same values again, even under a fresh input id after a delete: still refused.
    with fed4.local_client("david") as david:
        david.delete("salaries")
    submit_all(fed4, "salaries", salaries, declared)
    with fed4.analyst() as analyst, pytest.raises(PreconditionFailed) as again:
        analyst.run(spec, parties=three)
    assert "exact release refused by the ledger of salaries@1" in again.value.message
    assert "another participant set" in again.value.message
    # Other values in the same period would reveal the change by difference: refused.
    with fed4.local_client("bob") as bob, pytest.raises(PreconditionFailed) as changed:
        bob.submit("salaries", 25)
    assert changed.value.status == "FAILED_PRECONDITION"
    assert "already released exactly" in changed.value.message
    assert "new period" in changed.value.message
    # The owners start a new period (new data): a fresh ledger, the old input left behind.
    printed = _cli_submit(fed4, "alice", "--dataset=salaries", "--new-period", "11")
    assert "period 2" in printed
    submit_all(fed4, "salaries", {"bob": 25, "carlos": 33}, declared, period="next")
    with fed4.analyst() as analyst:
        fresh = analyst.run(spec, parties=three)
    assert fresh.outputs["sum"].tolist() == [11 + 25 + 33]
    with fed4.local_client("bob") as bob:
        releases = bob.releases("salaries")
        rows = bob.budgets("salaries")
        (current,) = [i for i in bob.inputs() if i.dataset == "salaries"]
    assert [(r.round_id, r.period) for r in releases] == [
        (first.round_id, "1"),
        (fresh.round_id, "2"),
    ]
    assert releases[1].participants == three
    assert {r.dataset for r in rows} == {"salaries@2"}
    assert (current.period, current.releases) == ("2", 1)
    with fed4.local_client("david") as david:  # david's node stays in period 1
        assert {r.dataset for r in david.budgets("salaries")} == {"salaries@1"}


def test_a_sum_and_a_histogram_of_one_binned_vector_are_one_function(
    fed4: LocalFederation,
) -> None:
    bins = ("junior", "senior", "lead")
    declared = vector("per-level", len(bins), 0, 100, bins=bins)
    counts = {p: [i, 2 * i, 3 * i] for i, p in enumerate(PARTIES, start=1)}
    submit_all(fed4, "per-level", counts, declared)
    totals = _scalar_spec("by level", "per-level", length=len(bins), upper=100)
    tally = _scalar_spec(
        "tally by level", "per-level", kind=Kind.HISTOGRAM, length=len(bins), upper=100, bins=bins
    )
    with fed4.analyst() as analyst:
        first = analyst.run(totals)
        second = analyst.run(tally)  # the same encoded per-bin sum over the same four parties
    assert first.outputs["sum"].tolist() == second.outputs["counts"].tolist() == [10, 20, 30]
