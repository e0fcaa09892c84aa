"""Differential privacy end to end: real daemons, mutual TLS, noise, ledgers, polls."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from integration_helpers import (
    PreparedRound,
    coordinator_tls,
    prepare,
    running_federation,
    scalar,
    submit_all,
    vector,
)

from mpcnode.commands.render import result_table
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.noise_bounds import PolyaDifference, lattice_pmf
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.federation import LocalFederation

PARTIES = ("alice", "bob", "carlos", "david", "erin")
RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}
REPEATS = 300
POLICY = {
    "budget": {"epsilon": 2.0, "rho": 1.0, "datasets": {"counts": {"epsilon": float(REPEATS)}}}
}


@pytest.fixture(scope="module")
def dpfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Five parties whose nodes cap each dataset at epsilon 2 (counts: 300)."""
    with running_federation(tmp_path_factory.mktemp("dpfed"), PARTIES, policy=POLICY) as fed:
        yield fed


def _laplace(epsilon: float, **more: object) -> Privacy:
    return Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=epsilon, **more)  # type: ignore[arg-type]


def _raises_spec(dataset: str, epsilon: float, **more: object) -> ComputationSpec:
    return ComputationSpec(
        "average raise",
        Kind.MEAN,
        dataset,
        0,
        10_000,
        min_parties=3,
        privacy=_laplace(epsilon, **more),
    )


def _submit_raises(fed: LocalFederation, dataset: str) -> None:
    submit_all(fed, dataset, RAISES, scalar(dataset, upper=10_000))


