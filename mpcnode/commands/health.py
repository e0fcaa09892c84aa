"""`mpcnode health`: probe a daemon's gRPC health service over mutual TLS.

Made for container health checks (the image's HEALTHCHECK) and for monitoring: exit code 0
when the daemon answers SERVING, 1 otherwise, with one line that says why. Two ways to name
the daemon:

- `--config`: a node's or the coordinator's own config file. The probe dials the daemon's
  `listen` address (a wildcard becomes loopback) with the daemon's own certificate, and
  expects the daemon's own identity, so a health check needs no extra key material;
- `--address/--server/--cert/--key/--ca`: any daemon, from anywhere, with any certificate of
  the federation.

The main CLI adds this command with `cli.add_command(health)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
from pydantic import BaseModel, ConfigDict, field_validator

from mpcnode.client.health import SERVING, HealthClient
from mpcnode.config import TlsConfig, check_address, load_config
from mpcnode.errors import MpcError
from mpcnode.pki import Identity
from mpcnode.tls import TlsFiles

# A daemon listening on every interface is reached, from its own container or host, here.
_WILDCARD_TO_LOOPBACK = {
    "0.0.0.0": "127.0.0.1",  # noqa: S104 - a dial target, not a bind: it maps to loopback
    "[::]": "[::1]",
    "": "127.0.0.1",
}


class DaemonEndpoint(BaseModel):
    """Where a daemon listens and with which certificate: the part that node and coordinator
    configs share. Other keys are ignored here; the daemon itself refuses unknown ones.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    listen: str
    tls: TlsConfig

    _listen = field_validator("listen")(check_address)


@dataclass(frozen=True)
class HealthTarget:
    """A daemon to probe: its address, the identity it must prove, our TLS files."""

    address: str
    server: Identity
    tls: TlsFiles


def dial_address(listen: str) -> str:
    """The address to dial for a `listen` address: wildcards become loopback."""
    host, _, port = listen.rpartition(":")
    return f"{_WILDCARD_TO_LOOPBACK.get(host, host)}:{port}"


def target_from_config(path: Path) -> HealthTarget:
    """The daemon configured in `path` (node or coordinator), probed as itself."""
    endpoint = load_config(path, DaemonEndpoint)
    tls = TlsFiles(endpoint.tls.cert, endpoint.tls.key, endpoint.tls.ca)
    return HealthTarget(dial_address(endpoint.listen), tls.identity, tls)


def probe(target: HealthTarget, service: str = "", timeout: float = 3.0) -> str:
    """The serving status the daemon reports; MpcError (e.g. Unavailable) if it cannot tell."""
    with HealthClient(target.address, target.server, target.tls) as client:
        return client.check(service, timeout)


def _target(
    config_path: Path | None,
    address: str | None,
    server: str | None,
    files: tuple[Path | None, Path | None, Path | None],
) -> HealthTarget:
    explicit = {"--address": address, "--server": server} | dict(
        zip(("--cert", "--key", "--ca"), files, strict=True)
    )
    given = [name for name, value in explicit.items() if value is not None]
    if config_path is not None:
        if given:
            raise click.UsageError(f"--config replaces {', '.join(given)}; give one or the other")
        return target_from_config(config_path)
    missing = [name for name, value in explicit.items() if value is None]
    if missing:
        raise click.UsageError(f"give --config, or all of {', '.join(explicit)}")
    cert, key, ca = (Path(str(f)) for f in files)
    return HealthTarget(str(address), Identity.parse_uri(str(server)), TlsFiles(cert, key, ca))


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=_FILE,
    help="A node's or the coordinator's config: probe that daemon as itself.",
)
@click.option("--address", help="host:port of the daemon (instead of --config).")
@click.option("--server", help="The identity it must prove, e.g. mpc://party/alice.")
@click.option("--cert", type=_FILE, help="A certificate of the federation (with --address).")
@click.option("--key", type=_FILE, help="Its private key.")
@click.option("--ca", type=_FILE, help="The federation CA certificate.")
@click.option("--service", default="", help="One service, e.g. mpc.v1.Local (default: all).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Seconds to wait for the answer.",
)
def health(
    config_path: Path | None,
    address: str | None,
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    service: str,
    timeout: float,
) -> None:
    """Probe a daemon's gRPC health service over mutual TLS; exit 0 only if it is SERVING.

    \b
    Examples:
      mpcnode health --config /etc/mpcnode/config.toml     # the image's HEALTHCHECK
      mpcnode health --address alice:7001 --server mpc://party/alice \\
          --cert monitor.crt --key monitor.key --ca ca.crt
    """
    try:
        target = _target(config_path, address, server, (cert, key, ca))
        status = probe(target, service, timeout)
    except MpcError as err:
        raise click.ClickException(f"{err.status}: {err.message}") from None
    where = f"{target.server} at {target.address}" + (f" ({service})" if service else "")
    if status != SERVING:
        raise click.ClickException(f"{where}: {status}")
    click.echo(f"{where}: {status}")
