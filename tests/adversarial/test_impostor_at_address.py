"""An impostor at a participant's address, with a certificate the real CA issued for its name.

The scenario of issue 9: after one good round, bob's node goes away and an impostor answers
at bob's address. It holds a genuine federation certificate for bob's name (another key), so
every CA and name check passes, and the coordinator's channel, whose pin was checked when it
was first opened, reconnects to it without a new pin check. The impostor plays its part as
well as anyone could without bob's seal key: it accepts Prepare with well-formed seeds sealed
to the honest nodes' roster keys, records everything it is sent, and answers Share with
receipts of the right size.

What must hold: every seed it receives is sealed to bob's roster key, so nothing opens under
any key it has; the coordinator sees that its receipts are not those the senders predicted and
aborts the round in phase share naming bob, before any node released a partial; the
computation is not retried around an impostor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from adversary import declare_all, impostor_tls, list_releases, scalar, spec

from mpcnode.api.v1 import node_pb2, node_pb2_grpc
from mpcnode.config import load_roster
from mpcnode.core.sealing import (
    RECEIPT_BYTES,
    open_sealed,
    parse_seal_key,
    receipt,
    seal,
    seal_context,
)
from mpcnode.errors import MpcError, PreconditionFailed
from mpcnode.federation import LocalFederation
from mpcnode.pki import Role
from mpcnode.seal_keys import create_seal_key, load_seal_key
from mpcnode.tls import server_credentials, server_options

pytestmark = pytest.mark.integration
PARTIES = ("alice", "bob", "carlos")
VALUES = {"alice": 3800, "bob": 2514, "carlos": 2982}


class RecordingImpostor(node_pb2_grpc.RoundControlServicer):
    """bob's RoundControl as an impostor serves it: plausible answers, everything recorded."""

    def __init__(self, fed: LocalFederation, seal_key: Any) -> None:
        self._roster = load_roster(fed.root / "roster.toml")
        self.seal_key = seal_key
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, method: str, request: Any) -> None:
        with self._lock:
            self.calls.append((method, request))

    def Prepare(self, request: Any, context: Any) -> node_pb2.PrepareReply:
        self._record("Prepare", request)
        seeds = []
        for recipient in request.participants:
            if recipient == "bob":
                continue
            entry = self._roster.get(recipient)
            assert entry is not None
            seed = os.urandom(32)
            ctx = seal_context(request.header.transcript_hash, "bob", recipient)
            sealed = seal(seed, parse_seal_key(entry.seal_key), ctx)
            seeds.append(
                node_pb2.SealedSeed(
                    sender="bob", recipient=recipient, sealed=sealed, receipt=receipt(seed, ctx)
                )
            )
        return node_pb2.PrepareReply(seeds=seeds)

    def Share(self, request: Any, context: Any) -> node_pb2.ShareReply:
        self._record("Share", request)
        fake = [
            node_pb2.SeedReceipt(sender=s.sender, receipt=os.urandom(RECEIPT_BYTES))
            for s in request.seeds
        ]
        return node_pb2.ShareReply(receipts=fake)

    def CollectPartial(self, request: Any, context: Any) -> Iterator[node_pb2.PartialChunk]:
        self._record("CollectPartial", request)
        return iter(())

    def Abort(self, request: Any, context: Any) -> node_pb2.AbortReply:
        self._record("Abort", request)
        return node_pb2.AbortReply()

    def Forget(self, request: Any, context: Any) -> node_pb2.ForgetReply:
        self._record("Forget", request)
        return node_pb2.ForgetReply()


@pytest.fixture
def fed(tmp_path: Any) -> Iterator[LocalFederation]:
    """alice, bob, carlos with pinned keys; the test replaces bob, so a federation of its own."""
    federation = LocalFederation(tmp_path / "fed", PARTIES).setup()
    try:
        federation.start()
        yield federation
    finally:
        federation.stop()


def _serve_impostor(fed: LocalFederation, impostor: RecordingImpostor) -> grpc.Server:
    bob = impostor_tls(fed, Role.PARTY, "bob")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=server_options())
    node_pb2_grpc.add_RoundControlServicer_to_server(impostor, server)
    port = server.add_secure_port(f"127.0.0.1:{fed.ports['bob']}", server_credentials(bob))
    assert port == fed.ports["bob"], "the impostor must answer at bob's own address"
    server.start()
    return server


def test_an_impostor_at_bobs_address_opens_nothing_and_the_round_aborts_naming_bob(
    fed: LocalFederation,
) -> None:
    declare_all(fed, scalar("raises"), VALUES)
    with fed.analyst() as analyst:  # one good round: the coordinator's channels are open
        good = analyst.run(spec("raises", name="before", min_parties=3))
    assert good.outputs["sum"].tolist() == [sum(VALUES.values())]
    honest_key = load_seal_key(fed.root / "bob" / "bob.seal.key")
    releases_before = {p: len(list_releases(fed, p)) for p in ("alice", "carlos")}

    fed.stop_daemon("bob")
    key_path = fed.root / "impostors" / "bob.seal.key"
    create_seal_key(key_path)
    impostor = RecordingImpostor(fed, load_seal_key(key_path))
    server = _serve_impostor(fed, impostor)
    try:
        with fed.analyst() as analyst, pytest.raises(MpcError) as caught:
            analyst.run(spec("raises", name="before", min_parties=3))
    finally:
        server.stop(None)

    # The round aborted in phase share, naming bob, for the receipts, and was not retried.
    reason = caught.value.message
    assert isinstance(caught.value, PreconditionFailed), reason
    assert "phase share" in reason, reason
    assert "bob" in reason and "PERMISSION_DENIED" in reason, reason
    assert "seal key" in reason, reason
    assert "then round" not in reason, reason  # one round: an impostor is not retried around

    # What reached the impostor: a Prepare (spec, participants, deadline: nothing private)
    # and a Share whose every seed is sealed to the roster's bob, opening under no key the
    # impostor has; never a CollectPartial.
    methods = [m for m, _ in impostor.calls]
    assert "Prepare" in methods and "Share" in methods, methods
    assert "CollectPartial" not in methods, methods
    shares = [r for m, r in impostor.calls if m == "Share"]
    seeds = [s for r in shares for s in r.seeds]
    assert sorted(s.sender for s in seeds) == ["alice", "carlos"]
    assert all(not s.receipt for s in seeds), "the relay never forwards a receipt"
    for s in seeds:
        ctx = seal_context(shares[0].header.transcript_hash, s.sender, "bob")
        with pytest.raises(PreconditionFailed, match="does not open"):
            open_sealed(s.sealed, impostor.seal_key, ctx)
        assert len(open_sealed(s.sealed, honest_key, ctx)) == 32  # only the real bob could

    # No honest node released anything in the aborted round.
    for party, before in releases_before.items():
        assert len(list_releases(fed, party)) == before, party
