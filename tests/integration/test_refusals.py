"""Refusals on real daemons: each with its gRPC status and a message a person can act on.

TLS refusals happen in the handshake (UNAVAILABLE at the client, no RPC runs); identity and
role refusals are PERMISSION_DENIED; protocol refusals on shares follow the Peer contract;
input and spec refusals fail the computation with a reason naming the party and phase.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from integration_helpers import (
    PreparedRound,
    abort,
    coordinator_tls,
    list_inputs_with,
    party_tls,
    prepare,
    push_share,
    submit_all,
)

from mpcnode.client import LocalClient
from mpcnode.core.spec import BoundsPolicy, ComputationSpec, Kind
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
    """alice, bob, carlos; bob's roster pins a key for alice that is not alice's key."""
    fed = LocalFederation(tmp_path_factory.mktemp("pinfed"), ("alice", "bob", "carlos"))
    fed.setup()
    wrong = public_key_pin((fed.root / "carlos" / "carlos.crt").read_bytes())
    fed.write_roster(pins={"alice": wrong})
    (fed.root / "roster.toml").rename(fed.root / "bob" / "roster.toml")
    fed.write_roster()  # everyone else keeps the true pins
    config = fed.root / "bob" / "node.toml"
    config.write_text(
        config.read_text().replace('roster_file = "../roster.toml"', 'roster_file = "roster.toml"')
    )
    assert 'roster_file = "roster.toml"' in config.read_text()
    try:
        fed.start()
        yield fed
    finally:
        fed.stop()


def test_share_from_a_key_that_does_not_match_the_pin_is_refused(pinfed: LocalFederation) -> None:
    header = PreparedRound(
        _scalar_spec("pins", "guarded"), ("alice", "bob", "carlos")
    ).header  # never prepared: the pin is checked before the round is looked up
    with pytest.raises(grpc.RpcError) as caught:
        push_share(pinfed, party_tls(pinfed, "alice"), "bob", header, np.zeros(1, np.uint64))
    assert _status(caught.value) == "PERMISSION_DENIED"
    message = _details(caught.value)
    alice_pin = public_key_pin((pinfed.root / "alice" / "alice.crt").read_bytes())
    assert "alice" in message
    assert "pin" in message
    assert alice_pin in message
    # carlos, whose pin is right, gets past the identity check to the round lookup.
    with pytest.raises(grpc.RpcError) as control:
        push_share(pinfed, party_tls(pinfed, "carlos"), "bob", header, np.zeros(1, np.uint64))
    assert _status(control.value) == "NOT_FOUND"


def test_pin_mismatch_fails_the_computation(pinfed: LocalFederation) -> None:
    submit_all(pinfed, "guarded-run", {"alice": 1, "bob": 2, "carlos": 3})
    with pinfed.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.run(_scalar_spec("guarded run", "guarded-run"))
    reason = caught.value.message
    assert "failed" in reason
    assert "phase share" in reason
    assert "PERMISSION_DENIED" in reason
    assert "alice" in reason
    assert "pin" in reason
    assert "roster" in reason
    with pinfed.local_client("bob") as bob:
        assert bob.releases("guarded-run") == []


# -- round control and shares ------------------------------------------------------------------
ROUND_LENGTH = 4


@pytest.fixture(scope="module")
def raw_dataset(fed4: LocalFederation) -> str:
    """bob's input for the hand-prepared rounds below (only bob is ever prepared)."""
    submit_all(fed4, "raw-rounds", {"bob": [1, 2, 3, 4]})
    return "raw-rounds"


@pytest.fixture
def bob_round(fed4: LocalFederation, raw_dataset: str) -> Iterator[PreparedRound]:
    """A round over alice, bob, carlos, prepared on bob by hand as the coordinator."""
    spec = _scalar_spec("raw", raw_dataset, length=ROUND_LENGTH, upper=100)
    prepared = PreparedRound(spec, ("alice", "bob", "carlos"), deadline_s=60)
    prepare(fed4, "bob", prepared, coordinator_tls(fed4))
    yield prepared
    abort(fed4, "bob", prepared.header)


