"""`mpcnode demo`: a whole federation on this machine, for each kind of computation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mpcnode.commands.options import friendly_errors


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep certificates, configs and logs in this folder.",
)
@click.argument(
    "which",
    type=click.Choice(["raises", "auction", "referendum", "breach", "wagegap"]),
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
      wagegap     four employers' payrolls (CSV): salary per gender and level, small
                  cohorts suppressed, and the gender pay gap per level

    \b
    Example:
      mpcnode demo
      mpcnode demo auction
    """
    if which == "raises":
        from mpcnode.demo import run_demo  # noqa: PLC0415

        sys.exit(run_demo(keep))
    if which == "wagegap":
        from mpcnode.wagegap_demo import wagegap  # noqa: PLC0415

        sys.exit(wagegap(keep))
    from mpcnode.comparison_demos import DEMOS  # noqa: PLC0415

    sys.exit(DEMOS[which](keep))
