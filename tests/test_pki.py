"""The federation PKI: identities, certificates, pins, key files, and the `pki` CLI."""

from __future__ import annotations

import datetime
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mpcnode import pki
from mpcnode.commands.pki import pki as pki_group
from mpcnode.core.sealing import parse_seal_key
from mpcnode.errors import InvalidInput, PermissionDenied, PreconditionFailed
from mpcnode.pki import Identity, Role

ALICE = Identity(Role.PARTY, "alice")
COORDINATOR = Identity(Role.COORDINATOR, "coordinator")
ETL = Identity(Role.CLIENT, "etl", "alice")
CAROL = Identity(Role.ANALYST, "carol")


@dataclass(frozen=True)
class Federation:
    ca_dir: Path
    out: Path
    files: dict[Identity, pki.IssuedFiles]


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    root = tmp_path_factory.mktemp("pki")
    pki.create_ca(root / "ca", "demo")
    files = {
        ident: pki.issue(
            root / "ca", root / "certs", ident, pki.DEFAULT_HOSTS if ident.role.serves else []
        )
        for ident in (ALICE, COORDINATOR, ETL, CAROL)
    }
    return Federation(root / "ca", root / "certs", files)


def _cert(fed: Federation, ident: Identity) -> x509.Certificate:
    return x509.load_pem_x509_certificate(fed.files[ident].cert.read_bytes())


# --- identities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ident", "uri"),
    [
        (ALICE, "mpc://party/alice"),
        (COORDINATOR, "mpc://coordinator/coordinator"),
        (ETL, "mpc://client/alice/etl"),
        (CAROL, "mpc://analyst/carol"),
    ],
)
def test_identity_uri_round_trip(ident: Identity, uri: str) -> None:
    assert ident.uri == uri
    assert pki.parse_uri(uri) == ident
    assert Identity.parse_uri(uri) == ident


@pytest.mark.parametrize(
    "uri",
    [
        "https://party/alice",
        "mpc://party/",
        "mpc://party/Alice",
        "mpc://party/alice/extra",
        "mpc://king/alice",
        "mpc://client/etl",
        "mpc://client/alice/etl/x",
        "mpc://party/-alice",
        "MPC://party/alice",
        "mpc://party/alice?x=1",
        "mpc://party/alice\n",
        "",
    ],
)
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInput):
        pki.parse_uri(uri)


@pytest.mark.parametrize(
    "name", ["", "Alice", "-alice", "al ice", "al.ice", "a" * 64, "alice\n", "ålice", "al_ice"]
)
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        Identity(Role.PARTY, name)
    with pytest.raises(InvalidInput):
        Identity(Role.CLIENT, "etl", name)


def test_names_at_the_limits_are_accepted() -> None:
    assert Identity(Role.PARTY, "a" * 63).name == "a" * 63
    assert Identity(Role.PARTY, "0-x").server_name == "0-x.party.mpc"


def test_org_only_for_clients() -> None:
    with pytest.raises(InvalidInput, match="needs an org"):
        Identity(Role.CLIENT, "etl")
    with pytest.raises(InvalidInput, match="only a client"):
        Identity(Role.PARTY, "alice", "alice")


def test_only_servers_have_server_names() -> None:
    assert ALICE.server_name == "alice.party.mpc"
    with pytest.raises(InvalidInput):
        _ = CAROL.server_name


# --- certificates -------------------------------------------------------------------------


def test_ca_is_a_path_length_zero_p256_ca(federation: Federation) -> None:
    ca = x509.load_pem_x509_certificate((federation.ca_dir / "ca.crt").read_bytes())
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    days = (ca.not_valid_after_utc - ca.not_valid_before_utc).days
    assert 3649 <= days <= 3651


@pytest.mark.parametrize("ident", [ALICE, COORDINATOR, ETL, CAROL])
def test_issued_certificates_carry_their_identity(federation: Federation, ident: Identity) -> None:
    files = federation.files[ident]
    assert files.cert.name == f"{ident.file_stem}.crt"
    assert files.key.name == f"{ident.file_stem}.key"
    assert files.ca.read_bytes() == (federation.ca_dir / "ca.crt").read_bytes()
    assert pki.identity_from_cert(files.cert.read_bytes()) == ident
    cert = _cert(federation, ident)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == f"CN={ident.name}"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 397 <= days <= 398
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_servers_get_identity_name_and_hosts(federation: Federation) -> None:
    cert = _cert(federation, ALICE)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["alice.party.mpc", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("ident", [ETL, CAROL])
def test_callers_get_no_host_names(federation: Federation, ident: Identity) -> None:
    cert = _cert(federation, ident)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ident.uri]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_callers_refuse_hosts(federation: Federation, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="takes no hosts"):
        pki.issue(federation.ca_dir, tmp_path, CAROL, ["localhost"])


@pytest.mark.parametrize("host", ["bob.party.mpc", "mpc", "x.MPC.", "bad host", "*.example.org"])
def test_reserved_or_malformed_hosts_are_refused(
    federation: Federation, tmp_path: Path, host: str
) -> None:
    with pytest.raises(InvalidInput):
        pki.issue(federation.ca_dir, tmp_path, Identity(Role.PARTY, "bob"), [host])
    assert not (tmp_path / "bob.key").exists()