def _share(length: int = ROUND_LENGTH) -> np.ndarray:  # type: ignore[type-arg]
    return np.random.default_rng().integers(0, 2**64, size=length, dtype=np.uint64)


def test_a_party_may_not_call_round_control(fed4: LocalFederation, raw_dataset: str) -> None:
    spec = _scalar_spec("raw", raw_dataset, length=ROUND_LENGTH, upper=100)
    prepared = PreparedRound(spec, ("alice", "bob", "carlos"))
    with pytest.raises(grpc.RpcError) as caught:
        prepare(fed4, "bob", prepared, party_tls(fed4, "alice"))
    assert _status(caught.value) == "PERMISSION_DENIED"
    message = _details(caught.value)
    assert "alice" in message
    assert "only the coordinator" in message


def test_share_for_an_unknown_round_is_not_found(fed4: LocalFederation) -> None:
    unknown = PreparedRound(_scalar_spec("ghost", "ghost"), ("alice", "bob", "carlos"))
    with pytest.raises(grpc.RpcError) as caught:
        push_share(fed4, party_tls(fed4, "alice"), "bob", unknown.header, _share(1))
    assert _status(caught.value) == "NOT_FOUND"
    message = _details(caught.value)
    assert "unknown round" in message
    assert unknown.round_id.hex() in message


def test_replayed_share_is_refused(fed4: LocalFederation, bob_round: PreparedRound) -> None:
    share = _share()
    push_share(fed4, party_tls(fed4, "alice"), "bob", bob_round.header, share)
    with pytest.raises(grpc.RpcError) as caught:
        push_share(fed4, party_tls(fed4, "alice"), "bob", bob_round.header, share)
    assert _status(caught.value) == "ALREADY_EXISTS"
    message = _details(caught.value)
    assert "alice" in message
    assert "already received" in message
    assert "replay" in message


def test_share_from_a_non_participant_is_refused(
    fed4: LocalFederation, bob_round: PreparedRound
) -> None:
    # david is on the roster but not a participant of this round.
    with pytest.raises(grpc.RpcError) as caught:
        push_share(fed4, party_tls(fed4, "david"), "bob", bob_round.header, _share())
    assert _status(caught.value) == "PERMISSION_DENIED"
    message = _details(caught.value)
    assert "david is not a participant" in message
    assert "alice, bob, carlos" in message


