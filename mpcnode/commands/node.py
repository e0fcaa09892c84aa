"""The `mpcnode` command: run a node, manage the PKI, hand the node its inputs, the demo."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from mpcnode.client import LocalClient
from mpcnode.commands.check import check
from mpcnode.commands.declare import NEXT_PERIOD, declaration_from_flags, declaration_options
from mpcnode.commands.health import health
from mpcnode.commands.options import (
    apply_options,
    friendly_errors,
    prune_options,
    serve_options,
    setup_logging,
    tls_options,
)
from mpcnode.commands.pki import pki
from mpcnode.commands.render import budget_json, budget_line
from mpcnode.tls import TlsFiles

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


cli.add_command(pki)
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


def _client_options(fn: _F) -> _F:
    return apply_options(
        fn,
        [
            click.option(
                "--node",
                required=True,
                help="Address of your node, host:port.",
                envvar="MPCNODE_NODE",
                show_envvar=True,
            ),
            click.option(
                "--party",
                required=True,
                help="Your node's party id, e.g. alice.",
                envvar="MPCNODE_PARTY",
                show_envvar=True,
            ),
            *tls_options("Your organization's client certificate.", "MPCNODE"),
        ],
    )


def _local(node: str, party: str, cert: Path, key: Path, ca: Path) -> LocalClient:
    return LocalClient(node, party, TlsFiles(cert, key, ca))


def _read_values(values: tuple[str, ...], file: Path | None) -> np.ndarray[Any, Any]:
    if file is not None:
        if file.suffix == ".npy":
            return np.asarray(np.load(file, allow_pickle=False)).ravel()
        text = file.read_text().replace(",", " ").split()
        values = tuple(text)
    if not values:
        raise click.UsageError("give the values as arguments or with --file")
    try:
        ints = [int(v) for v in values]
        return np.asarray(ints, dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise click.UsageError(f"not a number: {exc}") from None


@cli.command()
@_client_options
@click.option("--dataset", required=True, help="The dataset name the computation will ask for.")
@click.option(
    "--file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A .npy vector, or a text file of numbers.",
)
@declaration_options
@click.argument("values", nargs=-1)
@friendly_errors
def submit(
    node: str,
    party: str,
    cert: Path,
    key: Path,
    ca: Path,
    dataset: str,
    file: Path | None,
    values: tuple[str, ...],
    shape: str | None,
    new_period: bool,
    period_label: str | None,
    **declared: Any,
) -> None:
    """Declare a dataset and hand your node your private value for it.

    You, the owner, declare what the dataset is (its shape, domain, encoding, privacy unit
    and release policy); analysts' computations must match your declaration, and your node
    checks your values against it here, before storing them. Give the declaration on the
    first submit (or in the node's config); later submits may leave it out.

    \b
    Examples:
      mpcnode submit --node 127.0.0.1:7001 --party alice --cert alice-hr.crt \\
          --key alice-hr.key --ca ca.crt --dataset raises --shape scalar --upper 10000 3800
      mpcnode submit ... --dataset lunch --shape vote --bins pizza,sushi,tacos 0 1 0
      mpcnode submit ... --dataset salaries --shape vector --upper 1e6 \\
          --fractional-bits 16 --file salaries.npy
      mpcnode submit ... --dataset raises --new-period 4100     # next year's raise
    """
    if new_period and period_label:
        raise click.UsageError("give --new-period or --period LABEL, not both")
    arr = _read_values(values, file)
    declaration = declaration_from_flags(dataset, len(arr), shape, declared)
    period = NEXT_PERIOD if new_period else (period_label or "")
    with _local(node, party, cert, key, ca) as client:
        info = client.submit(dataset, arr, declaration, period)
    click.echo(
        f"stored {info.length} {info.dtype} value(s) for dataset {info.dataset!r} period "
        f"{info.period} (input {info.input_id}; {info.declaration})"
    )


@cli.command()
@_client_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@friendly_errors
def inputs(node: str, party: str, cert: Path, key: Path, ca: Path, as_json: bool) -> None:
    """List the inputs your node holds (names and sizes, never values).

    \b
    Example:
      mpcnode inputs --node 127.0.0.1:7001 --party alice --cert alice-hr.crt \\
          --key alice-hr.key --ca ca.crt
    """
    with _local(node, party, cert, key, ca) as client:
        rows = client.inputs()
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        return
    if not rows:
        click.echo("no inputs")
    for r in rows:
        held = (
            f"{r.dtype}, {r.length} element(s), input {r.input_id}"
            if r.input_id
            else "declared, no input yet"
        )
        click.echo(
            f"{r.dataset}@{r.period}  {held}; {r.releases} release(s) this period\n"
            f"    {r.declaration}"
        )


@cli.command()
@_client_options
@click.option("--dataset", required=True)
@friendly_errors
def delete(node: str, party: str, cert: Path, key: Path, ca: Path, dataset: str) -> None:
    """Delete your input for a dataset (its release records stay, as the audit trail).

    \b
    Example:
      mpcnode delete --node 127.0.0.1:7001 --party alice ... --dataset raises
    """
    with _local(node, party, cert, key, ca) as client:
        info = client.delete(dataset)
    click.echo(f"deleted input {info.input_id} of dataset {info.dataset!r}")


@cli.command()
@_client_options
@click.option("--dataset", default="", help="Only this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@friendly_errors
def releases(
    node: str, party: str, cert: Path, key: Path, ca: Path, dataset: str, as_json: bool
) -> None:
    """List every partial sum your node released: which input went into which round.

    \b
    Example:
      mpcnode releases --node 127.0.0.1:7001 --party alice ... --dataset raises
    """
    with _local(node, party, cert, key, ca) as client:
        rows = client.releases(dataset)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        return
    if not rows:
        click.echo("no releases")
    for r in rows:
        sampler = r.sampler or "none here"
        spent = (
            " [exact]"
            if r.mechanism == "none"
            else f" [{r.mechanism} {r.placement}, {r.unit} level: epsilon {r.epsilon} rho "
            f"{r.rho}; organization level epsilon {r.organization_epsilon} rho "
            f"{r.organization_rho}; sampler {sampler}]"
        )
        click.echo(
            f"round {r.round_id[:8]} {r.dataset}@{r.period} {r.computation!r} with "
            f"{', '.join(r.participants)}{spent}\n    input {r.input_id}, function "
            f"{r.function[:12]}, declaration {r.declaration_fingerprint[:12]}"
        )


@cli.command()
@_client_options
@click.option("--dataset", default="", help="Only this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@friendly_errors
def budget(
    node: str, party: str, cert: Path, key: Path, ca: Path, dataset: str, as_json: bool
) -> None:
    """Show each dataset's privacy budget: cap, spent, held by open rounds, remaining.

    Amounts are exact; decimals are rounded against you (spent up, remaining down). The caps
    are set in the node's config ([policy.budget]).

    \b
    Example:
      mpcnode budget --node 127.0.0.1:7001 --party alice --cert alice-client.crt \\
          --key alice-client.key --ca ca.crt --dataset raises
    """
    with _local(node, party, cert, key, ca) as client:
        rows = client.budgets(dataset)
    if as_json:
        click.echo(json.dumps([budget_json(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no privacy budget spent or configured yet")
    for r in rows:
        click.echo(budget_line(r))


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


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep certificates, configs and logs in this folder.",
)
@click.argument(
    "which",
    type=click.Choice(["raises", "auction", "referendum", "breach"]),
    default="raises",
)
@friendly_errors
def demo(keep: Path | None, which: str) -> None:
    """Run a whole federation locally: four organizations compute without showing values.

    Issues fresh certificates, starts a coordinator and four nodes (alice, bob, carlos,
    david) as separate processes on loopback, has each submit its value, runs the
    computations, prints their results, and stops everything:

    \b
      raises      the total and mean raise (12686 and 3171.5)
      auction     first-price (bob, 150) and second-price (bob, 135) sealed-bid auctions
      referendum  YES for "at least half voted yes", and nothing else
      breach      a sector's breach-loss total, suppressed: one firm dominates it

    \b
    Example:
      mpcnode demo
      mpcnode demo auction
    """
    if which == "raises":
        from mpcnode.demo import run_demo  # noqa: PLC0415

        sys.exit(run_demo(keep))
    from mpcnode.comparison_demos import DEMOS  # noqa: PLC0415

    sys.exit(DEMOS[which](keep))


def main() -> None:
    """Console entry point."""
    cli()
