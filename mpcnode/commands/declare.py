"""The flags with which an organization declares a dataset on its own node (`mpcnode submit`).

The owner decides what a dataset means (DESIGN 1, 3); these flags are how a person says it
on the command line. The same declaration can be written in the node's config
(`[datasets.<name>]`) or sent by any gRPC client (`SubmitInputChunk.declaration`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.privacy import Unit

_F = TypeVar("_F", bound=Callable[..., Any])
NEXT_PERIOD = "next"  # what the node reads as "the period after the current one"


def _apply(fn: _F, options: list[Callable[[_F], _F]]) -> _F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def declaration_options(fn: _F) -> _F:
    """The `mpcnode submit` flags that declare a dataset (shape, domain, unit, policy)."""
    floats = {"type": float, "default": None}
    return _apply(
        fn,
        [
            click.option(
                "--shape",
                type=click.Choice([s.value for s in Shape]),
                help="Declare the dataset (first submit, or to change it): a scalar, a vector, "
                "a one-hot vote over --bins, or a poll's 0/1 answers.",
            ),
            click.option(
                "--lower",
                type=float,
                default=0.0,
                show_default=True,
                help="Declared domain: the least value of an element.",
            ),
            click.option(
                "--upper",
                type=float,
                help="Declared domain: the greatest value (a poll: most respondents).",
            ),
            click.option(
                "--length", type=int, help="Elements of a vector (default: as many as given)."
            ),
            click.option(
                "--fractional-bits",
                type=int,
                default=0,
                show_default=True,
                help="Fixed-point bits for real values (0 = integers).",
            ),
            click.option("--bins", help="Names of a vote's or poll's options, comma separated."),
            click.option(
                "--unit",
                type=click.Choice([u.value for u in Unit]),
                default="organization",
                show_default=True,
                help="The privacy unit you vouch for.",
            ),
            click.option(
                "--record-bound",
                type=float,
                default=0.0,
                help="With --unit record: the most one record changes one element.",
            ),
            click.option(
                "--no-exact",
                is_flag=True,
                help="Allow no exact release (nor central DP, exact to the coordinator).",
            ),
            click.option("--require-dp", is_flag=True, help="Refuse releases without DP."),
            click.option(
                "--min-parties",
                type=int,
                default=0,
                help="Fewest participants of any release (0: the node's policy).",
            ),
            click.option(
                "--max-epsilon",
                type=float,
                default=0.0,
                help="Per-release epsilon ceiling (0: none).",
            ),
            click.option(
                "--max-rho", type=float, default=0.0, help="Per-release rho ceiling (0: none)."
            ),
            click.option(
                "--epsilon-cap",
                **floats,  # type: ignore[arg-type]
                help="Lifetime epsilon cap of each period (default: the node's).",
            ),
            click.option(
                "--rho-cap",
                **floats,  # type: ignore[arg-type]
                help="Lifetime rho cap of each period (default: the node's).",
            ),
            click.option(
                "--org-epsilon-cap",
                **floats,  # type: ignore[arg-type]
                help="Organization-level epsilon cap, charged by record-level releases at "
                "their group-privacy cost (default: --epsilon-cap).",
            ),
            click.option(
                "--org-rho-cap",
                **floats,  # type: ignore[arg-type]
                help="Organization-level rho cap (default: --rho-cap).",
            ),
            click.option(
                "--new-period",
                is_flag=True,
                help="Start the dataset's next period: a fresh ledger, for new data.",
            ),
            click.option(
                "--period", "period_label", help="Start a new period with this label (e.g. 2027)."
            ),
        ],
    )


def declaration_from_flags(
    dataset: str, count: int, shape: str | None, opts: dict[str, Any]
) -> Declaration | None:
    """The declaration the flags describe, or None when no --shape was given."""
    if shape is None:
        if opts["upper"] is not None or opts["bins"]:
            raise click.UsageError("--upper and --bins declare a dataset: give --shape too")
        return None
    if opts["upper"] is None:
        raise click.UsageError("a declaration needs --upper (and --lower, default 0)")
    bins = tuple(b.strip() for b in opts["bins"].split(",")) if opts["bins"] else ()
    kind = Shape(shape)
    if kind is Shape.POLL:
        length = 2
    elif bins:
        length = len(bins)
    else:
        length = opts["length"] or (1 if kind is Shape.SCALAR else count)
    return Declaration(
        dataset=dataset,
        shape=kind,
        lower=opts["lower"],
        upper=opts["upper"],
        length=length,
        fractional_bits=opts["fractional_bits"],
        bins=bins,
        unit=Unit(opts["unit"]),
        record_bound=opts["record_bound"]
        or (1.0 if kind is Shape.POLL and opts["unit"] == "record" else 0.0),
        policy=ReleasePolicy(
            allow_exact=not opts["no_exact"],
            require_dp=opts["require_dp"],
            min_parties=opts["min_parties"],
            max_epsilon=opts["max_epsilon"],
            max_rho=opts["max_rho"],
            epsilon_cap=opts["epsilon_cap"],
            rho_cap=opts["rho_cap"],
            organization_epsilon_cap=opts["org_epsilon_cap"],
            organization_rho_cap=opts["org_rho_cap"],
        ),
    )
