"""Records sources (issue 13): every kind of source gives the same cohort vector, and every
problem with the rows is an error for the owner that names it, with nothing stored."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mpcnode.config import DatasetConfig
from mpcnode.core.cohorts import CohortLayout, Group
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.errors import InvalidInput, NotFound
from mpcnode.records.load import load_records
from mpcnode.records.source import RecordSource

LAYOUT = CohortLayout((Group("gender", ("f", "m")), Group("level", ("1", "2"))))
ROWS = [
    ("f", 1, 50_000.0, "active"),
    ("m", 1, 60_000.0, "active"),
    ("f", 2, 70_000.4, "active"),  # rounds to 70000
    ("m", 2, 1_000_000.0, "active"),  # clipped to 300000
    ("f", 1, 55_000.0, "left"),  # filtered out
]
DECL = Declaration(
    "payroll", Shape.COHORTS, 0, 300_000, length=4, groups=LAYOUT.groups, max_records=100
)
EXPECTED = [
    1, 1, 1, 1,
    50_000, 70_000, 60_000, 300_000,
    50_000**2, 70_000**2, 60_000**2, 300_000**2,
]  # fmt: skip
ACTIVE = "status = 'active'"


def _csv(path: Path, rows: list[tuple[object, ...]] = ROWS) -> Path:
    lines = ["gender,level,salary,status"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _sqlite(path: Path, rows: list[tuple[object, ...]] = ROWS) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE staff (gender TEXT, level INTEGER, salary REAL, status TEXT)")
    db.executemany("INSERT INTO staff VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return path


def test_csv_parquet_sqlite_and_duckdb_sources_agree(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "pay.csv")
    parquet = tmp_path / "pay.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{parquet}' (FORMAT parquet)")
    database = tmp_path / "hr.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE TABLE staff AS SELECT * FROM read_csv('{csv}')")
    sources = [
        RecordSource(csv=csv, value="salary", filter=ACTIVE),
        RecordSource(parquet=parquet, value="salary", filter=ACTIVE),
        RecordSource(
            sqlite=_sqlite(tmp_path / "hr.db"), query=f"SELECT * FROM staff WHERE {ACTIVE}",
            value="salary",
        ),
        RecordSource(
            duckdb=database, query="SELECT * FROM staff WHERE status = 'active'", value="salary"
        ),
    ]  # fmt: skip
    for source in sources:
        snapshot = load_records(source, DECL)
        assert snapshot.values.tolist() == EXPECTED, source.kind
        assert (snapshot.rows_used, snapshot.clipped) == (4, 1)
        DECL.validate(snapshot.values)  # what the node stores passes its own check
    assert load_records(sources[0], DECL).sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_the_row_fingerprint_changes_with_any_row(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "hr.db")
    source = RecordSource(sqlite=db, query="SELECT * FROM staff ORDER BY rowid", value="salary")
    decl = Declaration(
        "payroll", Shape.COHORTS, 0, 2e6, length=4, groups=LAYOUT.groups, max_records=100
    )
    before = load_records(source, decl).sha256
    with sqlite3.connect(db) as con:
        con.execute("UPDATE staff SET salary = salary + 1 WHERE rowid = 5")
    assert load_records(source, decl).sha256 != before


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("f", 3, 1.0, "active")], "gender=f,level=3 \\(1 rows\\)"),
        ([("q", 1, 1.0, "active"), ("q", 1, 2.0, "active")], "gender=q,level=1 \\(2 rows\\)"),
        ([("", 1, 1.0, "active")], "gender=<empty>"),
        ([("f", 1, "n/a", "active")], "no numeric value in column 'salary'"),
        ([("f", 1, "", "active")], "no numeric value"),
        ([("f", 1, "inf", "active")], "no numeric value"),
    ],
)
def test_an_unseen_category_or_a_missing_value_is_an_error_not_a_cohort(
    tmp_path: Path, rows: list[tuple[object, ...]], message: str
) -> None:
    source = RecordSource(csv=_csv(tmp_path / "pay.csv", ROWS + rows), value="salary")
    with pytest.raises(InvalidInput, match=message):
        load_records(source, DECL)


def test_a_filtered_out_row_may_be_anything(tmp_path: Path) -> None:
    odd = [("q", 9, "n/a", "left")]
    source = RecordSource(csv=_csv(tmp_path / "pay.csv", ROWS + odd), value="salary", filter=ACTIVE)
    assert load_records(source, DECL).values.tolist() == EXPECTED


def test_more_rows_than_declared_are_refused(tmp_path: Path) -> None:
    source = RecordSource(csv=_csv(tmp_path / "pay.csv"), value="salary")
    small = Declaration(
        "payroll", Shape.COHORTS, 0, 300_000, length=4, groups=LAYOUT.groups, max_records=4
    )
    with pytest.raises(InvalidInput, match="5 rows are used, more than the declared max_records 4"):
        load_records(source, small)


def test_bad_sql_and_missing_files_say_what_is_wrong(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "pay.csv")
    with pytest.raises(InvalidInput, match="records source csv"):
        load_records(RecordSource(csv=csv, value="salary", filter="no_such_column = 1"), DECL)
    with pytest.raises(InvalidInput, match="records source csv"):
        load_records(RecordSource(csv=csv, value="wage"), DECL)
    with pytest.raises(NotFound, match="no such file"):
        load_records(RecordSource(csv=tmp_path / "missing.csv", value="salary"), DECL)
    db = _sqlite(tmp_path / "hr.db")
    with pytest.raises(InvalidInput, match="no such table"):
        load_records(RecordSource(sqlite=db, query="SELECT * FROM nope", value="salary"), DECL)


def test_an_sqlite_source_is_opened_read_only(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "hr.db")
    query = "DELETE FROM staff RETURNING *"
    with pytest.raises(InvalidInput, match="not authorized"):
        load_records(RecordSource(sqlite=db, query=query, value="salary"), DECL)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM staff").fetchone() == (5,)


def test_a_large_parquet_file_aggregates_exactly(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    duckdb.sql(
        "COPY (SELECT ['f', 'm'][1 + i % 2] AS gender, 1 + i % 2 AS level, i % 1000 AS salary "
        f"FROM range(200000) t(i)) TO '{path}' (FORMAT parquet)"
    )
    decl = Declaration(
        "payroll", Shape.COHORTS, 0, 999, length=4, groups=LAYOUT.groups, max_records=10**6
    )
    values = load_records(RecordSource(parquet=path, value="salary"), decl).values
    i = np.arange(200_000)
    assert values[0] == 100_000 and values[3] == 100_000  # (f, 1) and (m, 2) only
    assert values[4] == int((i[i % 2 == 0] % 1000).sum())


def test_the_config_declares_a_records_dataset_with_its_source(tmp_path: Path) -> None:
    table = DatasetConfig.model_validate(
        {
            "shape": "cohorts",
            "upper": 300_000,
            "groups": {"gender": ["f", "m"], "level": [1, 2]},
            "max_records": 100,
            "source": {"csv": str(tmp_path / "pay.csv"), "value": "salary"},
        }
    )
    # Unless the owner says otherwise, cohorts of fewer than 5 records are withheld.
    assert table.declaration("payroll") == dataclasses.replace(DECL, min_cell=5)
    with pytest.raises(InvalidInput, match=r"needs a \[\.source\] table"):
        DatasetConfig.model_validate(
            {"shape": "cohorts", "upper": 1, "groups": {"g": ["a"]}, "max_records": 1}
        ).declaration("x")
    with pytest.raises(ValueError, match="exactly one of csv"):
        RecordSource(value="salary")
    with pytest.raises(ValueError, match="needs query"):
        RecordSource(sqlite=tmp_path / "x.db", value="salary")


def test_types_come_from_the_text_not_from_the_first_rows(tmp_path: Path) -> None:
    """30,000 whole salaries then a decimal, and a level that only later reads 2.7 or 01: a
    sniffed type would round the decimal and move the levels into declared cohorts."""
    many = [("f", 1, 50_000, "active")] * 30_000
    decl = Declaration(
        "payroll", Shape.COHORTS, 0, 300_000, length=4, groups=LAYOUT.groups,
        max_records=100_000, fractional_bits=2,
    )  # fmt: skip
    source = RecordSource(
        csv=_csv(tmp_path / "a.csv", [*many, ("m", 2, 1234.56, "x")]), value="salary"
    )
    values = load_records(source, decl).values
    assert values[4 + 3] == 4938  # m, level 2: round(1234.56 x 2^2), not 1235 x 4 = 4940
    for odd in ("2.7", "01"):
        source = RecordSource(
            csv=_csv(tmp_path / "b.csv", [*many, ("m", odd, 1, "x")]), value="salary"
        )
        with pytest.raises(InvalidInput, match=f"level={odd} "):
            load_records(source, decl)
    only_f = RecordSource(
        csv=_csv(tmp_path / "c.csv", [("f", 1, 10, "active")] * 5), value="salary"
    )
    assert load_records(only_f, DECL).values[0] == 5  # "f" is a category, not false


def test_sqlite_batches_of_different_types_are_read_alike(tmp_path: Path) -> None:
    rows: list[tuple[object, ...]] = [("f", 1, 50_000, "active")] * 70_000 + [("m", 2, 0.5, "a")]
    db = _sqlite(tmp_path / "hr.db", rows)
    decl = Declaration(
        "payroll", Shape.COHORTS, 0, 300_000, length=4, groups=LAYOUT.groups,
        max_records=100_000, fractional_bits=1,
    )  # fmt: skip
    values = load_records(
        RecordSource(sqlite=db, query="SELECT * FROM staff", value="salary"), decl
    )
    assert values.values[4 + 3] == 1  # 0.5 x 2^1, not a value truncated to an integer type


def test_the_engine_reads_the_source_and_nothing_else(tmp_path: Path) -> None:
    secret = tmp_path / "other.csv"
    secret.write_text("gender,level,salary\nf,1,7\n")
    csv = _csv(tmp_path / "pay.csv")
    for condition in (f"salary > (SELECT max(salary) FROM read_csv('{secret}'))", "true"):
        source = RecordSource(csv=csv, value="salary", filter=condition)
        if condition == "true":
            load_records(source, DECL)
            continue
        with pytest.raises(InvalidInput, match=r"disabled|Permission"):
            load_records(source, DECL)
    copy = RecordSource(csv=csv, value="salary", filter=f"(COPY (SELECT 1) TO '{tmp_path}/x')")
    with pytest.raises(InvalidInput):
        load_records(copy, DECL)
    assert not (tmp_path / "x").exists()


def test_ambiguous_paths_and_misplaced_filters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="glob"):
        RecordSource(csv=tmp_path / "pay[1].csv", value="salary")
    with pytest.raises(ValueError, match="WHERE"):
        RecordSource(sqlite=tmp_path / "x.db", query="SELECT 1", value="v", filter="true")
    hashed = tmp_path / "hr#2026.db"
    _sqlite(hashed)
    source = RecordSource(sqlite=hashed, query="SELECT * FROM staff", value="salary")
    load_records(source, Declaration(
        "payroll", Shape.COHORTS, 0, 2e6, length=4, groups=LAYOUT.groups, max_records=100
    ))  # fmt: skip
    assert not (tmp_path / "hr").exists()  # '#' did not cut the path (and its read-only mode)


def test_too_many_rows_are_reported_before_any_total_is_formed(tmp_path: Path) -> None:
    big = Declaration(
        "payroll", Shape.COHORTS, 0, 2.0**30, length=4, groups=LAYOUT.groups, max_records=3
    )
    rows = [("f", 1, 2.0**30, "active")] * 10
    source = RecordSource(csv=_csv(tmp_path / "pay.csv", rows), value="salary")
    with pytest.raises(InvalidInput, match="more than the declared max_records 3"):
        load_records(source, big)


def test_categories_in_the_config_are_strings_or_whole_numbers() -> None:
    base = {
        "shape": "cohorts",
        "upper": 1,
        "max_records": 1,
        "source": {"csv": "x.csv", "value": "v"},
    }
    for bad in ([True, False], [1.0, 2.0]):
        with pytest.raises(ValueError):
            DatasetConfig.model_validate({**base, "groups": {"g": bad}})


def test_a_filter_or_query_runs_as_one_statement_and_writes_nothing(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "pay.csv")
    before = csv.read_bytes()
    escape = (
        "true), false) AS used, 'f' AS g0, '1' AS g1, 1.0 AS v) SELECT 1; "
        f"COPY (SELECT 'gender,level,salary' UNION ALL SELECT 'f,1,1') TO '{csv}' "
        "(HEADER false, QUOTE ''); WITH rows AS (SELECT COALESCE((true"
    )
    with pytest.raises(InvalidInput, match="records source filter"):
        load_records(RecordSource(csv=csv, value="salary", filter=escape), DECL)
    second = f"true), false); COPY (SELECT 1) TO '{csv}'; SELECT COALESCE((true"
    with pytest.raises(InvalidInput, match="one SQL condition, with nothing after it"):
        load_records(RecordSource(csv=csv, value="salary", filter=second), DECL)
    assert csv.read_bytes() == before
    database = tmp_path / "hr.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE TABLE staff AS SELECT * FROM read_csv('{csv}')")
    for drop in (
        "SELECT * FROM staff; DROP TABLE staff",
        "SELECT * FROM staff); DROP TABLE staff; SELECT * FROM (SELECT 1",
    ):
        with pytest.raises(InvalidInput, match="records source query"):
            load_records(RecordSource(duckdb=database, query=drop, value="salary"), DECL)
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staff").fetchone() == (5,)


def test_an_sqlite_query_may_only_read_its_own_file(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "hr.db")
    other = _sqlite(tmp_path / "other.db")
    for query in (
        f"VACUUM INTO '{tmp_path / 'copy.db'}'",
        f"ATTACH '{other}' AS o",
        "SELECT * FROM pragma_table_info('staff')",
    ):
        with pytest.raises(
            InvalidInput, match=r"not authorized|authorization denied|too many attached|no columns"
        ):
            load_records(RecordSource(sqlite=db, query=query, value="salary"), DECL)
    assert not (tmp_path / "copy.db").exists()


def test_values_are_plain_decimal_numbers(tmp_path: Path) -> None:
    for odd in ("1_000", "50,5", "0x10", "1e400"):
        source = RecordSource(
            csv=_csv(tmp_path / "pay.csv", [("f", 1, f'"{odd}"', "active")]), value="salary"
        )
        with pytest.raises(InvalidInput, match="no numeric value"):
            load_records(source, DECL)
    fine = [("f", 1, " 12.5 ", "active"), ("m", 1, "-0", "active"), ("f", 2, "1e3", "active")]
    values = load_records(RecordSource(csv=_csv(tmp_path / "ok.csv", fine), value="salary"), DECL)
    assert values.values[4:8].tolist() == [13, 1000, 0, 0]