def test_seed_raises_publish_a_noisy_mean_with_its_stated_scale(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises")
    with dpfed.analyst() as analyst:
        result = analyst.run(_raises_spec("raises", 1.0), tuple(RAISES))
    statement = result.privacy
    assert statement.mechanism is Mechanism.DISCRETE_LAPLACE
    assert statement.placement is Placement.DISTRIBUTED
    assert (statement.epsilon, statement.contributors, statement.threshold) == (1.0, 4, 3)
    assert statement.sampler == "exact"
    # 4 noise shares of NB(1/3) - NB(1/3), scale 10000 (= sensitivity / epsilon), over 4
    law = PolyaDifference(4 / 3, 1 / 10_000)
    assert statement.noise_scale == pytest.approx(math.sqrt(law.variance()) / 4)
    assert statement.ci95_halfwidth > 1.9 * statement.noise_scale
    mean = float(result.outputs["mean"][0])
    assert mean != 3171.5
    assert abs(mean - 3171.5) < 10 * statement.noise_scale  # fails with p < 1e-6
    table = result_table(result)
    assert "privacy: discrete_laplace, distributed, epsilon=1" in table
    assert "95% within +/-" in table and "sampler exact" in table
    with dpfed.local_client("alice") as alice:
        (org, record) = alice.budgets("raises")
        releases = alice.releases("raises")
    assert (org.dataset, org.unit, str(org.spent.epsilon), str(org.remaining.epsilon)) == (
        "raises@1",
        "organization",
        "1",
        "1",
    )
    assert (record.dataset, record.spent.epsilon) == (
        "raises@1",
        1,
    )  # an organization-level release also protects records
    assert [(r.mechanism, r.placement, r.epsilon, r.period) for r in releases] == [
        ("discrete_laplace", "distributed", "1", "1")
    ]
    assert releases[0].sampler == "exact"


def test_a_round_past_the_budget_is_refused_with_what_remains(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises-b")
    with dpfed.analyst() as analyst:
        analyst.run(_raises_spec("raises-b", 1.5), tuple(RAISES))
        with pytest.raises(PreconditionFailed) as refused:
            analyst.run(_raises_spec("raises-b", 1.0), tuple(RAISES))
    message = str(refused.value)
    assert "privacy budget exhausted" in message
    assert "only epsilon 0.5 and rho 1 remain" in message
    with dpfed.local_client("bob") as bob:
        (org, _) = bob.budgets("raises-b")
    assert (org.spent.epsilon, org.held.epsilon, org.releases) == (1.5, 0, 1)


def test_too_few_parties_for_the_noise_threshold_are_refused(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises-t")
    spec = ComputationSpec(
        "t", Kind.SUM, "raises-t", 0, 10_000, min_parties=3, privacy=_laplace(1.0, threshold=4)
    )
    with dpfed.analyst() as analyst, pytest.raises(InvalidInput, match="threshold t=4 is above"):
        analyst.create(spec, ("alice", "bob", "carlos"))
    # A coordinator that announces too few parties anyway meets each node's own check.
    prepared = PreparedRound(spec, ("alice", "bob", "carlos"))
    with pytest.raises(grpc.RpcError) as refused:
        prepare(dpfed, "alice", prepared, coordinator_tls(dpfed))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "fewer than the t=4 the noise is sized for" in str(refused.value.details())
    with dpfed.local_client("alice") as alice:
        assert all(b.held.epsilon == 0 and b.spent.epsilon == 0 for b in alice.budgets("raises-t"))


def _poll(dataset: str, respondents: int, **policy: object) -> Declaration:
    """A yes/no poll of at most `respondents` people per organization, one answer each."""
    return Declaration(
        dataset,
        Shape.POLL,
        0,
        respondents,
        2,
        bins=("no", "yes"),
        unit=Unit.RECORD,
        record_bound=1,
        policy=ReleasePolicy(**policy),  # type: ignore[arg-type]
    )


def _poll_spec(dataset: str, respondents: int) -> ComputationSpec:
    return ComputationSpec(
        "do you support the merger?",
        Kind.HISTOGRAM,
        dataset,
        0,
        respondents,
        length=2,
        bins=("no", "yes"),
        min_parties=3,
        privacy=Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, 1.0, unit=Unit.RECORD),
    )


def test_randomized_response_poll_of_50_respondents(dpfed: LocalFederation) -> None:
    rng = np.random.default_rng(7)
    answers = {p: (rng.random(10) < 0.4).astype(np.int64) for p in PARTIES}
    truth = int(sum(a.sum() for a in answers.values()))
    # epsilon 1 per respondent costs 10 at organization level (10 respondents, group privacy)
    submit_all(dpfed, "poll", answers, _poll("poll", 10, organization_epsilon_cap=10))
    with dpfed.analyst() as analyst:
        result = analyst.run(_poll_spec("poll", 10))
    p = math.e / (1 + math.e)
    stderr = math.sqrt(50 * p * (1 - p)) / (2 * p - 1)
    assert int(result.outputs["counts"].sum()) == 50
    assert float(result.outputs["stderr"][0]) == pytest.approx(stderr)
    estimate = result.outputs["estimate"]
    assert estimate.sum() == pytest.approx(50)
    assert abs(estimate[1] - truth) < 6 * stderr
    assert result.privacy.mechanism is Mechanism.RANDOMIZED_RESPONSE
    assert result.privacy.noise_scale == pytest.approx(stderr)
    assert "yes" in result_table(result)
    with dpfed.local_client("carlos") as carlos:
        (org, record) = carlos.budgets("poll")
        (release,) = carlos.releases("poll")
    assert (org.dataset, org.spent.epsilon, org.remaining.epsilon) == ("poll@1", 10, 0)
    assert (record.dataset, record.spent.epsilon, record.remaining.epsilon) == ("poll@1", 1, 1)
    assert (release.unit, release.epsilon, release.organization_epsilon) == ("record", "1", "10")


def test_a_poll_whose_organization_cap_is_too_low_is_refused(dpfed: LocalFederation) -> None:
    # Without an organization-level cap of its own, the poll's is the node's epsilon 2:
    # a release that costs 10 respondents x epsilon 1 at organization level does not fit.
    answers = {p: np.array([0, 1, 1, 0, 1, 0, 0, 1, 0, 1]) for p in PARTIES}
    submit_all(dpfed, "poll-tight", answers, _poll("poll-tight", 10))
    with dpfed.analyst() as analyst, pytest.raises(PreconditionFailed) as refused:
        analyst.run(_poll_spec("poll-tight", 10))
    message = refused.value.message
    assert "phase prepare" in message
    assert "privacy budget exhausted on poll-tight@1 (organization level)" in message
    with dpfed.local_client("alice") as alice:
        assert alice.releases("poll-tight") == []
        assert all(b.spent.epsilon == b.held.epsilon == 0 for b in alice.budgets("poll-tight"))


def test_record_level_noise_needs_a_record_level_declaration(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises-r")  # declared per organization: no per-record bound
    spec = _raises_spec("raises-r", 1.0, unit=Unit.RECORD, record_bound=100)
    with dpfed.analyst() as analyst, pytest.raises(PreconditionFailed) as refused:
        analyst.run(spec, tuple(RAISES))
    message = refused.value.message
    assert "does not conform to dataset 'raises-r'" in message
    assert "unit=record needs a dataset declared with a per-record bound" in message


def test_repeated_noisy_counts_have_the_stated_variance(dpfed: LocalFederation) -> None:
    counts = {"alice": 10, "bob": 20, "carlos": 30, "david": 40, "erin": 50}
    # Each organization counts at most 100 records; a record changes its count by 1. A
    # record-level epsilon 1 costs 100 at organization level, so the owner allows that much.
    declared = Declaration(
        "counts",
        Shape.SCALAR,
        0,
        100,
        unit=Unit.RECORD,
        record_bound=1,
        policy=ReleasePolicy(organization_epsilon_cap=100 * REPEATS),
    )
    submit_all(dpfed, "counts", counts, declared)
    spec = ComputationSpec(
        "headcount",
        Kind.COUNT,
        "counts",
        0,
        100,
        min_parties=3,
        privacy=_laplace(1.0, unit=Unit.RECORD),
    )
    noisy = []
    started = time.monotonic()
    with dpfed.analyst() as analyst:
        for _ in range(REPEATS):
            noisy.append(int(analyst.run(spec).outputs["count"][0]))
    print(f"{REPEATS} noisy rounds in {time.monotonic() - started:.1f} s")
    noise = np.array(noisy, dtype=np.float64) - 150
    # each of the 5 nodes adds NB(1/3) - NB(1/3) with a = e^-1: NB(5/3) - NB(5/3) in total
    law = PolyaDifference(5 / 3, 1.0)
    pmf = lattice_pmf(law, 200)
    support = np.arange(-200, 201)
    var = float((pmf * support**2).sum())
    fourth = float((pmf * support**4).sum())
    assert var == pytest.approx(law.variance(), rel=1e-9)
    band = 5 * math.sqrt((fourth - var**2) / REPEATS)  # sd of the sample variance, x5
    assert abs(noise.var(ddof=1) - var) < band
    assert abs(noise.mean()) < 5 * math.sqrt(var / REPEATS)
    with dpfed.local_client("erin") as erin:
        (org, record) = erin.budgets("counts")
    assert (record.dataset, record.spent.epsilon, record.releases) == ("counts@1", REPEATS, REPEATS)
    assert record.remaining.epsilon == 0  # the node's cap for counts: epsilon 300
    assert (org.spent.epsilon, org.releases) == (100 * REPEATS, REPEATS)
    assert org.remaining.epsilon == 0


def test_the_coordinator_never_holds_the_exact_aggregate(dpfed: LocalFederation) -> None:
    rng = np.random.default_rng(11)
    inputs = {p: rng.integers(0, 100, 1000) for p in PARTIES}
    exact = sum(inputs.values())
    submit_all(dpfed, "vectors", inputs, vector("vectors", 1000, 0, 100))
    spec = ComputationSpec(
        "per-branch totals",
        Kind.SUM,
        "vectors",
        0,
        100,
        length=1000,
        min_parties=3,
        privacy=_laplace(2.0),
    )
    with dpfed.analyst() as analyst:
        result = analyst.run(spec)
    # L1 sensitivity 1000 x 100 makes exact Polya draws too slow: the labelled fast path
    assert result.privacy.sampler == "vectorized-aes-ctr"
    published = result.outputs["sum"]
    assert (published != exact).mean() > 0.99
    coordinator = dpfed.root / "coordinator" / "data"
    stored = b"".join(p.read_bytes() for p in coordinator.iterdir() if p.is_file())
    logged = (dpfed.root / "logs" / "coordinator.log").read_bytes()
    for blob in (stored, logged):
        assert exact.astype("<i8").tobytes()[:64] not in blob
        assert exact.astype("<u8").tobytes()[:64] not in blob
    assert published.astype("<i8").tobytes()[:64] in stored  # the noisy result is there


def test_central_noise_follows_the_exact_rule_and_spends_budget(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises-c")
    four, three = tuple(RAISES), tuple(RAISES)[:3]
    central = _raises_spec("raises-c", 0.5, placement=Placement.CENTRAL)
    with dpfed.analyst() as analyst:
        first = analyst.run(central, four)
        again = analyst.run(central, four)  # the same parties: the coordinator learns nothing new
        # The coordinator sees a central-DP aggregate exactly: without david, the difference
        # of two would be david's raise. Distributed noise hides it from everyone.
        with pytest.raises(PreconditionFailed) as refused:
            analyst.run(central, three)
        noisy = analyst.run(_raises_spec("raises-c", 0.5), three)
    assert first.privacy.placement is again.privacy.placement is Placement.CENTRAL
    assert first.privacy.noise_scale > 0
    assert noisy.privacy.placement is Placement.DISTRIBUTED
    message = refused.value.message
    assert "exact release refused by the ledger of raises-c@1" in message
    assert "another participant set" in message
    with dpfed.local_client("alice") as alice:
        (org, record) = alice.budgets("raises-c")
        releases = alice.releases("raises-c")
    assert (org.dataset, org.spent.epsilon, org.releases) == ("raises-c@1", 1.5, 3)
    assert org.remaining.epsilon == 0.5 and record.spent.epsilon == 1.5
    assert [(r.placement, r.participants) for r in releases] == [
        ("central", four),
        ("central", four),
        ("distributed", three),
    ]
    with dpfed.local_client("david") as david:  # david released only the two central rounds
        assert [r.round_id for r in david.releases("raises-c")] == [first.round_id, again.round_id]


@pytest.fixture
def crashfed(tmp_path: Path) -> Iterator[LocalFederation]:
    """Four parties, bob armed to crash right after recording a release."""
    with running_federation(tmp_path, PARTIES[:4]) as fed:
        fed.stop_daemon("bob")
        fed.start_daemon("bob", env={"MPCNODE_FAILPOINT": "after-release-recorded"})
        fed.wait_ready("bob")
        yield fed


def test_a_crash_between_spend_and_release_spends_exactly_once(crashfed: LocalFederation) -> None:
    _submit_raises(crashfed, "raises")
    with crashfed.analyst() as analyst:
        result = analyst.run(_raises_spec("raises", 0.5))
    assert result.participants == ("alice", "carlos", "david")
    assert crashfed.processes["bob"].wait(30) == 86  # it died at the failpoint
    crashfed.processes.pop("bob")
    crashfed.start_daemon("bob")
    crashfed.wait_ready("bob")
    with crashfed.local_client("bob") as bob:
        (org, _) = bob.budgets("raises")
        releases = bob.releases("raises")
    assert (org.spent.epsilon, org.held.epsilon, org.releases) == (0.5, 0, 1)
    assert len(releases) == 1
    with crashfed.local_client("alice") as alice:
        (org, _) = alice.budgets("raises")
    assert org.spent.epsilon == 0.5 * org.releases


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_command_lines_print_and_carry_the_privacy_statement(dpfed: LocalFederation) -> None:
    _submit_raises(dpfed, "raises-cli")
    analyst = dpfed.tls("analyst", "analyst")
    run = [
        "coordinator", "run", "--coordinator", f"127.0.0.1:{dpfed.ports['coordinator']}",
        "--cert", str(analyst.cert), "--key", str(analyst.key), "--ca", str(analyst.ca),
        "--kind", "mean", "--dataset", "raises-cli", "--upper", "10000",
        "--party", "alice", "--party", "bob", "--party", "carlos", "--party", "david",
        "--dp", "discrete_laplace", "--epsilon", "0.5",
    ]  # fmt: skip
    doc = json.loads(_cli(*run, "--json"))
    privacy = doc["privacy"]
    assert (privacy["mechanism"], privacy["placement"], privacy["epsilon"]) == (
        "discrete_laplace",
        "distributed",
        0.5,
    )
    assert privacy["contributors"] == 4 and privacy["sampler"] == "exact"
    assert privacy["noise_scale"] > 0 and privacy["ci95_halfwidth"] > privacy["noise_scale"]
    table = _cli(*run[:-1], "0.25")
    assert "privacy: discrete_laplace, distributed, epsilon=0.25" in table
    hr = dpfed.tls("alice", "alice-hr")
    local = [
        "mpcnode", "budget", "--node", f"127.0.0.1:{dpfed.ports['alice']}", "--party", "alice",
        "--cert", str(hr.cert), "--key", str(hr.key), "--ca", str(hr.ca), "--dataset", "raises-cli",
    ]  # fmt: skip
    line = _cli(*local).splitlines()[0]
    assert line.startswith("raises-cli@1 ")
    assert "per organization" in line
    assert "epsilon spent 0.75 of 2 (remaining 1.25)" in line
    (org, _) = json.loads(_cli(*local, "--json"))
    assert (org["dataset"], org["unit"]) == ("raises-cli@1", "organization")
    assert org["epsilon"] == {"cap": "2", "spent": "3/4", "held": "0", "remaining": "5/4"}
