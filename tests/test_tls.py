"""The TLS edge against a real grpc.aio server on loopback: who gets in, who is seen, pins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # no aio in stubs

from mpcnode import pki, tls
from mpcnode.errors import InvalidInput, PermissionDenied, PreconditionFailed, Unavailable
from mpcnode.pki import Identity, Role

ALICE = Identity(Role.PARTY, "alice")
BOB = Identity(Role.PARTY, "bob")
COORDINATOR = Identity(Role.COORDINATOR, "coordinator")
ETL = Identity(Role.CLIENT, "etl", "alice")
CAROL = Identity(Role.ANALYST, "carol")
RPC_TIMEOUT = 10.0


@dataclass(frozen=True)
class Pki:
    files: dict[Identity, tls.TlsFiles]
    foreign: tls.TlsFiles  # a client certificate of another federation's CA


def _tls_files(issued: pki.IssuedFiles) -> tls.TlsFiles:
    return tls.TlsFiles(cert=issued.cert, key=issued.key, ca=issued.ca)


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("tls")
    pki.create_ca(root / "ca", "demo")
    files = {}
    for ident in (ALICE, BOB, COORDINATOR, ETL, CAROL):
        hosts = pki.DEFAULT_HOSTS if ident.role.serves else ()
        files[ident] = _tls_files(pki.issue(root / "ca", root / "certs", ident, hosts))
    pki.create_ca(root / "other-ca", "other")
    other = pki.issue(root / "other-ca", root / "other", COORDINATOR, pki.DEFAULT_HOSTS)
    # Trust our CA for the server, but present a certificate our CA never signed.
    foreign = tls.TlsFiles(cert=other.cert, key=other.key, ca=files[COORDINATOR].ca)
    return Pki(files, foreign)


class RecordingHealth(health_aio.HealthServicer):  # type: ignore[misc]
    """The standard health service, recording who called it."""

    def __init__(self) -> None:
        super().__init__()
        self.callers: list[tls.CallerCert] = []

    async def Check(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.callers.append(tls.caller_identity(context))
        return await super().Check(request, context)


@dataclass(frozen=True)
class Running:
    port: int
    health: RecordingHealth


@asynccontextmanager
async def _serving(server_files: tls.TlsFiles) -> AsyncIterator[Running]:
    server = grpc.aio.server(options=tls.server_options())
    health = RecordingHealth()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(server_files))
    await server.start()
    try:
        yield Running(port, health)
    finally:
        await server.stop(grace=None)


async def _check(
    port: int, credentials: grpc.ChannelCredentials, server: Identity
) -> health_pb2.HealthCheckResponse:
    target = f"127.0.0.1:{port}"
    async with grpc.aio.secure_channel(target, credentials, tls.channel_options(server)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return await stub.Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


# --- mutual TLS through gRPC ---------------------------------------------------------------


@pytest.mark.parametrize("caller", [BOB, COORDINATOR, ETL, CAROL])
def test_valid_client_is_seen_with_its_identity(federation: Pki, caller: Identity) -> None:
    async def scenario() -> None:
        async with _serving(federation.files[ALICE]) as running:
            creds = tls.channel_credentials(federation.files[caller])
            reply = await _check(running.port, creds, ALICE)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            (seen,) = running.health.callers
            assert seen.identity == caller
            assert seen.pin == pki.public_key_pin(federation.files[caller].cert.read_bytes())

    _run(scenario)


def _assert_refused(
    federation: Pki, credentials: grpc.ChannelCredentials, server: Identity
) -> None:
    async def scenario() -> None:
        async with _serving(federation.files[ALICE]) as running:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _check(running.port, credentials, server)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert running.health.callers == []

    _run(scenario)


def test_no_client_certificate_fails_the_handshake(federation: Pki) -> None:
    ca = federation.files[BOB].ca.read_bytes()
    _assert_refused(federation, grpc.ssl_channel_credentials(root_certificates=ca), ALICE)


def test_client_certificate_of_another_ca_fails_the_handshake(federation: Pki) -> None:
    _assert_refused(federation, tls.channel_credentials(federation.foreign), ALICE)


def test_server_with_another_identity_is_refused(federation: Pki) -> None:
    # We dial alice's address but expect bob: gRPC's name check must refuse alice's cert.
    _assert_refused(federation, tls.channel_credentials(federation.files[COORDINATOR]), BOB)


def test_server_of_another_role_is_refused(federation: Pki) -> None:
    impostor = Identity(Role.COORDINATOR, "alice")  # same name, other role: alice.coordinator.mpc
    _assert_refused(federation, tls.channel_credentials(federation.files[BOB]), impostor)


def test_channel_options_pin_the_server_name() -> None:
    options = dict(tls.channel_options(BOB))
    assert options["grpc.ssl_target_name_override"] == "bob.party.mpc"
    assert options["grpc.max_receive_message_length"] >= 512 * 1024
    assert dict(tls.channel_options(COORDINATOR))["grpc.ssl_target_name_override"] == (
        "coordinator.coordinator.mpc"
    )
    with pytest.raises(InvalidInput):
        tls.channel_options(CAROL)


@dataclass(frozen=True)
class _FakeContext:
    auth: dict[str, list[bytes]]

    def auth_context(self) -> dict[str, list[bytes]]:
        return self.auth


def test_caller_identity_requires_a_certificate() -> None:
    context = _FakeContext({"transport_security_type": [b"ssl"]})
    with pytest.raises(PermissionDenied, match="no verified client certificate"):
        tls.caller_identity(context)  # type: ignore[arg-type]


def test_caller_identity_requires_tls13(federation: Pki) -> None:
    cert = federation.files[BOB].cert.read_bytes()
    old = _FakeContext({"x509_pem_cert": [cert], "ssl_tls_version": [b"TLSv1.2"]})
    with pytest.raises(PermissionDenied, match=r"used TLSv1\.2; only TLSv1\.3"):
        tls.caller_identity(old)  # type: ignore[arg-type]
    current = _FakeContext({"x509_pem_cert": [cert], "ssl_tls_version": [b"TLSv1.3"]})
    assert tls.caller_identity(current).identity == BOB  # type: ignore[arg-type]


# --- roster pins via the pre-flight handshake ---------------------------------------------


def _preflight(
    federation: Pki, expected: Identity, pin: str | None, port: int | None = None
) -> None:
    async def scenario() -> None:
        async with _serving(federation.files[ALICE]) as running:
            await asyncio.to_thread(
                tls.check_server_pin,
                "127.0.0.1",
                port or running.port,
                federation.files[COORDINATOR],
                expected,
                pin,
                RPC_TIMEOUT,
            )

    _run(scenario)


def test_check_server_pin_accepts_the_right_pin(federation: Pki) -> None:
    pin = pki.public_key_pin(federation.files[ALICE].cert.read_bytes())
    _preflight(federation, ALICE, pin)
    _preflight(federation, ALICE, pin.upper().replace("SHA256", "sha256"))
    _preflight(federation, ALICE, None)


def test_check_server_pin_refuses_the_wrong_pin(federation: Pki) -> None:
    wrong = pki.public_key_pin(federation.files[BOB].cert.read_bytes())
    actual = pki.public_key_pin(federation.files[ALICE].cert.read_bytes())
    expected = (
        rf"^peer alice at 127\.0\.0\.1:\d+ presented key {actual} but the roster pins {wrong}$"
    )
    with pytest.raises(PermissionDenied, match=expected):
        _preflight(federation, ALICE, wrong)


def test_check_server_pin_refuses_another_identity(federation: Pki) -> None:
    pin = pki.public_key_pin(federation.files[ALICE].cert.read_bytes())
    with pytest.raises(
        PermissionDenied, match=r"failed certificate verification as bob\.party\.mpc"
    ):
        _preflight(federation, BOB, pin)


def test_check_server_pin_unreachable(federation: Pki) -> None:
    with pytest.raises(Unavailable, match="unreachable"):
        tls.check_server_pin("127.0.0.1", 1, federation.files[BOB], ALICE, None, 2.0)


# --- loading files --------------------------------------------------------------------------


def test_missing_file_names_the_config_key(federation: Pki, tmp_path: Path) -> None:
    good = federation.files[ALICE]
    files = tls.TlsFiles(cert=good.cert, key=tmp_path / "nope.key", ca=good.ca, section="node.tls")
    with pytest.raises(PreconditionFailed, match=r"node\.tls\.key = .*nope\.key: no such file"):
        files.load()


def test_mismatched_key_is_explained(federation: Pki) -> None:
    alice, bob = federation.files[ALICE], federation.files[BOB]
    files = tls.TlsFiles(cert=alice.cert, key=bob.key, ca=alice.ca)
    with pytest.raises(InvalidInput, match="is not the private key of"):
        files.load()
    assert alice.identity == ALICE


def test_garbage_pem_is_explained(federation: Pki, tmp_path: Path) -> None:
    junk = tmp_path / "junk.crt"
    junk.write_bytes(b"hello")
    good = federation.files[ALICE]
    with pytest.raises(InvalidInput, match="unreadable"):
        tls.TlsFiles(cert=junk, key=good.key, ca=good.ca).load()
