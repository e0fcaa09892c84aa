"""A records source in PostgreSQL (issue 13), against a real server started for the test.

The server listens on a Unix socket in a temporary directory only (no TCP port), runs as an
unprivileged user when the test runs as root, and is stopped at the end. Skipped when the
PostgreSQL server binaries are not installed (`.ci/run` installs Debian's `postgresql`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpcnode.core.cohorts import CohortLayout, Group
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.errors import InvalidInput
from mpcnode.records.databases import rows_sha256
from mpcnode.records.load import load_records
from mpcnode.records.source import RecordSource

pytestmark = pytest.mark.integration
LAYOUT = CohortLayout((Group("gender", ("f", "m")), Group("level", ("1", "2"))))
DECL = Declaration(
    "payroll", Shape.COHORTS, 0, 300_000, length=4, groups=LAYOUT.groups, max_records=100
)


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A PostgreSQL server on a Unix socket; yields the connection string (trust auth)."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="mpcnode-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "hr", "--auth=trust", "-E", "UTF8")
    options = f"-k {folder} -c listen_addresses='' -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
        "-w", "start")  # fmt: skip
    try:
        yield f"host={folder} dbname=postgres user=hr"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def staff(server: str) -> str:
    """A staff table: five rows, one of them inactive, one salary above the bound."""
    import psycopg  # noqa: PLC0415 (only where PostgreSQL is tested)

    with psycopg.connect(server, autocommit=True) as db:
        db.execute(
            "CREATE TABLE staff (id int PRIMARY KEY, gender text, level int, "
            "salary numeric(10, 2), active boolean)"
        )
        db.execute(
            "INSERT INTO staff VALUES (1, 'f', 1, 50000, true), (2, 'm', 1, 60000, true), "
            "(3, 'f', 2, 70000.40, true), (4, 'm', 2, 1000000, true), (5, 'f', 1, 1, false)"
        )
        # A query that would write, through a function: the transaction must refuse it.
        db.execute(
            "CREATE FUNCTION wipe() RETURNS int AS 'DELETE FROM staff; SELECT 1' LANGUAGE sql"
        )
    return server


def test_a_postgres_query_gives_the_cohorts_and_a_row_fingerprint(staff: str) -> None:
    query = "SELECT gender, level, salary FROM staff WHERE active ORDER BY id"
    snapshot = load_records(RecordSource(postgres=staff, query=query, value="salary"), DECL)
    assert snapshot.values.tolist() == [
        1, 1, 1, 1,
        50_000, 70_000, 60_000, 300_000,
        50_000**2, 70_000**2, 60_000**2, 300_000**2,
    ]  # fmt: skip
    assert (snapshot.rows_read, snapshot.clipped) == (4, 1)
    import psycopg  # noqa: PLC0415

    with psycopg.connect(staff) as db:
        rows = db.execute(query).fetchall()
    assert snapshot.sha256 == rows_sha256([rows])  # the documented recipe
    assert "password" not in snapshot.text()


def test_the_query_runs_read_only(staff: str) -> None:
    query = "SELECT gender, level, salary FROM staff WHERE wipe() = 1"
    source = RecordSource(postgres=staff, query=query, value="salary")
    with pytest.raises(InvalidInput, match="read-only transaction"):
        load_records(source, DECL)
    import psycopg  # noqa: PLC0415

    with psycopg.connect(staff) as db:
        assert db.execute("SELECT count(*) FROM staff").fetchone() == (5,)


def test_bad_queries_and_unreachable_servers_say_what_is_wrong(staff: str) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_records(RecordSource(postgres=staff, query="SELECT * FROM nope", value="v"), DECL)
    gone = RecordSource(postgres="host=/nonexistent dbname=x user=hr", query="SELECT 1", value="v")
    with pytest.raises(InvalidInput, match="records source postgres"):
        load_records(gone, DECL)


def test_a_password_in_the_config_is_refused() -> None:
    for conninfo in ("host=db dbname=hr user=hr password=secret", "postgresql://hr:secret@db/hr"):
        with pytest.raises(ValueError, match="pgpass"):
            RecordSource(postgres=conninfo, query="SELECT 1", value="v")
    RecordSource(postgres="postgresql://hr@db.internal/hr", query="SELECT 1", value="v")
