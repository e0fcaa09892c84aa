"""`mpcnode pki`: create a federation CA, issue certificates, print pins (DESIGN 4.3).

The main CLI adds this group with `cli.add_command(pki)`. Every error of `mpcnode.pki` becomes
a `click.ClickException` with its message; no traceback reaches the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from cryptography import x509

from mpcnode import pki as pki_lib
from mpcnode import seal_keys
from mpcnode.errors import MpcError

_CERT_ARG = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


@contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn mpcnode's errors and file-system errors into one-line click errors."""
    try:
        yield
    except MpcError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror}") from None


_F = TypeVar("_F", bound=Callable[..., object])


def _force_option(func: _F) -> _F:
    return click.option(
        "--force", is_flag=True, help="Overwrite existing certificate and key files."
    )(func)


@click.group()
def pki() -> None:
    """Manage the federation PKI: the CA, party/coordinator/client certificates, key pins.

    \b
    Example (one CA, two parties, a coordinator, an analyst):
      mpcnode pki init-ca --dir ca --federation demo
      mpcnode pki issue --ca-dir ca --out certs --role party --name alice --host alice.example.org
      mpcnode pki issue --ca-dir ca --out certs --role party --name bob
      mpcnode pki issue --ca-dir ca --out certs --role coordinator --name coordinator
      mpcnode pki issue --ca-dir ca --out certs --role analyst --name carol
      mpcnode pki pin certs/alice.crt
      mpcnode pki seal-key certs/alice.seal.key
    """


@pki.command("init-ca")
@click.option("--dir", "ca_dir", type=_DIR, required=True, help="Directory for ca.crt and ca.key.")
@click.option("--federation", required=True, help="Federation name (a-z, 0-9, '-').")
@_force_option
def init_ca(ca_dir: Path, federation: str, force: bool) -> None:
    """Create a federation CA: DIR/ca.crt (share it) and DIR/ca.key (keep it offline, 0600).

    \b
    Example:
      mpcnode pki init-ca --dir /secure/ca --federation hospitals
    """
    with _readable_errors():
        cert = pki_lib.create_ca(ca_dir, federation, force=force)
        pin = pki_lib.public_key_pin(cert.read_bytes())
    click.echo(f"created CA of federation {federation}: {cert} ({pin})")
    click.echo(f"private key: {ca_dir / pki_lib.CA_KEY} (mode 0600; keep it offline)")


@pki.command("issue")
@click.option("--ca-dir", type=_DIR, required=True, help="Directory holding ca.crt and ca.key.")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Directory for the new files.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in pki_lib.Role]),
    required=True,
    help="party / coordinator serve; client (an org's own system) / analyst only call.",
)
@click.option("--name", required=True, help="Identity name (a-z, 0-9, '-'), e.g. the party id.")
@click.option("--org", help="For --role client: the party id whose local API it may call.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="DNS name or IP a server is reached at (repeatable; party/coordinator only). "
    "Default: localhost and 127.0.0.1.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=pki_lib.LEAF_DAYS,
    show_default=True,
    help="Validity in days (never beyond the CA's).",
)
@_force_option
def issue(
    *,  # click passes options by keyword
    ca_dir: Path,
    out_dir: Path,
    role: str,
    name: str,
    org: str | None,
    hosts: tuple[str, ...],
    days: int,
    force: bool,
) -> None:
    """Issue a certificate and key binding a role and name (URI SAN mpc://ROLE/NAME).

    Servers also get the DNS name NAME.ROLE.mpc, which clients check. A client certificate
    is mpc://client/ORG/NAME and is written as ORG-NAME.crt / ORG-NAME.key. A party also
    gets its seal key NAME.seal.key (the X25519 key peers seal seeds to); the roster lists
    its public half as seal_key, printed here.

    \b
    Examples:
      mpcnode pki issue --ca-dir ca --out certs --role party --name alice \\
          --host alice.example.org --host 10.0.0.5
      mpcnode pki issue --ca-dir ca --out certs --role client --org alice --name etl
    """
    with _readable_errors():
        identity = pki_lib.Identity(pki_lib.Role(role), name, org)
        if not hosts and identity.role.serves:
            hosts = pki_lib.DEFAULT_HOSTS
        seal_path = seal_keys.seal_key_path(out_dir, name)
        if identity.role is pki_lib.Role.PARTY and seal_path.exists() and not force:
            raise click.ClickException(f"refusing to overwrite {seal_path} (use --force)")
        files = pki_lib.issue(ca_dir, out_dir, identity, hosts, force=force, days=days)
        pin = pki_lib.public_key_pin(files.cert.read_bytes())
        seal = None
        if identity.role is pki_lib.Role.PARTY:
            seal = seal_keys.create_seal_key(seal_path, force=force)
    click.echo(f"issued {identity.uri}")
    click.echo(f"  certificate: {files.cert}")
    click.echo(f"  private key: {files.key} (mode 0600)")
    click.echo(f"  CA:          {files.ca}")
    click.echo(f"  pin:         {pin}")
    if seal is not None:
        click.echo(f"  seal key:    {seal_path} (mode 0600)")
        click.echo(f"  seal_key:    {seal}")


