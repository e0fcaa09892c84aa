"""The `mpc-coordinator run` options of the comparison kinds and of dominance suppression."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any, TypeVar

import click

from mpcnode.core.comparison_options import ComparisonOptions, parse_fraction
from mpcnode.core.spec import Kind

F = TypeVar("F", bound=Callable[..., Any])
KIND_CHOICES = [k.value for k in Kind] + ["median"]


def comparison_options(func: F) -> F:
    """Add --price, --quantile, --at-least, --absolute, --suppress-dominant, --winner-only and
    --dominant-top."""
    options = [
        click.option(
            "--price",
            type=click.Choice(["first", "second"]),
            help="--kind auction: publish the winning bid (first) or the second-highest (second).",
        ),
        click.option("--quantile", help="--kind quantile: which one, in (0, 1] (0.5: median)."),
        click.option(
            "--at-least",
            help="--kind threshold: YES when the sum is at least this. With a decimal point "
            "and at most 1 (0.5) it is a fraction of the participants; a whole number (40) "
            "is absolute.",
        ),
        click.option(
            "--absolute",
            is_flag=True,
            help="--kind threshold: read --at-least as an absolute sum even when it is <= 1.",
        ),
        click.option(
            "--suppress-dominant",
            help="--kind sum|mean: publish only 'suppressed (dominance)' when the largest "
            "contribution exceeds this share of the total (0.8); --kind cohorts: the same "
            "per cohort, on its sum.",
        ),
        click.option(
            "--winner-only",
            is_flag=True,
            help="--kind histogram with --dp: publish only the bin with the largest noisy "
            "count (report-noisy-max inside MPC), never a count.",
        ),
        click.option(
            "--dominant-top",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="With --suppress-dominant: the k of the (n, k) rule (k largest together).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def comparison_from_cli(kind: str, given: dict[str, Any]) -> tuple[Kind, ComparisonOptions]:
    """The spec's kind and options from the CLI values (removed from `given`)."""
    price = given.pop("price") or ""
    quantile, at_least = given.pop("quantile"), given.pop("at_least")
    absolute, top = given.pop("absolute"), given.pop("dominant_top")
    dominant = given.pop("suppress_dominant")
    winner_only = given.pop("winner_only")
    if kind == "median":
        kind, quantile = Kind.QUANTILE.value, quantile or "1/2"
    threshold = parse_fraction(at_least, "--at-least") if at_least else None
    of_participants = (
        threshold is not None
        and not absolute
        and ("." in at_least or "/" in at_least)
        and 0 <= threshold <= 1
    )
    return Kind(kind), ComparisonOptions(
        price=price,
        quantile=parse_fraction(quantile, "--quantile") if quantile else Fraction(0),
        at_least=threshold,
        of_participants=of_participants,
        suppress_dominant=parse_fraction(dominant, "--suppress-dominant")
        if dominant
        else Fraction(0),
        dominant_top=top if dominant else 1,
        winner_only=winner_only,
    )
