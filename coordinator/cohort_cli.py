"""The `mpc-coordinator run` options of cohorts over records datasets (`--kind cohorts`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mpcnode.core.cohorts import STATS, CohortLayout, CohortOptions, Group
from mpcnode.core.spec import Kind

F = TypeVar("F", bound=Callable[..., Any])


def cohort_options(func: F) -> F:
    """Add --groups, --max-records, --min-cell, --ratio and --csv."""
    options = [
        click.option(
            "--groups",
            multiple=True,
            metavar="COLUMN=CAT,CAT,...",
            help="--kind cohorts: a group-by column and its categories, as the dataset's "
            "owners declared them (repeat, in the declared order).",
        ),
        click.option(
            "--max-records",
            type=click.IntRange(min=0),
            default=0,
            help="--kind cohorts: the declared most records per party.",
        ),
        click.option(
            "--min-cell",
            type=click.IntRange(min=0),
            default=0,
            help="--kind cohorts: publish a cohort with fewer records than this (across all "
            "parties) as suppressed; decided inside MPC.",
        ),
        click.option(
            "--ratio",
            default="",
            metavar="COLUMN=A/B",
            help="--kind cohorts: also publish mean(A) / mean(B) within COLUMN for every "
            "combination of the other groups, and the gap 1 - ratio (gender=f/m).",
        ),
        click.option("--csv", "as_csv", is_flag=True, help="Print the result as CSV."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def cohorts_from_cli(
    kind: Kind, bins: tuple[str, ...], length: int, given: dict[str, Any]
) -> tuple[tuple[str, ...], int, CohortOptions, bool]:
    """(bins, length, cohort options, CSV output) from the CLI values (removed from `given`)."""
    groups, as_csv = given.pop("groups"), given.pop("as_csv")
    options = CohortOptions(given.pop("max_records"), given.pop("min_cell"), given.pop("ratio"))
    if kind is not Kind.COHORTS:
        if groups or options != CohortOptions():
            raise click.UsageError("--groups, --max-records, --min-cell, --ratio: --kind cohorts")
        return bins, length, options, as_csv
    if not groups or bins:
        raise click.UsageError("--kind cohorts needs --groups (the declared groups), not --bins")
    parsed = []
    for text in groups:
        column, sep, categories = text.partition("=")
        if not sep or not categories:
            raise click.UsageError(f"--groups {text!r}: write COLUMN=CAT,CAT,... (level=1,2,3)")
        parsed.append(Group(column.strip(), tuple(c.strip() for c in categories.split(","))))
    labels = CohortLayout(tuple(parsed)).labels
    return labels, len(STATS) * len(labels), options, as_csv
