"""Records datasets and cohorts on real daemons (issue 13): the wage-gap federation.

Four employers' nodes read their own payroll CSVs (generated from the demo's seed), and the
published table is checked against the same statistics computed in the clear, here, with
Python's csv module over the union of the four files. Then the record-level DP release,
the audit trail, and the refusals an owner or an analyst can meet.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from integration_helpers import scalar

from mpcnode import wagegap_demo as demo
from mpcnode.core.cohorts import CohortOptions
from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.federation import DEMO_PARTIES, LocalFederation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """The demo's four employers, each payroll loaded into both datasets."""
    with demo.running(tmp_path_factory.mktemp("wagegap")) as federation:
        yield federation


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)  # salaries are positive: halves away from zero


def _cleartext(root: Path) -> dict[str, list[int]]:
    """count, sum, sum of squares and the two largest parties' counts together, per cohort
    label, from every file, active rows only."""
    blocks: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    held: dict[str, list[int]] = defaultdict(list)
    for party in DEMO_PARTIES:
        before = {label: cell[0] for label, cell in blocks.items()}
        with (root / f"{party}-payroll.csv").open() as handle:
            for row in csv.DictReader(handle):
                if row["status"] != "active":
                    continue
                value = _half_up(min(max(float(row["salary"]), 0), demo.UPPER))
                cell = blocks[f"gender={row['gender']},level={row['level']}"]
                cell[0], cell[1], cell[2] = cell[0] + 1, cell[1] + value, cell[2] + value**2
        for label, cell in blocks.items():
            held[label].append(cell[0] - before.get(label, 0))
    for label, cell in blocks.items():
        cell[3] = sum(sorted(held[label])[-2:])
    return blocks


def test_the_wage_gap_table_matches_the_cleartext_union_of_the_payrolls(
    fed: LocalFederation,
) -> None:
    with fed.analyst() as analyst:
        result = analyst.run(demo.cohort_spec("payroll"))
    clear = _cleartext(fed.root)
    out = result.outputs
    suppressed = 0
    for i, label in enumerate(demo.LAYOUT.labels):
        count, total, squares, largest_two = clear[label]
        # Withheld with fewer than 5 rows besides its 2 largest holders' (t + 1, t = 1).
        if count - largest_two < demo.MIN_CELL:
            assert out["suppressed"][i] == 1 and math.isnan(out["count"][i]), label
            suppressed += 1
            continue
        assert out["suppressed"][i] == 0
        assert (out["count"][i], out["sum"][i]) == (count, total), label
        assert out["mean"][i] == pytest.approx(total / count)
        assert out["std"][i] == pytest.approx(math.sqrt(squares / count - (total / count) ** 2))
    assert 1 <= suppressed <= 4  # the executive level's handful, not more
    pairs = zip(out["ratio"][:5], out["gap"][:5], strict=True)
    for level, (ratio, gap) in enumerate(pairs, start=1):
        f, m = clear[f"gender=f,level={level}"], clear[f"gender=m,level={level}"]
        assert ratio == pytest.approx((f[1] / f[0]) / (m[1] / m[0]))
        assert gap == pytest.approx(1 - ratio)
        assert 0.04 < gap < 0.14  # the generated employers pay women 5-12% less
    assert "besides its 2 largest holders', only that it is suppressed" in result.revealed
    assert "honest majority" in result.threat_model  # suppression runs inside MPC


def test_a_record_level_dp_release_takes_its_sensitivity_from_the_declaration(
    fed: LocalFederation,
) -> None:
    with fed.analyst() as analyst:
        result = analyst.run(demo.cohort_spec("payroll-dp", demo.dp_privacy()))
    clear = _cleartext(fed.root)
    counts = result.outputs["count_unclamped"]
    errors = [counts[i] - clear[label][0] for i, label in enumerate(demo.LAYOUT.labels)]
    sd = result.privacy.noise_scale
    # Replace-one, three blocks of M^2: a count's noise is discrete Laplace of scale 6/eps
    # (sd about 8.5 for t = 3, more with four contributors).
    assert 6 < sd < 15
    assert max(abs(e) for e in errors) < 8 * sd
    assert any(e != 0 for e in errors)  # noisy, not exact
    assert "a sum's is 400000 times it" in result.revealed
    with fed.local_client("bob") as bob:
        release = next(r for r in bob.releases("payroll-dp") if r.computation == result.spec.name)
    assert release.unit == "record" and Fraction(release.epsilon) == 1
    # Group privacy: the organization (up to max_records employees) pays that many times.
    assert Fraction(release.organization_epsilon) == demo.MAX_RECORDS
    digest = hashlib.sha256((fed.root / "bob-payroll.csv").read_bytes()).hexdigest()
    assert release.snapshot.endswith(f"sha256 {digest}")
    assert "rows used" in release.snapshot


