"""`mpcnode demo wagegap`: four employers' gender wage gap per job level, from their payrolls.

Each employer keeps its payroll as a CSV file (one row per employee: id, gender, level,
years of service, salary, status), generated here deterministically from `SEED`. Its node's
config declares the records dataset `payroll`: cohorts gender in {f, m, x} x level in
{1..6}, salaries clipped to [0, 400000], active employees only. Each node computes its own
per-cohort counts, sums and sums of squares from its file; the federation publishes the
per-cohort table, with cohorts of fewer than 5 employees in all suppressed (decided inside
MPC), and the ratio of women's to men's mean salary in each level. A second, record-level
differentially private release from the same files follows, its sensitivity set by the
declared bounds alone.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
import numpy.typing as npt

from mpcnode.client import CoordinatorClient
from mpcnode.commands.render import result_table
from mpcnode.config import EVERY_KIND
from mpcnode.core.cohorts import STATS, CohortLayout, CohortOptions, Group
from mpcnode.core.privacy import Mechanism, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import DEMO_PARTIES, LocalFederation

SEED = 20_260_601
GENDERS = ("f", "m", "x")
LEVELS = ("1", "2", "3", "4", "5", "6")  # 6: the executive level, a handful of people
LAYOUT = CohortLayout((Group("gender", GENDERS), Group("level", LEVELS)))
UPPER = 400_000
MAX_RECORDS = 10_000
MIN_CELL = 5
HEADCOUNT = {"alice": 2_400, "bob": 3_100, "carlos": 1_800, "david": 2_700}
_BASE = {"1": 42_000, "2": 58_000, "3": 76_000, "4": 98_000, "5": 135_000, "6": 210_000}
_LEVEL_SHARE = (0.34, 0.28, 0.2, 0.12, 0.058, 0.002)
_GAP = {"alice": 0.08, "bob": 0.12, "carlos": 0.05, "david": 0.10}  # women's pay shortfall


def _uniforms(party: str, stream: str, count: int) -> npt.NDArray[np.float64]:
    """`count` deterministic numbers in [0, 1) from SHAKE-256 of the seed, party and stream
    (demo data only: the same every run, on every machine)."""
    raw = hashlib.shake_256(f"{SEED}:{party}:{stream}".encode()).digest(8 * count)
    return np.frombuffer(raw, dtype=np.uint64).astype(np.float64) / 2.0**64


def _pick(
    u: npt.NDArray[np.float64], options: tuple[str, ...], weights: tuple[float, ...]
) -> list[str]:
    edges = np.cumsum(weights) / sum(weights)
    return [options[min(int(i), len(options) - 1)] for i in np.searchsorted(edges, u, "right")]


def write_payroll(party: str, path: Path) -> None:
    """Write `party`'s generated payroll (the same file for the same party, every time)."""
    rows = HEADCOUNT[party]
    genders = _pick(_uniforms(party, "gender", rows), GENDERS, (0.47, 0.5, 0.03))
    levels = _pick(_uniforms(party, "level", rows), LEVELS, _LEVEL_SHARE)
    years = (_uniforms(party, "years", rows) * 31).astype(np.int64)
    # Box-Muller: a normal factor around 1 (sd 6%) for each salary.
    u1, u2 = _uniforms(party, "noise1", rows), _uniforms(party, "noise2", rows)
    noise = 1.0 + 0.06 * np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)
    leavers = _uniforms(party, "status", rows) < 0.04
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["employee", "gender", "level", "years", "salary", "status"])
        for i in range(rows):
            base = _BASE[levels[i]] * (1 + 0.012 * years[i]) * noise[i]
            if genders[i] == "f":
                base *= 1 - _GAP[party]
            salary = round(float(base), 2)
            status = "left" if leavers[i] else "active"
            writer.writerow([f"{party}-{i:05d}", genders[i], levels[i], years[i], salary, status])


def payroll_config(path: Path, dataset: str) -> dict[str, object]:
    """The `[datasets.<dataset>]` table of a node that reads its payroll from `path`."""
    dp_only = dataset.endswith("dp")
    return {
        "shape": "cohorts",
        "lower": 0,
        "upper": UPPER,
        "groups": {"gender": list(GENDERS), "level": list(LEVELS)},
        "max_records": MAX_RECORDS,
        # Exact releases withhold tiny cohorts; the DP one is protected by its noise instead.
        "min_cell": 0 if dp_only else MIN_CELL,
        "unit": "record" if dp_only else "organization",
        # Record-level DP protects each employee; what it costs the organization as a whole
        # is max_records times as much (group privacy), so that cap is set apart.
        **(
            {"require_dp": True, "epsilon_cap": 3.0, "organization_epsilon_cap": 100_000.0}
            if dp_only
            else {}
        ),
        "source": {"csv": str(path), "value": "salary", "filter": "status = 'active'"},
    }


def cohort_spec(dataset: str, privacy: Privacy | None = None) -> ComputationSpec:
    """The analyst's spec: the declared layout, bounds and records, suppression and gap."""
    labels = LAYOUT.labels
    return ComputationSpec(
        name=f"wage gap from {dataset}",
        kind=Kind.COHORTS,
        dataset=dataset,
        lower=0,
        upper=UPPER,
        length=len(STATS) * len(labels),
        bins=labels,
        min_parties=3,
        privacy=privacy or Privacy(),
        cohorts=CohortOptions(MAX_RECORDS, MIN_CELL if privacy is None else 0, "gender=f/m"),
    )


def dp_privacy() -> Privacy:
    """Record-level distributed discrete Laplace, epsilon 1: each employee is protected."""
    return Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0, unit=Unit.RECORD)


def federation(root: Path) -> LocalFederation:
    """Four employers, each with its payroll file and both datasets declared over it."""
    datasets: dict[str, Mapping[str, Mapping[str, object]]] = {}
    for party in DEMO_PARTIES:
        path = root / f"{party}-payroll.csv"
        write_payroll(party, path)
        datasets[party] = {d: payroll_config(path, d) for d in ("payroll", "payroll-dp")}
    return LocalFederation(
        root, DEMO_PARTIES, policy={"allowed_kinds": list(EVERY_KIND)}, datasets=datasets
    )


DATASETS = ("payroll", "payroll-dp")


@contextmanager
def running(
    root: Path, report: Callable[[str], None] = lambda _: None
) -> Iterator[LocalFederation]:
    """The four employers' federation under `root`, started, every payroll loaded into both
    datasets by its own node; every daemon stopped on exit."""
    fed = federation(root).setup()
    with fed.start():
        for party in DEMO_PARTIES:
            with fed.local_client(party) as node:
                for dataset in DATASETS:
                    info = node.load_records(dataset)
            report(f"  {party}'s node loaded its payroll: {info.snapshot}")
        yield fed


def wagegap(keep: Path | None = None) -> int:
    """Run the demo: start the federation, load every payroll, publish the two tables."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mpcnode-demo-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        click.echo(f"starting a coordinator and {len(DEMO_PARTIES)} nodes in {root}")
        with running(root, click.echo) as fed, fed.analyst() as analyst:
            _publish(analyst)
        click.echo(f"\nall daemons stopped; demo took {time.monotonic() - started:.1f} s")
    return 0


def _publish(analyst: CoordinatorClient) -> None:
    click.echo("\n" + result_table(analyst.run(cohort_spec("payroll"))))
    click.echo("\n" + result_table(analyst.run(cohort_spec("payroll-dp", dp_privacy()))))
