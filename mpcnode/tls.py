"""The TLS edge: gRPC credentials, the caller's verified identity, and server key pinning.

Every channel is gRPC over mutual TLS (DESIGN 4.3); this module has no way to build an
insecure server or channel. Who is who:

- a server learns its caller from the peer certificate that gRPC verified against the
  federation CA (`caller_identity`), never from a message field;
- a client proves which server answered by pinning the expected name: `channel_options` sets
  `grpc.ssl_target_name_override` to `<name>.<role>.mpc`, which only that server's
  certificate carries (`mpcnode.pki` refuses to issue `.mpc` host names otherwise);
- a roster's key pin is enforced by `check_server_pin`, a pre-flight TLS handshake, because
  gRPC Python does not expose the server certificate of a channel.

TLS version: the `ssl` pre-flight requires TLS 1.3. gRPC Python offers no knob for the minimum
version of its own handshakes (gRPC core negotiates TLS 1.3 whenever both ends support it, and
otherwise TLS 1.2 with ECDHE and AEAD ciphers only), so `caller_identity` refuses a call whose
auth context reports a version other than TLS 1.3.
"""

from __future__ import annotations

import functools
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mpcnode.errors import InvalidInput, PermissionDenied, PreconditionFailed, Unavailable
from mpcnode.pki import Identity, identity_from_cert, parse_pin, public_key_pin

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # wire chunks are 512 KiB; headroom for headers and specs
KEEPALIVE_TIME_MS = 60_000  # a client pings an idle-looking connection once a minute ...
KEEPALIVE_TIMEOUT_MS = 20_000  # ... and drops it if the ping is unanswered for 20 s
# A server accepts pings this often, so a call that waits long (CollectPartial until the
# deadline) with no data frames is not cut off as a "too many pings" abuser.
MIN_PING_INTERVAL_MS = KEEPALIVE_TIME_MS // 2
TLS_VERSION = b"TLSv1.3"
_PEER_CERT_KEY = "x509_pem_cert"
_TLS_VERSION_KEY = "ssl_tls_version"  # absent in older gRPC cores; then the check is skipped


@dataclass(frozen=True)
class TlsMaterial:
    """The PEM bytes of a TLS identity, as read by `TlsFiles.load`."""

    cert: bytes
    key: bytes
    ca: bytes


