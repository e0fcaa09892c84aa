"""The comparison demos (DESIGN 9) on a real local federation: auction, referendum, breach.

Each organization declares its dataset and gives its node its value, which never leaves
it in the clear; the coordinator runs the computation as a multi-step round among the
nodes and prints only what the computation reveals.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path

import click

from mpcnode.client import CoordinatorClient
from mpcnode.commands.render import result_table
from mpcnode.config import EVERY_KIND
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import DEMO_PARTIES, LocalFederation

BIDS = {"alice": 120, "bob": 150, "carlos": 135, "david": 110}
VOTES = {"alice": 1, "bob": 1, "carlos": 1, "david": 1}
ALL_KINDS = list(EVERY_KIND)
LOSSES = {"alice": 9_500_000, "bob": 20_000, "carlos": 35_000, "david": 12_000}


def _spec(kind: Kind, dataset: str, upper: float, options: ComparisonOptions) -> ComputationSpec:
    return ComputationSpec(
        name=f"{kind.value} of {dataset}",
        kind=kind,
        dataset=dataset,
        lower=0,
        upper=upper,
        min_parties=3,
        comparison=options,
    )


def _federated(
    keep: Path | None,
    values: Mapping[str, Mapping[str, int]],
    upper: float,
    body: Callable[[CoordinatorClient], None],
) -> int:
    """Start a federation, have each party declare and submit, run `body`, stop it all."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mpcnode-demo-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        # Every organization opts in to the comparison kinds (the default allows only sums).
        fed = LocalFederation(root, DEMO_PARTIES, policy={"allowed_kinds": ALL_KINDS})
        click.echo(f"starting a coordinator and {len(DEMO_PARTIES)} nodes in {root}")
        with fed.setup().start():
            for dataset, by_party in values.items():
                declaration = Declaration(dataset, Shape.SCALAR, lower=0, upper=upper)
                for party, value in by_party.items():
                    with fed.local_client(party) as node:
                        node.submit(dataset, [value], declaration)
                click.echo(f"  each party declared {dataset!r} and gave its node its value")
            with fed.analyst() as analyst:
                body(analyst)
        click.echo(f"\nall daemons stopped; demo took {time.monotonic() - started:.1f} s")
    return 0


def auction(keep: Path | None = None) -> int:
    """A first-price and a second-price sealed-bid auction over the same four bids.

    Each auction is its own dataset: a node's ledger allows one function per dataset period,
    and a first and a second price together reveal more than either (the top two bids).
    """

    def body(analyst: CoordinatorClient) -> None:
        for price in ("first", "second"):
            spec = _spec(Kind.AUCTION, f"bids-{price}", 1000, ComparisonOptions(price=price))
            click.echo("\n" + result_table(analyst.run(spec)))

    bids = {"bids-first": BIDS, "bids-second": BIDS}
    return _federated(keep, bids, 1000, body)


def referendum(keep: Path | None = None) -> int:
    """Four yes-votes; the result is YES for "at least half of the participants", no count."""

    def body(analyst: CoordinatorClient) -> None:
        options = ComparisonOptions(at_least=Fraction(1, 2), of_participants=True)
        click.echo("\n" + result_table(analyst.run(_spec(Kind.THRESHOLD, "votes", 1, options))))

    return _federated(keep, {"votes": VOTES}, 1, body)


def breach(keep: Path | None = None) -> int:
    """A sector's total breach loss, withheld because one firm's loss dominates it (80%)."""

    def body(analyst: CoordinatorClient) -> None:
        options = ComparisonOptions(suppress_dominant=Fraction(4, 5))
        spec = _spec(Kind.SUM, "losses", 100_000_000, options)
        click.echo("\n" + result_table(analyst.run(spec)))

    return _federated(keep, {"losses": LOSSES}, 100_000_000, body)


DEMOS = {"auction": auction, "referendum": referendum, "breach": breach}
