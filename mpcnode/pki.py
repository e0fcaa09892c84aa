"""The federation PKI: one CA per federation, and certificates that bind a role and a name.

Identity lives in the certificate, never in a message field (DESIGN 1, 4.3):

- one URI SAN `mpc://<role>/<name>` (a `client` is `mpc://client/<org>/<name>`, where `org` is
  the party id whose local API it may call); roles are party, coordinator, client, analyst;
- for servers (party, coordinator) DNS SANs: always `<name>.<role>.mpc`, plus the host names
  and IP addresses they serve on. Clients set `grpc.ssl_target_name_override` to
  `<name>.<role>.mpc`, so gRPC's own hostname check proves *which* server answered. That only
  holds if no other certificate carries that name, so `issue` refuses any `--host` under
  `.mpc` and `identity_from_cert` refuses a certificate whose `.mpc` names are not its own.

Keys are ECDSA P-256, signatures SHA-256. A pin is the SHA-256 of the DER
SubjectPublicKeyInfo (`sha256:<hex>`); a roster that pins a party's key stops even the CA
operator from impersonating it. Private keys are written PKCS8 PEM, unencrypted, created
with mode 0600 (never written and then chmod-ed), and never overwritten unless forced.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mpcnode.errors import InvalidInput, PermissionDenied, PreconditionFailed, shown

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
URI_SCHEME = "mpc://"
SERVER_NAME_SUFFIX = ".mpc"
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
LEAF_DAYS = 397  # the CA/Browser Forum ceiling; renewal once a year is the expected rhythm
CA_DAYS = 3650
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
_BACKDATE = datetime.timedelta(minutes=5)  # tolerate small clock skew between machines
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PIN_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class Role(enum.Enum):
    """What a certificate holder is in the federation (DESIGN 1)."""

    PARTY = "party"
    COORDINATOR = "coordinator"
    CLIENT = "client"
    ANALYST = "analyst"

    @property
    def serves(self) -> bool:
        """True for roles that run a gRPC server (and so carry DNS SANs and serverAuth)."""
        return self in (Role.PARTY, Role.COORDINATOR)


@dataclass(frozen=True)
class Identity:
    """Who a certificate speaks for: a role, a name and, for a client, its organization.

    Invariants (checked on construction): `name` and `org` match `NAME_RE`; `org` is set for
    a client and only for a client.
    """

    role: Role
    name: str
    org: str | None = None

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        if self.role is Role.CLIENT:
            if self.org is None:
                raise InvalidInput("a client identity needs an org (the party id it belongs to)")
            _check_name("org", self.org)
        elif self.org is not None:
            raise InvalidInput(f"only a client identity has an org, not a {self.role.value}")

    @property
    def uri(self) -> str:
        """The URI SAN that carries this identity, e.g. `mpc://party/alice`."""
        if self.org is not None:
            return f"{URI_SCHEME}{self.role.value}/{self.org}/{self.name}"
        return f"{URI_SCHEME}{self.role.value}/{self.name}"

    @property
    def server_name(self) -> str:
        """The DNS name that proves a server's identity, e.g. `alice.party.mpc`."""
        if not self.role.serves:
            raise InvalidInput(f"a {self.role.value} does not serve, so it has no server name")
        return f"{self.name}.{self.role.value}{SERVER_NAME_SUFFIX}"

    @property
    def file_stem(self) -> str:
        """The base name of this identity's certificate and key files."""
        return f"{self.org}-{self.name}" if self.org is not None else self.name

    def __str__(self) -> str:
        """The URI, so logs and messages name an identity the way certificates do."""
        return self.uri

    @classmethod
    def parse_uri(cls, uri: str) -> Identity:
        """Parse `mpc://<role>/<name>` or `mpc://client/<org>/<name>`; InvalidInput if malformed."""
        if not uri.startswith(URI_SCHEME):
            raise InvalidInput(f"identity URI {shown(uri)} does not start with {URI_SCHEME}")
        parts = uri[len(URI_SCHEME) :].split("/")
        try:
            role = Role(parts[0])
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise InvalidInput(
                f"identity URI {shown(uri)} has an unknown role; use {roles}"
            ) from None
        expected = 3 if role is Role.CLIENT else 2
        if len(parts) != expected:
            shape = "mpc://client/<org>/<name>" if role is Role.CLIENT else "mpc://<role>/<name>"
            raise InvalidInput(f"identity URI {shown(uri)} is not of the form {shape}")
        return cls(role, parts[-1], parts[1] if role is Role.CLIENT else None)