@dataclass(frozen=True)
class TlsFiles:
    """Where a daemon or client finds its certificate, private key and federation CA.

    `section` is the config table these paths come from, so errors name the key to fix
    (e.g. `tls.cert`).
    """

    cert: Path
    key: Path
    ca: Path
    section: str = "tls"

    def __post_init__(self) -> None:
        # Callers write paths as strings as often as Paths; both are accepted.
        for name in ("cert", "key", "ca"):
            object.__setattr__(self, name, Path(getattr(self, name)))

    def load(self) -> TlsMaterial:
        """Read and check the three files; PreconditionFailed or InvalidInput naming the key.

        Checks that each file parses and that the private key belongs to the certificate, so a
        mix-up fails at start-up with a message instead of as an opaque handshake failure.
        """
        material = TlsMaterial(
            cert=self._read("cert", self.cert),
            key=self._read("key", self.key),
            ca=self._read("ca", self.ca),
        )
        try:
            cert = x509.load_pem_x509_certificate(material.cert)
            x509.load_pem_x509_certificates(material.ca)
            key = serialization.load_pem_private_key(material.key, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{self.section}: a PEM file is unreadable: {exc}") from None
        if key.public_key() != cert.public_key():
            raise InvalidInput(
                f"{self.section}.key = {self.key} is not the private key of "
                f"{self.section}.cert = {self.cert}"
            )
        return material

    @property
    def identity(self) -> Identity:
        """The identity of this certificate (the `mpc://` URI SAN)."""
        return identity_from_cert(self._read("cert", self.cert))

    def _read(self, field: str, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PreconditionFailed(
                f"{self.section}.{field} = {path}: no such file (check {self.section}.{field})"
            ) from None
        except OSError as exc:
            raise PreconditionFailed(
                f"{self.section}.{field} = {path}: cannot read: {exc.strerror}"
            ) from None


@dataclass(frozen=True)
class CallerCert:
    """The verified caller of an RPC: its identity and the pin of its certificate's key."""

    identity: Identity
    pin: str


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that demand and verify a client certificate from the federation CA.

    There is no plaintext alternative: a caller without a valid certificate fails the TLS
    handshake (UNAVAILABLE at the client) before any RPC runs.
    """
    material = files.load()
    return grpc.ssl_server_credentials(
        [(material.key, material.cert)],
        root_certificates=material.ca,
        require_client_auth=True,
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Channel credentials that present our certificate and trust only the federation CA."""
    material = files.load()
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca,
        private_key=material.key,
        certificate_chain=material.cert,
    )


def channel_options(server: Identity) -> list[tuple[str, Any]]:
    """gRPC channel options for talking to `server`: its identity name, keepalive, sizes.

    `grpc.ssl_target_name_override` makes gRPC check the server certificate for
    `<name>.<role>.mpc` (and send it as SNI and :authority) whatever address we dial, so a
    channel to `bob` refuses alice's certificate even if the address points at alice.
    """
    return [
        ("grpc.ssl_target_name_override", server.server_name),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def server_options() -> list[tuple[str, Any]]:
    """gRPC server options that match `channel_options`: accept its keepalive pings, same sizes."""
    return [
        # A second copy on the same port must fail to bind, not share the port's traffic.
        ("grpc.so_reuseport", 0),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def caller_identity(context: grpc.aio.ServicerContext[Any, Any]) -> CallerCert:
    """The identity and key pin of the caller, from the client certificate gRPC verified.

    Reads `auth_context()["x509_pem_cert"]`, which gRPC fills only after verifying the chain
    to the federation CA; PermissionDenied if it is absent or carries no `mpc://` identity, or
    if the auth context reports a TLS version other than 1.3.
    """
    auth = context.auth_context()
    certs = list(auth.get(_PEER_CERT_KEY, ()))
    if len(certs) != 1:
        raise PermissionDenied("the call carries no verified client certificate")
    versions = list(auth.get(_TLS_VERSION_KEY, (TLS_VERSION,)))
    if versions != [TLS_VERSION]:
        found = b", ".join(versions).decode(errors="replace")
        raise PermissionDenied(f"the call used {found}; only {TLS_VERSION.decode()} is accepted")
    return _caller_cert(certs[0])


@functools.lru_cache(maxsize=256)
def _caller_cert(pem: bytes) -> CallerCert:
    # Parsing a certificate costs more than the rest of a small call's checks; a federation
    # has few certificates, and the same bytes always mean the same identity and pin.
    return CallerCert(identity=identity_from_cert(pem), pin=public_key_pin(pem))


def check_server_pin(
    host: str,
    port: int,
    files: TlsFiles,
    expected: Identity,
    pin: str | None,
    timeout: float,
) -> None:
    """Pre-flight: handshake with `host:port` and check it is `expected`, holding key `pin`.

    Opens a TLS 1.3 connection with our client certificate, verifies the server certificate
    against the federation CA for the name `<name>.<role>.mpc`, then compares the identity
    and (if `pin` is given) the key pin. PermissionDenied on a mismatch, Unavailable if the
    server cannot be reached or the handshake fails. Blocking: from a coroutine, call it
    through `asyncio.to_thread`.

    Residual risk: this is a separate connection from the gRPC channel, which itself checks
    only the CA and the name. Someone holding a CA-issued certificate for the same name (the
    CA operator, or a thief of the CA key) who also controls the network path could let this
    check reach the genuine server and divert the channel's later connection to an impostor.
    Callers narrow the window by checking right before each round and on every reconnect.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    context = _preflight_context(files)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=expected.server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise PermissionDenied(
            f"peer {expected.name} at {where} failed certificate verification as "
            f"{expected.server_name}: {exc.verify_message}"
        ) from None
    except (OSError, ssl.SSLError) as exc:  # refused, timed out, reset, handshake failure
        raise Unavailable(f"peer {expected.name} at {where} is unreachable: {exc}") from None
    if der is None:
        raise Unavailable(f"peer {expected.name} at {where} presented no certificate")
    _compare(der, expected, pin, where)


def _compare(der: bytes, expected: Identity, pin: str | None, where: str) -> None:
    presented = identity_from_cert(der)
    if presented != expected:
        raise PermissionDenied(
            f"peer at {where} is {presented.uri}, but the roster expects {expected.uri}"
        )
    actual = public_key_pin(der)
    if pin is not None and actual != parse_pin(pin):
        raise PermissionDenied(
            f"peer {expected.name} at {where} presented key {actual} but the roster pins {pin}"
        )


def _preflight_context(files: TlsFiles) -> ssl.SSLContext:
    material = files.load()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=material.ca.decode("ascii"))
    context.load_cert_chain(files.cert, files.key)
    context.set_alpn_protocols(["h2"])  # gRPC servers refuse a handshake without ALPN h2
    return context
