"""The embedded default (DESIGN 6): the seed example on a real local federation."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from mpcnode.commands.render import result_table
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import DEMO_PARTIES, LocalFederation

RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}
# Each organization declares the dataset on its own node: one whole number in [0, 10000].
RAISES_DECLARATION = Declaration("raises", Shape.SCALAR, lower=0, upper=10_000)


def run_demo(keep: Path | None = None) -> int:
    """Run the demo; returns the exit code (0 when both results came out)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mpcnode-demo-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        fed = LocalFederation(root, DEMO_PARTIES)
        click.echo(
            f"issuing certificates and starting a coordinator and {len(DEMO_PARTIES)} nodes "
            f"in {root}"
        )
        with fed.setup().start():
            for party, raise_ in RAISES.items():
                with fed.local_client(party) as node:
                    node.submit("raises", [raise_], RAISES_DECLARATION)
                click.echo(
                    f"  {party} declared 'raises' and gave its node its raise (kept private)"
                )
            # A sum and then a mean over the same four parties are one node-side function
            # over one participant set, so each node's ledger allows the second: it reveals
            # nothing the first did not. A mean over three of them would be refused.
            with fed.analyst() as analyst:
                for kind in (Kind.SUM, Kind.MEAN):
                    spec = ComputationSpec(
                        name=f"{kind.value} of raises",
                        kind=kind,
                        dataset="raises",
                        lower=0,
                        upper=10_000,
                        min_parties=3,
                    )
                    click.echo("")
                    click.echo(result_table(analyst.run(spec)))
        click.echo(f"\nall daemons stopped; demo took {time.monotonic() - started:.1f} s")
    return 0
