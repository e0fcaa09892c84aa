"""The `mpc-coordinator` command: run the coordinator; create, follow and read computations."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from coordinator.check_cli import check
from coordinator.cohort_cli import cohort_options, cohorts_from_cli
from coordinator.comparison_cli import KIND_CHOICES, comparison_from_cli, comparison_options
from coordinator.privacy_cli import (
    needs_threshold,
    privacy_from_cli,
    privacy_options,
    with_threshold,
)
from mpcnode.client import CoordinatorClient, Progress
from mpcnode.client.analyst import WATCH_TIMEOUT_S, Result
from mpcnode.commands.options import (
    apply_options,
    friendly_errors,
    prune_options,
    serve_options,
    setup_logging,
    tls_options,
)
from mpcnode.commands.render import result_csv, result_json, result_table
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.tls import TlsFiles

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group(context_settings={"auto_envvar_prefix": "MPC", "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mpcnode", message="%(prog)s %(version)s")
def cli() -> None:
    """mpc-coordinator: sequence a federation's rounds and publish aggregates.

    \b
    Run:    mpc-coordinator serve --config coordinator.toml
    Ask:    mpc-coordinator run --kind mean --dataset raises --lower 0 --upper 10000 ...
    """


cli.add_command(check)


@cli.command()
@prune_options(
    "The coordinator's TOML config file.",
    "Prune what ended more than this many days ago (default: retention.days).",
)
@friendly_errors
def prune(config_path: Path, days: int | None) -> None:
    """Delete the events and round rows of computations that ended long ago, now.

    Results, their outputs and each computation's final state and reason are kept. The
    daemon does the same every hour with its config's `retention.days`.

    \b
    Example:
      mpc-coordinator prune --config /etc/mpcnode/coordinator.toml --days 7
    """
    from coordinator.config import load_coordinator_config  # noqa: PLC0415
    from coordinator.store import CoordinatorStore  # noqa: PLC0415

    config = load_coordinator_config(config_path)
    keep = config.retention.days if days is None else days
    if keep == 0 and days is None:
        click.echo("retention.days is 0: everything is kept; pass --days to prune anyway")
        return
    store = CoordinatorStore(config.data_dir)
    try:
        events, rounds = store.prune(int((time.time() - keep * 86400) * 1000))
    finally:
        store.close()
    click.echo(f"pruned {events} events and {rounds} round rows of computations ended "
               f"{keep} or more days ago")  # fmt: skip


@cli.command()
@serve_options("The coordinator's TOML config file.")
@friendly_errors
def serve(config_path: Path, ready_file: Path | None, log_format: str) -> None:
    """Run the coordinator daemon until SIGTERM.

    \b
    Example:
      mpc-coordinator serve --config /etc/mpcnode/coordinator.toml
    """
    from coordinator.config import load_coordinator_config  # noqa: PLC0415
    from coordinator.daemon import run_coordinator  # noqa: PLC0415

    config = load_coordinator_config(config_path)
    setup_logging(config.log_level, log_format)
    asyncio.run(run_coordinator(config, ready_file))


_unclamped_option = click.option(
    "--unclamped",
    is_flag=True,
    help="Show a noisy result's raw values instead of the values clamped to the domain "
    "(both are published; --json has both).",
)


def _analyst_options(fn: _F) -> _F:
    return apply_options(
        fn,
        [
            click.option(
                "--coordinator",
                "address",
                required=True,
                help="Coordinator address, host:port.",
                envvar="MPC_COORDINATOR",
                show_envvar=True,
            ),
            *tls_options("Your analyst certificate.", "MPC"),
            click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
        ],
    )


def _client(address: str, cert: Path, key: Path, ca: Path) -> CoordinatorClient:
    return CoordinatorClient(address, TlsFiles(cert, key, ca))


def _progress(event: Progress) -> None:
    click.echo(f"  [{event.phase}] {event.message}", err=True)


@cli.command()
@_analyst_options
@click.option("--kind", type=click.Choice(KIND_CHOICES), required=True)
@click.option("--dataset", required=True, help="Dataset name the parties submitted under.")
@click.option("--name", help="A label for the computation (default: '<kind> of <dataset>').")
@click.option(
    "--lower",
    type=float,
    default=0.0,
    show_default=True,
    help="The dataset's declared lower bound (every node checks it matches its declaration).",
)
@click.option("--upper", type=float, required=True, help="The dataset's declared upper bound.")
@click.option(
    "--length", type=int, default=1, show_default=True, help="Elements per input (1 = scalar)."
)
@click.option(
    "--fractional-bits",
    type=int,
    default=0,
    show_default=True,
    help="Fixed-point bits for real values (0 = integers).",
)
@click.option("--bins", help="Histogram options, comma separated (sets --length).")
@click.option("--min-parties", type=int, default=3, show_default=True)
@click.option(
    "--invite",
    "parties",
    multiple=True,
    help="Invite only this party (repeat for more; default: every party on the roster).",
)
# The old name, kept working for scripts; `--party` means "your node" in `mpcnode`.
@click.option("--party", "legacy_parties", multiple=True, hidden=True)
@click.option(
    "--reader", "readers", multiple=True, help="Analysts allowed to read the result (default: all)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=WATCH_TIMEOUT_S,
    show_default=True,
    help="Seconds to follow the computation before giving up on watching it (it goes on).",
)
@privacy_options
@cohort_options
@comparison_options
@_unclamped_option
@friendly_errors
def run(
    address: str,
    cert: Path,
    key: Path,
    ca: Path,
    as_json: bool,
    kind: str,
    dataset: str,
    name: str | None,
    lower: float,
    upper: float,
    length: int,
    fractional_bits: int,
    bins: str | None,
    min_parties: int,
    parties: tuple[str, ...],
    legacy_parties: tuple[str, ...],
    readers: tuple[str, ...],
    timeout: float,
    unclamped: bool,
    **privacy: Any,
) -> None:
    """Create a computation, show its progress, print its result.

    \b
    Examples:
      mpc-coordinator run --coordinator 127.0.0.1:7000 --cert analyst.crt \\
          --key analyst.key --ca ca.crt --kind mean --dataset raises --upper 10000
      mpc-coordinator run ... --kind histogram --dataset ballot --bins yes,no,abstain --upper 1
      mpc-coordinator run ... --kind sum --dataset losses --upper 1e6 --fractional-bits 16 --json
      mpc-coordinator run ... --kind mean --dataset raises --upper 10000 --dp discrete_laplace \
          --epsilon 1
      mpc-coordinator run ... --kind histogram --dataset poll --bins no,yes --upper 1000 \
          --dp randomized_response --epsilon 1
      mpc-coordinator run ... --kind auction --price second --dataset bids --upper 1000
      mpc-coordinator run ... --kind threshold --at-least 0.5 --dataset votes --upper 1
      mpc-coordinator run ... --kind sum --dataset losses --upper 1e8 --suppress-dominant 0.8
      mpc-coordinator run ... --kind cohorts --dataset payroll --upper 300000 \
          --groups gender=f,m,x --groups level=1,2,3,4,5 --max-records 5000 --min-cell 5 \
          --ratio gender=f/m
    """
    bin_names = tuple(b.strip() for b in bins.split(",")) if bins else ()
    spec_kind, comparison = comparison_from_cli(kind, privacy)
    bin_names, length, cohorts, as_csv = cohorts_from_cli(spec_kind, bin_names, length, privacy)
    spec = ComputationSpec(
        name=name or f"{kind} of {dataset}",
        kind=spec_kind,
        dataset=dataset,
        lower=lower,
        upper=upper,
        length=length if spec_kind is Kind.COHORTS else (len(bin_names) or length),
        fractional_bits=fractional_bits,
        bins=bin_names,
        min_parties=min_parties,
        readers=readers,
        privacy=privacy_from_cli(**privacy),
        comparison=comparison,
        cohorts=cohorts,
    )
    with _client(address, cert, key, ca) as client:
        invited = parties + legacy_parties
        if needs_threshold(spec.privacy):
            # Sized for every invited party: the noise the guarantee needs when all of them
            # contribute, not the min_parties worst case (--threshold asks for another t).
            count = len(invited or client.parties())
            spec = dataclasses.replace(spec, privacy=with_threshold(spec.privacy, count))
            if not as_json:
                click.echo(f"  noise sized for t = {count} contributors (--threshold)", err=True)
        result = client.run(
            spec, invited, on_progress=None if as_json else _progress, timeout=timeout
        )
    click.echo(_shown(result, as_json, as_csv, unclamped))


def _shown(result: Result, as_json: bool, as_csv: bool, unclamped: bool) -> str:
    if as_json:
        return json.dumps(result_json(result))
    return result_csv(result, unclamped) if as_csv else result_table(result, unclamped)


@cli.command()
@_analyst_options
@click.argument("computation_id", required=False)
@_unclamped_option
@friendly_errors
def results(
    address: str,
    cert: Path,
    key: Path,
    ca: Path,
    as_json: bool,
    computation_id: str | None,
    unclamped: bool,
) -> None:
    """Print one result, or list recent computations with their state.

    \b
    Examples:
      mpc-coordinator results --coordinator 127.0.0.1:7000 --cert analyst.crt \\
          --key analyst.key --ca ca.crt
      mpc-coordinator results ... 3f2a9c... --json
    """
    with _client(address, cert, key, ca) as client:
        if computation_id:
            result = client.result(computation_id)
            shown = result_table(result, unclamped)
            click.echo(json.dumps(result_json(result)) if as_json else shown)
            return
        rows = client.list()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "computation_id": r.computation_id,
                        "name": r.spec.name,
                        "state": r.state,
                        "reason": r.reason,
                        "attempts": r.attempts,
                        "participants": list(r.participants),
                    }
                    for r in rows
                ]
            )
        )
        return
    for r in rows:
        why = f"  ({r.reason})" if r.reason else ""
        click.echo(f"{r.computation_id}  {r.state:<9} {r.spec.name!r} rounds {r.attempts}{why}")


def main() -> None:
    """Console entry point."""
    cli()