def test_ipv6_and_dns_hosts(federation: Federation, tmp_path: Path) -> None:
    files = pki.issue(federation.ca_dir, tmp_path, ALICE, ["::1", "Alice.Example.org."])
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["alice.party.mpc", "alice.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]


def test_certificate_without_identity_is_refused(federation: Federation) -> None:
    ca_pem = (federation.ca_dir / "ca.crt").read_bytes()
    with pytest.raises(PermissionDenied, match=r"no mpc:// identity"):
        pki.identity_from_cert(ca_pem)


def _forged(sans: list[x509.GeneralName]) -> bytes:
    """A self-signed certificate with arbitrary SANs (identity_from_cert trusts the TLS layer
    for the signature, so only the SAN rules are under test here)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .issuer_name(name)
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("sans", "message"),
    [
        ([x509.DNSName("alice.party.mpc")], "no mpc:// identity"),
        ([x509.UniformResourceIdentifier("https://party/alice")], "no mpc:// identity"),
        (
            [
                x509.UniformResourceIdentifier("mpc://party/alice"),
                x509.UniformResourceIdentifier("mpc://party/bob"),
            ],
            "2 mpc:// identities",
        ),
        (
            [
                x509.UniformResourceIdentifier("mpc://party/alice"),
                x509.UniformResourceIdentifier("MPC://party/bob"),
            ],
            "2 mpc:// identities",
        ),
        ([x509.UniformResourceIdentifier("mpc://party/Alice")], "malformed"),
        (
            [x509.UniformResourceIdentifier("mpc://party/mallory"), x509.DNSName("bob.party.mpc")],
            "also claims the name 'bob.party.mpc'",
        ),
        (
            [x509.UniformResourceIdentifier("mpc://analyst/eve"), x509.DNSName("eve.analyst.mpc")],
            "also claims",
        ),
    ],
)
def test_identity_rules_on_presented_certificates(
    sans: list[x509.GeneralName], message: str
) -> None:
    with pytest.raises(PermissionDenied, match=re.escape(message)):
        pki.identity_from_cert(_forged(sans))


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(InvalidInput):
        pki.public_key_pin(b"not a certificate")


# --- pins ---------------------------------------------------------------------------------


def test_pins_are_stable_and_distinct(federation: Federation, tmp_path: Path) -> None:
    pins = {pki.public_key_pin(f.cert.read_bytes()) for f in federation.files.values()}
    assert len(pins) == len(federation.files)
    alice_pem = federation.files[ALICE].cert.read_bytes()
    pin = pki.public_key_pin(alice_pem)
    assert pin == pki.public_key_pin(alice_pem)
    assert pki.parse_pin(pin.upper().replace("SHA256", "sha256")) == pin
    der = x509.load_pem_x509_certificate(alice_pem).public_bytes(serialization.Encoding.DER)
    assert pki.public_key_pin(der) == pin
    reissued = pki.issue(federation.ca_dir, tmp_path, ALICE, pki.DEFAULT_HOSTS)
    assert pki.public_key_pin(reissued.cert.read_bytes()) != pin


@pytest.mark.parametrize("text", ["sha256:abc", "md5:" + "0" * 64, "0" * 64, "sha256:" + "g" * 64])
def test_malformed_pins_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        pki.parse_pin(text)


# --- key files ----------------------------------------------------------------------------


def test_private_keys_are_0600(federation: Federation) -> None:
    keys = [f.key for f in federation.files.values()] + [federation.ca_dir / "ca.key"]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8


def test_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    ca_crt = pki.create_ca(tmp_path / "ca", "demo")
    with pytest.raises(PreconditionFailed, match="refusing to overwrite"):
        pki.create_ca(tmp_path / "ca", "demo")
    first = pki.issue(tmp_path / "ca", tmp_path / "out", ALICE, [])
    before = first.key.read_bytes()
    with pytest.raises(PreconditionFailed, match="--force"):
        pki.issue(tmp_path / "ca", tmp_path / "out", ALICE, [])
    assert first.key.read_bytes() == before
    again = pki.issue(tmp_path / "ca", tmp_path / "out", ALICE, [], force=True)
    assert again.key.read_bytes() != before
    assert stat.S_IMODE(again.key.stat().st_mode) == 0o600
    assert pki.create_ca(tmp_path / "ca", "demo", force=True) == ca_crt


def test_refuses_a_planted_key_file(tmp_path: Path) -> None:
    pki.create_ca(tmp_path / "ca", "demo")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "alice.key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PreconditionFailed):
        pki.issue(tmp_path / "ca", tmp_path / "out", ALICE, [])
    assert not (tmp_path / "elsewhere").exists()


def test_refuses_to_mix_federations(tmp_path: Path) -> None:
    pki.create_ca(tmp_path / "ca1", "one")
    pki.create_ca(tmp_path / "ca2", "two")
    pki.issue(tmp_path / "ca1", tmp_path / "out", ALICE, [])
    with pytest.raises(PreconditionFailed, match="different CA"):
        pki.issue(tmp_path / "ca2", tmp_path / "out", COORDINATOR, [])


def test_missing_ca_is_explained(tmp_path: Path) -> None:
    with pytest.raises(PreconditionFailed, match="no CA in"):
        pki.issue(tmp_path / "nowhere", tmp_path / "out", ALICE, [])


def test_bad_federation_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="federation"):
        pki.create_ca(tmp_path, "Bad Name")


# --- CLI ----------------------------------------------------------------------------------


def test_cli_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    ca, out = str(tmp_path / "ca"), str(tmp_path / "certs")
    result = runner.invoke(pki_group, ["init-ca", "--dir", ca, "--federation", "demo"])
    assert result.exit_code == 0, result.output
    args = ["issue", "--ca-dir", ca, "--out", out, "--role", "party", "--name", "bob"]
    result = runner.invoke(pki_group, [*args, "--host", "bob.example.org", "--host", "10.0.0.7"])
    assert result.exit_code == 0, result.output
    assert "mpc://party/bob" in result.output
    crt = tmp_path / "certs" / "bob.crt"
    result = runner.invoke(pki_group, ["pin", str(crt)])
    assert result.exit_code == 0
    assert result.output.strip() == pki.public_key_pin(crt.read_bytes())
    result = runner.invoke(pki_group, ["show", str(crt)])
    assert result.exit_code == 0, result.output
    for expected in ["role:", "party", "bob.party.mpc", "bob.example.org", "10.0.0.7", "not after"]:
        assert expected in result.output
    assert pki.public_key_pin(crt.read_bytes()) in result.output


def test_cli_client_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ca, out = str(tmp_path / "ca"), str(tmp_path / "certs")
    assert runner.invoke(pki_group, ["init-ca", "--dir", ca, "--federation", "demo"]).exit_code == 0
    base = ["issue", "--ca-dir", ca, "--out", out, "--role", "client", "--name", "etl"]
    result = runner.invoke(pki_group, base)
    assert result.exit_code == 1 and "needs an org" in result.output
    result = runner.invoke(pki_group, [*base, "--org", "alice"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "certs" / "alice-etl.key").exists()
    result = runner.invoke(pki_group, [*base, "--org", "alice"])
    assert result.exit_code == 1 and "refusing to overwrite" in result.output
    assert runner.invoke(pki_group, [*base, "--org", "alice", "--force"]).exit_code == 0
    result = runner.invoke(pki_group, ["show", str(tmp_path / "certs" / "alice-etl.crt")])
    assert "org:" in result.output and "alice" in result.output
    result = runner.invoke(pki_group, ["show", str(tmp_path / "ca" / "ca.crt")])
    assert result.exit_code == 0 and "federation CA" in result.output, result.output
    result = runner.invoke(pki_group, ["init-ca", "--dir", ca, "--federation", "demo"])
    assert result.exit_code == 1 and "Error:" in result.output
    result = runner.invoke(
        pki_group, ["issue", "--ca-dir", ca, "--out", out, "--role", "party", "--name", "Bad"]
    )
    assert result.exit_code == 1 and "invalid" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [[], ["init-ca"], ["issue"], ["pin"], ["show"]])
def test_cli_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(pki_group, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "mpcnode pki" in result.output


# -- seal keys --------------------------------------------------------------------------------
def test_a_party_certificate_comes_with_its_seal_key(federation: Federation) -> None:
    out = federation.out.parent / "sealed"
    done = CliRunner().invoke(
        pki_group,
        ["issue", "--ca-dir", str(federation.ca_dir), "--out", str(out), "--role", "party",
         "--name", "erin"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    key = out / "erin.seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    printed = re.search(r"seal_key:\s+(x25519:\S+)", done.output)
    assert printed is not None, done.output
    shown = CliRunner().invoke(pki_group, ["seal-key", str(key)])
    assert shown.exit_code == 0 and shown.output.strip() == printed.group(1)
    parse_seal_key(printed.group(1))  # the form a roster takes
    again = CliRunner().invoke(pki_group, ["new-seal-key", "--out", str(out), "--name", "erin"])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    rotated = CliRunner().invoke(
        pki_group, ["new-seal-key", "--out", str(out), "--name", "erin", "--force"]
    )
    assert rotated.exit_code == 0, rotated.output
    assert printed.group(1) not in rotated.output  # a new key


def test_a_seal_key_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.seal.key"
    bogus.write_text("not a key")
    done = CliRunner().invoke(pki_group, ["seal-key", str(bogus)])
    assert done.exit_code != 0
    assert "not an unencrypted X25519 private key" in done.output


@pytest.mark.parametrize(
    "text", ["", "x25519:", "x25519:abc", "ed25519:" + "A" * 44, "x25519:" + "A" * 40 + "!!!="]
)
def test_malformed_roster_seal_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="seal key"):
        parse_seal_key(text)