def test_share_of_the_wrong_length_is_refused(
    fed4: LocalFederation, bob_round: PreparedRound
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        push_share(fed4, party_tls(fed4, "carlos"), "bob", bob_round.header, _share(5))
    assert _status(caught.value) == "INVALID_ARGUMENT"
    message = _details(caught.value)
    assert "length 5" in message
    assert "spec says 4" in message
    # The refusal did not use up carlos's turn: the right share is then accepted.
    push_share(fed4, party_tls(fed4, "carlos"), "bob", bob_round.header, _share())


def test_share_with_another_transcript_is_refused(
    fed4: LocalFederation, bob_round: PreparedRound
) -> None:
    # The coordinator told carlos another story (here: another deadline) than it told bob.
    forged = PreparedRound(
        bob_round.spec, bob_round.participants, deadline_s=30, round_id=bob_round.round_id
    )
    with pytest.raises(grpc.RpcError) as caught:
        push_share(fed4, party_tls(fed4, "carlos"), "bob", forged.header, _share())
    assert _status(caught.value) == "FAILED_PRECONDITION"
    assert "transcript hash" in _details(caught.value)


# -- inputs --------------------------------------------------------------------------------------
def test_input_of_the_wrong_length_fails_the_computation(fed4: LocalFederation) -> None:
    submit_all(
        fed4,
        "short-vector",
        {"alice": [1, 2, 3], "bob": [1, 2, 3, 4], "carlos": [1, 2, 3, 4], "david": [1, 2, 3, 4]},
    )
    spec = _scalar_spec("vector", "short-vector", length=4)
    with fed4.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.run(spec)
    reason = caught.value.message
    assert "phase prepare" in reason
    assert "alice" in reason
    assert "INVALID_ARGUMENT" in reason
    assert "length" in reason
    assert "has 3 values" in reason


def test_nan_input_is_refused_at_submission(fed4: LocalFederation) -> None:
    with fed4.local_client("alice") as alice, pytest.raises(InvalidInput) as caught:
        alice.submit("has-gap", [1.0, math.nan, 2.0])
    assert caught.value.status == "INVALID_ARGUMENT"
    message = caught.value.message
    assert "NaN" in message
    assert "index 1" in message
    with fed4.local_client("alice") as alice:
        assert "has-gap" not in [i.dataset for i in alice.inputs()]


def test_out_of_bounds_input_with_reject_policy_fails_naming_the_party(
    fed4: LocalFederation,
) -> None:
    submit_all(fed4, "bounds-reject", {"alice": 100, "bob": 200, "carlos": 12_000, "david": 300})
    spec = _scalar_spec("rejecting", "bounds-reject", on_out_of_bounds=BoundsPolicy.REJECT)
    with fed4.analyst() as analyst, pytest.raises(PreconditionFailed) as caught:
        analyst.run(spec)
    reason = caught.value.message
    assert "carlos" in reason
    assert "INVALID_ARGUMENT" in reason
    assert "above spec.upper 10000" in reason
    assert "clip" in reason  # the way out: ask for a clipping spec
    assert "12000" not in reason  # the input value itself never leaves the node


def test_out_of_bounds_input_with_clip_policy_is_clipped(fed4: LocalFederation) -> None:
    submit_all(fed4, "bounds-clip", {"alice": 100, "bob": 200, "carlos": 12_000, "david": -5})
    spec = _scalar_spec("clipping", "bounds-clip", on_out_of_bounds=BoundsPolicy.CLIP)
    with fed4.analyst() as analyst:
        result = analyst.run(spec)
    assert result.outputs["sum"].tolist() == [100 + 200 + 10_000 + 0]


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


def test_input_reuse_with_another_participant_set_is_refused(fed4: LocalFederation) -> None:
    submit_all(fed4, "salaries-once", {"alice": 10, "bob": 20, "carlos": 30, "david": 40})
    spec = _scalar_spec("salaries-once", "salaries-once")
    with fed4.analyst() as analyst:
        first = analyst.run(spec)
        assert first.outputs["sum"].tolist() == [100]
        # The same query without david would difference out david's input.
        with pytest.raises(PreconditionFailed) as caught:
            analyst.run(spec, parties=("alice", "bob", "carlos"))
    reason = caught.value.message
    assert caught.value.status == "FAILED_PRECONDITION"
    assert "phase prepare" in reason
    assert "FAILED_PRECONDITION" in reason
    assert "reuse" in reason
    assert "submit a new input" in reason
    for party in PARTIES:
        with fed4.local_client(party) as node:
            releases = node.releases("salaries-once")
        assert len(releases) == 1
        assert releases[0].round_id == first.round_id


def test_same_participants_policy_allows_a_rerun_but_not_a_smaller_set(
    fed5: LocalFederation,
) -> None:
    everyone = ("alice", "bob", "carlos", "david", "erin")
    submit_all(fed5, "bonus", dict(zip(everyone, (1, 2, 3, 4, 5), strict=True)))
    spec = _scalar_spec("bonus", "bonus")
    with fed5.analyst() as analyst:
        first = analyst.run(spec)
        second = analyst.run(spec)  # the same five: nothing can be differenced out
        with pytest.raises(PreconditionFailed) as caught:
            analyst.run(spec, parties=("alice", "bob", "carlos", "david"))
    assert first.outputs["sum"].tolist() == second.outputs["sum"].tolist() == [15]
    reason = caught.value.message
    assert "FAILED_PRECONDITION" in reason
    assert "reuse" in reason
    assert "different participant set" in reason
    with fed5.local_client("alice") as alice:
        releases = alice.releases("bonus")
    assert [r.round_id for r in releases] == [first.round_id, second.round_id]
