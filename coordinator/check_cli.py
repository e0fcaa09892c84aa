"""`mpc-coordinator check`: the preflight of the coordinator's config."""

from __future__ import annotations

from pathlib import Path

import click

from mpcnode.commands.check import report
from mpcnode.commands.options import config_option, friendly_errors


@click.command()
@config_option("The coordinator's TOML config file.")
@click.option("--peers", is_flag=True, help="Also shake hands with every roster node.")
@friendly_errors
def check(config_path: Path, peers: bool) -> None:
    """Check the coordinator's config, certificate, key, roster and port; exit 1 on failure.

    \\b
    Example:
      mpc-coordinator check --config /etc/mpcnode/coordinator.toml --peers
    """
    from coordinator.config import load_coordinator_config  # noqa: PLC0415
    from mpcnode.config import load_roster  # noqa: PLC0415
    from mpcnode.pki import Role  # noqa: PLC0415
    from mpcnode.preflight import daemon_findings, peer_findings  # noqa: PLC0415
    from mpcnode.tls import TlsFiles  # noqa: PLC0415

    config = load_coordinator_config(config_path)
    roster = load_roster(config.roster_file)
    tls = TlsFiles(config.tls.cert, config.tls.key, config.tls.ca)
    findings = daemon_findings(
        tls,
        (Role.COORDINATOR, None, "its role"),
        config.data_dir,
        [config.tls.key],
        [(config.listen, "listen port"), (config.metrics.listen, "metrics port")],
    )
    if peers:
        findings += peer_findings(roster, tls, "")
    report(findings)