def test_a_records_dataset_takes_no_submitted_vector(fed: LocalFederation) -> None:
    with fed.local_client("alice") as alice:
        before = next(i for i in alice.inputs() if i.dataset == "payroll")
        with pytest.raises(InvalidInput, match="mpcnode load"):
            alice.submit("payroll", np.zeros(54, dtype=np.int64))
        after = next(i for i in alice.inputs() if i.dataset == "payroll")
    assert after.input_id == before.input_id and after.snapshot == before.snapshot


def test_loading_a_dataset_without_a_source_is_refused(fed: LocalFederation) -> None:
    with fed.local_client("alice") as alice:
        alice.submit("raises", [3_800], scalar("raises"))
        with pytest.raises(PreconditionFailed, match="has no records source") as refused:
            alice.load_records("raises")
    assert refused.value.reason == "NO_RECORDS_SOURCE"


def test_a_spec_below_the_owner_s_suppression_is_refused_by_every_node(
    fed: LocalFederation,
) -> None:
    spec = demo.cohort_spec("payroll")
    weaker = dataclasses.replace(spec, cohorts=CohortOptions(demo.MAX_RECORDS, 2, "gender=f/m"))
    with fed.analyst() as analyst, pytest.raises(PreconditionFailed, match="min_cell") as refused:
        analyst.run(weaker)
    assert "cohorts under 5 records suppressed" in refused.value.message


def test_a_changed_payroll_after_an_exact_release_needs_a_new_period(
    fed: LocalFederation,
) -> None:
    path = fed.root / "carlos-payroll.csv"
    original = path.read_bytes()
    try:
        with path.open("a", newline="") as handle:
            csv.writer(handle).writerow(["carlos-99999", "f", "1", "0", "45000", "active"])
        with fed.local_client("carlos") as carlos, pytest.raises(PreconditionFailed, match="new"):
            carlos.load_records("payroll")
        config = fed.root / "carlos" / "node.toml"
        config.write_text(config.read_text().replace("payroll = { ", 'payroll = { period = "2", '))
        fed.stop_daemon("carlos")
        fed.start_daemon("carlos")
        fed.wait_ready("carlos")
        with fed.local_client("carlos") as carlos:
            info = carlos.load_records("payroll")
        assert info.period == "2"
        assert hashlib.sha256(path.read_bytes()).hexdigest() in info.snapshot
    finally:
        path.write_bytes(original)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_prints_the_table_as_csv_and_json(fed: LocalFederation) -> None:
    analyst = fed.tls("analyst", "analyst")
    base = [
        sys.executable, "-m", "coordinator", "run",
        "--coordinator", f"127.0.0.1:{fed.ports['coordinator']}",
        "--cert", str(analyst.cert), "--key", str(analyst.key), "--ca", str(analyst.ca),
        "--kind", "cohorts", "--dataset", "payroll-dp", "--upper", str(demo.UPPER),
        "--groups", "gender=f,m,x", "--groups", "level=1,2,3,4,5,6",
        "--max-records", str(demo.MAX_RECORDS), "--ratio", "gender=f/m",
        "--dp", "discrete_laplace", "--epsilon", "0.5", "--unit", "record",
    ]  # fmt: skip
    done = subprocess.run(
        [*base, "--csv"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "noise sized for t = 4 contributors" in done.stderr  # every invited party
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "cohort,count,sum,mean,std,suppressed"
    assert lines[1].startswith('"gender=f,level=1",') and len(lines) == 19
    done = subprocess.run(
        [*base, "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["privacy"]["threshold"] == 4
    assert [r["cohort"] for r in doc["cohorts"]] == list(demo.LAYOUT.labels)
    assert [r["group"] for r in doc["ratios"]] == [f"level={i}" for i in range(1, 7)]
