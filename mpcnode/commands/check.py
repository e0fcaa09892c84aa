"""`mpcnode check`: the preflight of a node's config, before (or instead of) starting it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mpcnode.commands.options import config_option, friendly_errors
from mpcnode.preflight import Finding, failed, table


def report(findings: list[Finding]) -> None:
    """Print the table; exit 1 when a check failed."""
    click.echo(table(findings))
    bad = failed(findings)
    if bad:
        click.echo(f"\n{len(bad)} check{'s' if len(bad) > 1 else ''} failed", err=True)
        sys.exit(1)


@click.command()
@config_option("The node's TOML config file.")
@click.option("--peers", is_flag=True, help="Also shake hands with every roster peer.")
@friendly_errors
def check(config_path: Path, peers: bool) -> None:
    """Check a node's config, certificates, keys, roster and port; exit 1 if any fails.

    \\b
    Example:
      mpcnode check --config /etc/mpcnode/node.toml --peers
    """
    from mpcnode.config import load_node_config, load_roster  # noqa: PLC0415
    from mpcnode.pki import Role  # noqa: PLC0415
    from mpcnode.preflight import (  # noqa: PLC0415
        daemon_findings,
        peer_findings,
        pin_finding,
        records_findings,
        seal_key_finding,
    )
    from mpcnode.tls import TlsFiles  # noqa: PLC0415

    config = load_node_config(config_path)
    roster = load_roster(config.roster_file)
    tls = TlsFiles(config.tls.cert, config.tls.key, config.tls.ca)
    findings = daemon_findings(
        tls,
        (Role.PARTY, config.party_id, "party_id"),
        config.data_dir,
        [config.tls.key, config.seal_key],
        [(config.listen, "listen port"), (config.metrics.listen, "metrics port")],
    )
    findings += [
        seal_key_finding(config.seal_key, roster, config.party_id, config.roster_file),
        pin_finding(roster, config.party_id, tls),
        *records_findings(
            {n: t.source for n, t in config.datasets.items() if t.source is not None}
        ),
    ]
    if peers:
        findings += peer_findings(roster, tls, config.party_id)
    report(findings)
