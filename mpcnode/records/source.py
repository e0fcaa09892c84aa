"""Where a records dataset's rows come from, as its node's config says (`[datasets.X.source]`).

The source is the organization's own and is named only in its node's config, never by a
remote caller: an analyst's spec names a dataset, and the node alone knows which file or
database holds it. Paths are relative to the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["csv", "parquet", "sqlite", "duckdb"]


class RecordSource(BaseModel):
    """One records source: a file (CSV, Parquet) or a database (SQLite, DuckDB) and a query.

    `value` is the column whose values are clipped and summed; the group-by columns are the
    declaration's `groups`, by name. `filter` is an SQL condition over the source's columns
    (e.g. ``status = 'active'``), evaluated by DuckDB; rows for which it is not true are
    left out. The config is the organization's, so the filter and the query are trusted
    SQL, as a database's own views are.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    csv: Path | None = None
    parquet: Path | None = None
    sqlite: Path | None = None
    duckdb: Path | None = None
    query: str = Field(default="", max_length=100_000)
    value: str = Field(min_length=1, max_length=128)
    filter: str = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _one_source(self) -> RecordSource:
        given = [k for k in ("csv", "parquet", "sqlite", "duckdb") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("set exactly one of csv, parquet, sqlite or duckdb")
        database = given[0] in ("sqlite", "duckdb")
        if database and not self.query.strip():
            raise ValueError(f'a {given[0]} source needs query = "SELECT ..."')
        if database and self.filter:
            raise ValueError(
                f"a {given[0]} source selects its rows in its query: put the condition in the "
                "query's WHERE clause, not in filter"
            )
        if not database and self.query:
            raise ValueError(f"a {given[0]} file is read whole: leave query out (use filter)")
        if any(c in str(getattr(self, given[0])) for c in "*?[]{}"):
            # DuckDB would read every file the pattern matches, while the snapshot's hash is
            # of the one path: refuse the ambiguity.
            raise ValueError(f"the {given[0]} path has a glob character (* ? [ ] {{ }}); rename it")
        return self

    @property
    def kind(self) -> Kind:
        """Which kind of source this is."""
        for kind in ("csv", "parquet", "sqlite", "duckdb"):
            if getattr(self, kind):
                return kind
        raise AssertionError("validated: one source is set")

    @property
    def path(self) -> Path:
        """The file or database."""
        found: Path = getattr(self, self.kind)
        return found

    def resolved(self, base: Path) -> RecordSource:
        """The same source with its path made absolute, relative to `base`."""
        return self.model_copy(update={self.kind: base / self.path})

    def describe(self) -> str:
        """For the owner: the source as configured (never shown to analysts)."""
        query = f" query {self.query.strip()[:60]!r}" if self.query else ""
        where = f" where {self.filter[:60]!r}" if self.filter else ""
        return f"{self.kind} {self.path}{query}, value column {self.value!r}{where}"
