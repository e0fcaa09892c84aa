"""A client whose TLS handshake fails is told why, in words, not "Socket closed".

Against real daemons: the wrong party name for an address, a CA of another federation,
nothing listening, and a client certificate that expired; each error names what is wrong.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mpcnode.client import LocalClient
from mpcnode.errors import Unavailable
from mpcnode.federation import LocalFederation, free_port
from mpcnode.handshake import diagnose
from mpcnode.pki import Identity, Role, create_ca, issue
from mpcnode.tls import TlsFiles

pytestmark = pytest.mark.integration


def _inputs(client: LocalClient) -> None:
    client.inputs()


def test_the_wrong_party_for_an_address_is_named(fed4: LocalFederation) -> None:
    hr = fed4.tls("alice", "alice-hr")
    with (
        LocalClient(f"127.0.0.1:{fed4.ports['alice']}", "bob", hr, timeout=5) as client,
        pytest.raises(Unavailable, match=r"presents alice\.party\.mpc.*expected bob\.party\.mpc"),
    ):
        _inputs(client)


def test_another_federations_ca_is_named(fed4: LocalFederation, tmp_path: Path) -> None:
    create_ca(tmp_path / "other", "elsewhere")
    hr = fed4.tls("alice", "alice-hr")
    foreign = TlsFiles(hr.cert, hr.key, tmp_path / "other" / "ca.crt")
    with (
        LocalClient(f"127.0.0.1:{fed4.ports['alice']}", "alice", foreign, timeout=5) as client,
        pytest.raises(Unavailable, match="not from this federation's CA"),
    ):
        _inputs(client)


def test_the_command_line_shows_the_reason_and_no_grpc_log_line(
    fed4: LocalFederation, tmp_path: Path
) -> None:
    create_ca(tmp_path / "other", "elsewhere")
    hr = fed4.tls("alice", "alice-hr")
    done = subprocess.run(
        [
            sys.executable, "-m", "mpcnode", "inputs", "--node",
            f"127.0.0.1:{fed4.ports['alice']}", "--party", "alice", "--cert", str(hr.cert),
            "--key", str(hr.key), "--ca", str(tmp_path / "other" / "ca.crt"),
        ],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "not from this federation's CA" in done.stderr
    assert not re.search(r"^[IWE]\d{4} |ssl_transport_security", done.stderr, re.MULTILINE)


def test_nothing_listening_is_said(fed4: LocalFederation) -> None:
    hr = fed4.tls("alice", "alice-hr")
    with (
        LocalClient(f"127.0.0.1:{free_port()}", "alice", hr, timeout=5) as client,
        pytest.raises(Unavailable, match="nothing listens at"),
    ):
        _inputs(client)


def test_an_expired_client_certificate_is_dated(fed4: LocalFederation, tmp_path: Path) -> None:
    ca_cert = x509.load_pem_x509_certificate((fed4.ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((fed4.ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    good = issue(fed4.ca_dir, tmp_path / "good", Identity(Role.CLIENT, "hr", org="alice"), ())
    template = x509.load_pem_x509_certificate(good.cert.read_bytes())
    key = serialization.load_pem_private_key(good.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ended = datetime.datetime(2025, 1, 31, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ended - datetime.timedelta(days=30))
        .not_valid_after(ended)
    )
    for extension in template.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    expired = tmp_path / "expired.crt"
    expired.write_bytes(
        builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    files = TlsFiles(expired, good.key, good.ca)
    why = diagnose(f"127.0.0.1:{fed4.ports['alice']}", Identity(Role.PARTY, "alice"), files)
    assert why == f"this side's certificate {expired} expired on 2025-01-31"