parse_uri = Identity.parse_uri


@dataclass(frozen=True)
class IssuedFiles:
    """The files `issue` wrote: the leaf certificate, its private key, and the CA beside them."""

    cert: Path
    key: Path
    ca: Path


def create_ca(out_dir: Path, federation: str, *, force: bool = False) -> Path:
    """Create the federation CA (`ca.crt`, `ca.key`) in `out_dir`; return the certificate path.

    The CA may sign leaves only (path length 0). Its key is the root of trust of the whole
    federation: keep the directory offline; roster pins limit what a stolen CA key can do.
    """
    _check_name("federation", federation)
    cert_path, key_path = out_dir / CA_CERT, out_dir / CA_KEY
    _refuse_existing((cert_path, key_path), force)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = x509.NameAttribute(NameOID.COMMON_NAME, f"{federation} mpc federation CA")
    subject = x509.Name([cn, x509.NameAttribute(NameOID.ORGANIZATION_NAME, federation)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        _base_builder(subject, subject, key.public_key(), now, now + datetime.timedelta(CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    cert = builder.sign(key, hashes.SHA256())
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_new(key_path, _key_pem(key), 0o600, force)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644, force)
    return cert_path


def issue(
    ca_dir: Path,
    out_dir: Path,
    identity: Identity,
    hosts: Sequence[str],
    *,
    force: bool = False,
    days: int = LEAF_DAYS,
) -> IssuedFiles:
    """Issue a certificate for `identity`, signed by the CA in `ca_dir`, into `out_dir`.

    Writes `<stem>.crt` and `<stem>.key` (stem: `name`, or `org-name` for a client) and copies
    `ca.crt` beside them if absent. `hosts` are extra DNS names or IP addresses a server is
    reached at; a client or analyst takes none. Validity never outlasts the CA's.
    """
    if days < 1:
        raise InvalidInput(f"validity must be at least one day, not {days}")
    ca_cert, ca_key = _load_ca(ca_dir)
    sans = _subject_alt_names(identity, hosts)
    paths = IssuedFiles(
        out_dir / f"{identity.file_stem}.crt",
        out_dir / f"{identity.file_stem}.key",
        out_dir / CA_CERT,
    )
    _refuse_existing((paths.cert, paths.key), force)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    if paths.ca.exists() and paths.ca.read_bytes() != ca_pem and not force:
        raise PreconditionFailed(f"{paths.ca} holds a different CA; refusing to mix federations")
    cert, key = _leaf_certificate(ca_cert, ca_key, identity, sans, days)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_new(paths.key, _key_pem(key), 0o600, force)
    _write_new(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644, force)
    if not paths.ca.exists() or paths.ca.read_bytes() != ca_pem:
        _write_new(paths.ca, ca_pem, 0o644, force=True)
    return paths


def public_key_pin(cert_pem: bytes) -> str:
    """The pin of a certificate's key: `sha256:` + hex SHA-256 of its DER SubjectPublicKeyInfo.

    Accepts PEM or DER. The pin survives re-issuing a certificate for the same key and changes
    with every new key, so it names the key holder independently of the CA.
    """
    spki = (
        load_certificate(cert_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_pin(text: str) -> str:
    """Normalize a pin from a roster or the command line; InvalidInput if it is not one."""
    pin = text.strip().lower()
    if not _PIN_RE.fullmatch(pin):
        raise InvalidInput(f"{text!r} is not a key pin; expected sha256: and 64 hex digits")
    return pin


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse a PEM or DER certificate; InvalidInput if it is neither."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise InvalidInput(f"not an X.509 certificate: {exc}") from None


def identity_from_cert(cert_pem: bytes) -> Identity:
    """The identity a (PEM or DER) certificate speaks for; PermissionDenied if it has none.

    Call this only on a certificate the TLS layer already verified against the federation CA.
    Requires exactly one `mpc://` URI SAN, and refuses a certificate whose `.mpc` DNS names are
    not its own server name (such a name would let it pass a client's hostname check).
    """
    cert = load_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PermissionDenied("certificate has no mpc:// identity") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    ours = [u for u in uris if u.lower().startswith(URI_SCHEME)]
    if not ours:
        raise PermissionDenied("certificate has no mpc:// identity")
    if len(ours) > 1:
        raise PermissionDenied(f"certificate has {len(ours)} mpc:// identities; one is allowed")
    try:
        identity = Identity.parse_uri(ours[0])
    except InvalidInput as exc:
        raise PermissionDenied(f"certificate identity is malformed: {exc.message}") from None
    own = identity.server_name if identity.role.serves else None
    for dns in san.get_values_for_type(x509.DNSName):
        if _is_reserved_name(dns) and dns.lower() != own:
            raise PermissionDenied(f"certificate of {identity} also claims the name {dns!r}")
    return identity


def _check_name(what: str, name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(f"{what} {name!r} is invalid: use 1-63 of a-z, 0-9, '-' (not first)")


def _is_reserved_name(dns: str) -> bool:
    lowered = dns.lower().rstrip(".")
    return lowered == SERVER_NAME_SUFFIX[1:] or lowered.endswith(SERVER_NAME_SUFFIX)


def _subject_alt_names(identity: Identity, hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
    if not identity.role.serves:
        if hosts:
            raise InvalidInput(f"a {identity.role.value} certificate takes no hosts; it only calls")
        return names
    names.append(x509.DNSName(identity.server_name))
    for host in hosts:
        name = _host_name(host)
        if name not in names:
            names.append(name)
    return names


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    dns = host.lower().rstrip(".")
    if len(dns) > 253 or not all(_DNS_LABEL_RE.fullmatch(label) for label in dns.split(".")):
        raise InvalidInput(f"host {host!r} is neither an IP address nor a DNS name")
    if _is_reserved_name(dns):
        raise InvalidInput(f"host {host!r} is under .mpc, which is reserved for identities")
    return x509.DNSName(dns)


def _leaf_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    identity: Identity,
    sans: list[x509.GeneralName],
    days: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    not_after = min(now + datetime.timedelta(days), ca_cert.not_valid_after_utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.name)])
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if identity.role.serves:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        _base_builder(ca_cert.subject, subject, key.public_key(), now, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
    )
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert, key


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
        **dict.fromkeys(unused, False),
    )


def _base_builder(
    issuer: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
    )


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = ca_dir / CA_CERT, ca_dir / CA_KEY
    try:
        cert = load_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise PreconditionFailed(f"no CA in {ca_dir}: {exc.filename} is missing") from None
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"the CA in {ca_dir} is unreadable: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise InvalidInput(f"{key_path} is not the EC private key of {cert_path}")
    return cert, key


def _refuse_existing(paths: Sequence[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        raise PreconditionFailed(f"refusing to overwrite {', '.join(existing)} (use --force)")


def _write_new(path: Path, data: bytes, mode: int, force: bool) -> None:
    if force:
        path.unlink(missing_ok=True)
    # O_EXCL: the file is born with `mode` (0600 for keys), so there is no chmod window, and
    # it never follows a planted symlink.
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        raise PreconditionFailed(f"refusing to overwrite {path} (use --force)") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
