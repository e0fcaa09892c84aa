"""The `mpcnode` commands of a node's owner: hand it inputs and records, list what it holds,
what it released and what budget is left."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from mpcnode.client import LocalClient
from mpcnode.commands.declare import NEXT_PERIOD, declaration_from_flags, declaration_options
from mpcnode.commands.options import apply_options, friendly_errors, tls_options
from mpcnode.commands.render import budget_json, budget_line
from mpcnode.tls import TlsFiles

_F = TypeVar("_F", bound=Callable[..., Any])


def client_options(fn: _F) -> _F:
    """The --node, --party and TLS options of every command that talks to your own node."""
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


def local_client(node: str, party: str, cert: Path, key: Path, ca: Path) -> LocalClient:
    """A client of your own node's Local API, as your organization's client certificate."""
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


@click.command()
@client_options
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
    with local_client(node, party, cert, key, ca) as client:
        info = client.submit(dataset, arr, declaration, period)
    click.echo(
        f"stored {info.length} {info.dtype} value(s) for dataset {info.dataset!r} period "
        f"{info.period} (input {info.input_id}; {info.declaration})"
    )


@click.command()
@client_options
@click.option("--dataset", required=True, help="A records dataset your node's config declares.")
@friendly_errors
def load(
    node: str,
    party: str,
    cert: Path,
    key: Path,
    ca: Path,
    dataset: str,
) -> None:
    """Have your node compute a records dataset's contribution from its source.

    The node reads the CSV, Parquet file or SQL query its config names for the dataset,
    clips each record's value to the declared bounds and sums it into its cohort (count,
    sum, sum of squares). It refuses, and stores nothing, when a row is in a category the
    declaration does not list, has no numeric value, or there are more rows than
    max_records. It prints the snapshot it used (rows and SHA-256), which every release
    of the input records. Once the current period had an exact release, changed records
    need a new period: raise `period` in the dataset's table of the config, restart.

    \b
    Example:
      mpcnode load --node 127.0.0.1:7001 --party alice --cert alice-hr.crt \\
          --key alice-hr.key --ca ca.crt --dataset payroll
    """
    with local_client(node, party, cert, key, ca) as client:
        info = client.load_records(dataset)
    click.echo(
        f"loaded dataset {info.dataset!r} period {info.period} (input {info.input_id}): "
        f"{info.snapshot}\n    {info.declaration}"
    )


@click.command()
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@friendly_errors
def inputs(node: str, party: str, cert: Path, key: Path, ca: Path, as_json: bool) -> None:
    """List the inputs your node holds (names and sizes, never values).

    \b
    Example:
      mpcnode inputs --node 127.0.0.1:7001 --party alice --cert alice-hr.crt \\
          --key alice-hr.key --ca ca.crt
    """
    with local_client(node, party, cert, key, ca) as client:
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
            f"    {r.declaration}" + (f"\n    snapshot: {r.snapshot}" if r.snapshot else "")
        )


@click.command()
@client_options
@click.option("--dataset", required=True)
@friendly_errors
def delete(node: str, party: str, cert: Path, key: Path, ca: Path, dataset: str) -> None:
    """Delete your input for a dataset (its release records stay, as the audit trail).

    \b
    Example:
      mpcnode delete --node 127.0.0.1:7001 --party alice ... --dataset raises
    """
    with local_client(node, party, cert, key, ca) as client:
        info = client.delete(dataset)
    click.echo(f"deleted input {info.input_id} of dataset {info.dataset!r}")


@click.command()
@client_options
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
    with local_client(node, party, cert, key, ca) as client:
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


@click.command()
@client_options
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
    with local_client(node, party, cert, key, ca) as client:
        rows = client.budgets(dataset)
    if as_json:
        click.echo(json.dumps([budget_json(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no privacy budget spent or configured yet")
    for r in rows:
        click.echo(budget_line(r))
