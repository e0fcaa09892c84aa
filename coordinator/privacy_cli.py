"""The `mpc-coordinator run` options of differential privacy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mpcnode.commands.options import apply_options
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit

_F = TypeVar("_F", bound=Callable[..., Any])


def privacy_options(fn: _F) -> _F:
    """Add --dp, --epsilon, --rho, --delta, --placement, --unit, --neighbouring,
    --record-bound and --threshold."""
    choice = click.Choice
    return apply_options(
        fn,
        [
            click.option(
                "--dp",
                "mechanism",
                type=choice([m.value for m in Mechanism]),
                default="none",
                show_default=True,
                help="Differential-privacy mechanism (none: an exact aggregate).",
            ),
            click.option(
                "--epsilon",
                type=float,
                default=0.0,
                help="For discrete_laplace and randomized_response: the epsilon each node spends.",
            ),
            click.option(
                "--rho",
                type=float,
                default=0.0,
                help="For skellam and discrete_gaussian: the zCDP rho each node spends.",
            ),
            click.option(
                "--delta",
                type=float,
                default=0.0,
                help="Report zCDP as (epsilon, delta) at this delta (default 1e-6).",
            ),
            click.option(
                "--placement",
                type=choice([p.value for p in Placement]),
                help="Who adds noise (default: distributed; local for randomized_response).",
            ),
            click.option(
                "--unit",
                type=choice([u.value for u in Unit]),
                help="Whose privacy: organization (default) or record (default for polls).",
            ),
            click.option(
                "--neighbouring",
                type=choice([n.value for n in Neighbouring]),
                default="replace_one",
                show_default=True,
            ),
            click.option(
                "--record-bound",
                type=float,
                default=0.0,
                help="With --unit record "
                "on a sum or mean: the most one record changes one element.",
            ),
            click.option(
                "--threshold",
                type=int,
                default=0,
                help="t: noise-carrying parties distributed noise is sized for (default: every "
                "invited party; a retry without one of them is then refused, so set a lower t "
                "to let a computation go on without a dropped party).",
            ),
        ],
    )


def privacy_from_cli(
    mechanism: str,
    epsilon: float,
    rho: float,
    delta: float,
    placement: str | None,
    unit: str | None,
    neighbouring: str,
    record_bound: float,
    threshold: int,
) -> Privacy:
    """The spec's privacy settings from the CLI values."""
    local = mechanism == Mechanism.RANDOMIZED_RESPONSE.value
    return Privacy(
        mechanism=Mechanism(mechanism),
        placement=Placement(placement or ("local" if local else "distributed")),
        epsilon=epsilon,
        delta=delta,
        rho=rho,
        unit=Unit(unit or ("record" if local else "organization")),
        neighbouring=Neighbouring(neighbouring),
        record_bound=record_bound,
        threshold=threshold,
    )


def needs_threshold(privacy: Privacy) -> bool:
    """True when distributed noise has no t yet: `run` then sizes it for the invited parties."""
    return privacy.enabled and privacy.placement is Placement.DISTRIBUTED and not privacy.threshold


def with_threshold(privacy: Privacy, invited: int) -> Privacy:
    """`privacy` with t = the number of invited parties (at least 2, the smallest t)."""
    return dataclasses.replace(privacy, threshold=max(2, invited))
