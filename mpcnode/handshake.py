"""Why a TLS handshake with a daemon failed, in words a person can act on.

gRPC reports a failed handshake as UNAVAILABLE with "Socket closed" or "Hostname
Verification Check failed", naming neither certificate. When a client's call fails so, this
module shakes hands again, by hand, and says what it found: nothing listening at the
address; this side's certificate expired (with the date); the server presenting another
name than the one expected (both named); the server's certificate from another CA (its
issuer and our CA's fingerprint) or expired; or the server refusing this side's certificate
(its TLS alert, e.g. an unknown CA). Blocking, and only on the error path.
"""

from __future__ import annotations

import datetime
import socket
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from mpcnode.pki import Identity
from mpcnode.tls import TlsFiles

_ALERTS = {
    "UNKNOWN_CA": "the server does not trust the CA of this side's certificate",
    "CERTIFICATE_EXPIRED": "the server says this side's certificate has expired",
    "BAD_CERTIFICATE": "the server refused this side's certificate",
    "CERTIFICATE_REQUIRED": "the server wants a client certificate and got none",
}


def diagnose(address: str, server: Identity, tls: TlsFiles, timeout: float = 5.0) -> str:
    """One sentence on what is wrong with the TLS connection to `server` at `address`
    ("" when the handshake now succeeds or nothing specific is found)."""
    now = datetime.datetime.now(datetime.UTC)
    try:
        own = x509.load_pem_x509_certificate(tls.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    except (OSError, ValueError) as exc:
        return f"this side's TLS files cannot be read: {exc}"
    if now > own.not_valid_after_utc:
        return f"this side's certificate {tls.cert} expired on {own.not_valid_after_utc:%Y-%m-%d}"
    der, problem = _handshake(address, server, tls, timeout)
    if der is None:
        return problem
    return _judge(x509.load_der_x509_certificate(der), ca, server, now) or problem


def _handshake(
    address: str, server: Identity, tls: TlsFiles, timeout: float
) -> tuple[bytes | None, str]:
    """The server's certificate (unverified, to judge it here) and any refusal it sent."""
    host, _, port = address.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # to see what the server presents, then judge it here
    context.load_cert_chain(tls.cert, tls.key)
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server.server_name) as conn,
        ):
            der = conn.getpeercert(binary_form=True)
            return der, (_alert(conn) if der else "the server presented no certificate")
    except ConnectionRefusedError:
        return None, f"nothing listens at {address}"
    except ssl.SSLError as exc:
        return None, _alert_text(exc) or f"the TLS handshake failed: {exc.reason}"
    except OSError as exc:
        return None, f"{address} cannot be reached: {exc.strerror or exc}"


def _alert(conn: ssl.SSLSocket) -> str:
    """TLS 1.3 servers judge the client's certificate after the handshake: read an alert."""
    conn.settimeout(1.0)
    try:
        conn.recv(1)
    except ssl.SSLError as exc:
        return _alert_text(exc)
    except OSError:
        return ""
    return ""


def _alert_text(exc: ssl.SSLError) -> str:
    reason = str(exc.reason or "")
    return next((text for key, text in _ALERTS.items() if key in reason.upper()), "")


def _judge(
    cert: x509.Certificate, ca: x509.Certificate, server: Identity, now: datetime.datetime
) -> str:
    expected = server.server_name
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return (
            f"the server's certificate is not from this federation's CA: it was issued by "
            f"{cert.issuer.rfc4514_string()}, and the CA this side trusts is "
            f"{ca.subject.rfc4514_string()} (SHA-256 {ca.fingerprint(hashes.SHA256()).hex()[:16]}"
            "...); check the address, or the ca file"
        )
    if expected not in dns:
        presented = ", ".join(n for n in dns if n.endswith(".mpc")) or "no federation name"
        return (
            f"the server at this address is not {server}: it presents {presented}, this side "
            f"expected {expected}; check the address or the party name"
        )
    if now > cert.not_valid_after_utc:
        return f"the server's certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return ""
