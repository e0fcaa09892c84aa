"""Where a records dataset's rows come from, as its node's config says (`[datasets.X.source]`).

The source is the organization's own and is named only in its node's config, never by a
remote caller: an analyst's spec names a dataset, and the node alone knows which file or
database holds it. Paths are relative to the config file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["csv", "parquet", "sqlite", "duckdb", "postgres"]
KINDS: tuple[Kind, ...] = ("csv", "parquet", "sqlite", "duckdb", "postgres")
DATABASES = ("sqlite", "duckdb", "postgres")
_PASSWORD = re.compile(r"password\s*=|://[^/@]*:[^/@]*@", re.IGNORECASE)


class RecordSource(BaseModel):
    """One records source: a file (CSV, Parquet) or a database (SQLite, DuckDB, PostgreSQL)
    and a query.

    `value` is the column whose values are clipped and summed; the group-by columns are the
    declaration's `groups`, by name. `filter` is an SQL condition over a file's columns
    (e.g. ``status = 'active'``), evaluated by DuckDB; rows for which it is not true are
    left out (a database source selects its rows in its query). The config is the
    organization's, so the filter and the query are trusted SQL, as a database's own views
    are. `postgres` is a libpq connection string or URL without a password: the password
    comes from the daemon user's ~/.pgpass or PGPASSFILE, never from the config.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    csv: Path | None = None
    parquet: Path | None = None
    sqlite: Path | None = None
    duckdb: Path | None = None
    postgres: str | None = Field(default=None, max_length=2000)
    query: str = Field(default="", max_length=100_000)
    value: str = Field(min_length=1, max_length=128)
    filter: str = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _one_source(self) -> RecordSource:
        given = [k for k in KINDS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("set exactly one of csv, parquet, sqlite, duckdb or postgres")
        kind = given[0]
        database = kind in DATABASES
        if database and not self.query.strip():
            raise ValueError(f'a {kind} source needs query = "SELECT ..."')
        if database and self.filter:
            raise ValueError(
                f"a {kind} source selects its rows in its query: put the condition in the "
                "query's WHERE clause, not in filter"
            )
        if not database and self.query:
            raise ValueError(f"a {kind} file is read whole: leave query out (use filter)")
        if kind == "postgres":
            if _PASSWORD.search(self.postgres or ""):
                raise ValueError(
                    "the postgres connection string holds a password: keep it in the daemon "
                    "user's ~/.pgpass (or PGPASSFILE), not in the config"
                )
        elif any(c in str(getattr(self, kind)) for c in "*?[]{}"):
            # DuckDB would read every file the pattern matches, while the snapshot's hash is
            # of the one path: refuse the ambiguity.
            raise ValueError(f"the {kind} path has a glob character (* ? [ ] {{ }}); rename it")
        return self

    @property
    def kind(self) -> Kind:
        """Which kind of source this is."""
        for kind in KINDS:
            if getattr(self, kind):
                return kind
        raise AssertionError("validated: one source is set")

    @property
    def is_file(self) -> bool:
        """True when the source (or its database) is a file on this machine."""
        return self.kind != "postgres"

    @property
    def path(self) -> Path:
        """The file or database file (not for a PostgreSQL source)."""
        found: Path = getattr(self, self.kind)
        return found

    @property
    def where(self) -> str:
        """The file, or the PostgreSQL connection string (it holds no password)."""
        return str(self.postgres) if self.kind == "postgres" else str(self.path)

    def describe(self) -> str:
        """For the owner: the source as configured (never shown to analysts)."""
        query = f" query {self.query.strip()[:60]!r}" if self.query else ""
        where = f" where {self.filter[:60]!r}" if self.filter else ""
        return f"{self.kind} {self.where}{query}, value column {self.value!r}{where}"
