"""The `mpcnode` command: run a node, manage the PKI, hand the node its inputs, the demo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mpcnode.commands.check import check
from mpcnode.commands.demo import demo
from mpcnode.commands.health import health
from mpcnode.commands.options import (
    friendly_errors,
    prune_options,
    serve_options,
    setup_logging,
)
from mpcnode.commands.owner import budget, delete, inputs, load, releases, submit
from mpcnode.commands.pki import pki

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group(
    context_settings={"auto_envvar_prefix": "MPCNODE", "help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="mpcnode", message="%(prog)s %(version)s")
def cli() -> None:
    """mpcnode: one organization's node in a secure-aggregation federation.

    \b
    Try it:   mpcnode demo
    Run:      mpcnode serve --config node.toml
    """


for command in (submit, load, inputs, delete, releases, budget, demo, pki):
    cli.add_command(command)
cli.add_command(health)
cli.add_command(check)


@cli.command()
@serve_options("The node's TOML config file.")
@friendly_errors
def serve(config_path: Path, ready_file: Path | None, log_format: str) -> None:
    """Run the node daemon until SIGTERM.

    \b
    Example:
      mpcnode serve --config /etc/mpcnode/node.toml
    """
    from mpcnode.config import load_node_config  # noqa: PLC0415 - keep client commands light
    from mpcnode.node.daemon import run_node  # noqa: PLC0415

    config = load_node_config(config_path)
    setup_logging(config.log_level, log_format)
    asyncio.run(run_node(config, ready_file))


@cli.command()
@prune_options(
    "The node's TOML config file.",
    "Delete release records older than this (default: retention.release_history_days).",
)
@friendly_errors
def prune(config_path: Path, days: int | None) -> None:
    """Delete old release records (the audit trail) now; budgets and rules are kept.

    The ledger's per-period summaries, which every budget and the exact-release rule read,
    are never pruned. The daemon does the same every hour when its config sets
    `retention.release_history_days`.

    \b
    Example:
      mpcnode prune --config /etc/mpcnode/node.toml --days 365
    """
    from mpcnode.config import load_node_config  # noqa: PLC0415
    from mpcnode.node.store import NodeStore  # noqa: PLC0415

    config = load_node_config(config_path)
    keep = config.retention.release_history_days if days is None else days
    if keep == 0 and days is None:
        click.echo("retention.release_history_days is 0: every record is kept; pass --days")
        return
    store = NodeStore(config.data_dir)
    try:
        pruned = store.prune_history(int((time.time() - keep * 86400) * 1000))
    finally:
        store.close()
    click.echo(f"pruned {pruned} release records older than {keep} days")


def main() -> None:
    """Console entry point."""
    cli()