@pki.command("new-seal-key")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Directory for the key file.")
@click.option("--name", required=True, help="The party id; the file is NAME.seal.key.")
@_force_option
def new_seal_key(out_dir: Path, name: str, force: bool) -> None:
    """Create a party's seal key (X25519, 0600) and print its roster line.

    Issuing a party certificate creates one; use this to rotate it. Every roster must then
    list the new public key before the node restarts with it.

    \b
    Example:
      mpcnode pki new-seal-key --out certs --name alice --force
    """
    with _readable_errors():
        pki_lib.Identity(pki_lib.Role.PARTY, name)  # the same name rules as a certificate
        path = seal_keys.seal_key_path(out_dir, name)
        public = seal_keys.create_seal_key(path, force=force)
    click.echo(f"created {path} (mode 0600)")
    click.echo(f'seal_key = "{public}"')


@pki.command("seal-key")
@click.argument("key", type=_CERT_ARG)
def seal_key(key: Path) -> None:
    """Print the public half of a seal key, in the form the roster's seal_key takes.

    \b
    Example:
      mpcnode pki seal-key certs/alice.seal.key
      x25519:q3Vh...
    """
    with _readable_errors():
        click.echo(seal_keys.public_seal_key(key))


@pki.command("pin")
@click.argument("cert", type=_CERT_ARG)
def pin(cert: Path) -> None:
    """Print the key pin of CERT (sha256 of its public key), for a roster entry.

    \b
    Example:
      mpcnode pki pin certs/alice.crt
      sha256:3f1c...
    """
    with _readable_errors():
        click.echo(pki_lib.public_key_pin(cert.read_bytes()))


@pki.command("show")
@click.argument("cert", type=_CERT_ARG)
def show(cert: Path) -> None:
    """Show the identity (role, name, org), names, validity and key pin of CERT.

    \b
    Example:
      mpcnode pki show certs/alice.crt
      mpcnode pki show ca/ca.crt
    """
    with _readable_errors():
        fields = _describe(cert.read_bytes())
    for key, value in fields.items():
        click.echo(f"{key + ':':14}{value}")


def _describe(data: bytes) -> dict[str, str]:
    parsed = pki_lib.load_certificate(data)
    fields = {"identity": "-", "role": "-", "name": "-", "org": "-"}
    if _is_ca(parsed):
        fields["role"] = "federation CA"
    else:
        identity = pki_lib.identity_from_cert(data)
        fields["identity"], fields["role"] = identity.uri, identity.role.value
        fields["name"], fields["org"] = identity.name, identity.org or "-"
    try:
        sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = ", ".join(sans.get_values_for_type(x509.DNSName))
        ips = ", ".join(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns = ips = ""
    return fields | {
        "dns names": dns or "-",
        "ip addresses": ips or "-",
        "subject": parsed.subject.rfc4514_string(),
        "issuer": parsed.issuer.rfc4514_string(),
        "not before": parsed.not_valid_before_utc.isoformat(),
        "not after": parsed.not_valid_after_utc.isoformat(),
        "pin": pki_lib.public_key_pin(data),
    }


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
