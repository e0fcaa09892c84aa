"""Every comparison kind through the analyst API on real daemons, and its failure modes.

Four organizations opt in to the comparison kinds; each test uses datasets of its own, so
every ledger starts empty. The published outputs are checked against the cleartext answer,
and each result states its threat model and what it revealed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from integration_helpers import running_federation, scalar, submit_all

from mpcnode.config import EVERY_KIND
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.privacy import Mechanism, Privacy
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration
PARTIES = ("alice", "bob", "carlos", "david")
KINDS = list(EVERY_KIND)
VALUES = {"alice": 7_250, "bob": 1_900, "carlos": 7_250, "david": 4_400}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Four nodes that allow every kind."""
    root = tmp_path_factory.mktemp("comparisons")
    with running_federation(root, PARTIES, policy={"allowed_kinds": KINDS}) as federation:
        yield federation


def _spec(kind: Kind, dataset: str, upper: float = 10_000, **more: object) -> ComputationSpec:
    return ComputationSpec(
        f"{kind.value} of {dataset}",
        kind,
        dataset,
        0,
        upper,
        min_parties=3,
        **more,  # type: ignore[arg-type]
    )


def _submit(fed: LocalFederation, dataset: str, values: dict[str, int] = VALUES) -> None:
    submit_all(fed, dataset, {p: [v] for p, v in values.items()}, scalar(dataset))


def test_max_and_min_name_the_holder_with_ties_to_the_first_party(fed: LocalFederation) -> None:
    _submit(fed, "cmp-max")
    _submit(fed, "cmp-min")
    with fed.analyst() as analyst:
        top = analyst.run(_spec(Kind.MAX, "cmp-max"))
        low = analyst.run(_spec(Kind.MIN, "cmp-min"))
    assert top.outputs["max"].tolist() == [7_250]
    assert top.party("argmax") == "alice"  # alice and carlos tie: the first party wins
    assert low.outputs["min"].tolist() == [1_900] and low.party("argmin") == "bob"
    assert top.threat_model.startswith("honest majority, passive, t = 1 of 4 parties")
    assert "nothing else" in top.revealed
    assert set(top.outputs) == {"max", "argmax"}


def test_median_and_quantile(fed: LocalFederation) -> None:
    _submit(fed, "cmp-median")
    _submit(fed, "cmp-q")
    with fed.analyst() as analyst:
        median = analyst.run(
            _spec(
                Kind.QUANTILE, "cmp-median", comparison=ComparisonOptions(quantile=Fraction(1, 2))
            )
        )
        q75 = analyst.run(
            _spec(Kind.QUANTILE, "cmp-q", comparison=ComparisonOptions(quantile=Fraction(3, 4)))
        )
    ordered = sorted(VALUES.values())
    assert median.outputs["quantile"].tolist() == [ordered[1]]  # the lower median of four
    assert q75.outputs["quantile"].tolist() == [ordered[2]]
    assert set(median.outputs) == {"quantile"}


def test_threshold_absolute_and_fraction_and_noisy(fed: LocalFederation) -> None:
    total = sum(VALUES.values())
    for name in ("cmp-at", "cmp-above"):
        _submit(fed, name)
    votes = {"alice": 1, "bob": 0, "carlos": 1, "david": 0}
    submit_all(fed, "cmp-votes", {p: [v] for p, v in votes.items()}, scalar("cmp-votes", 1))
    noisy_decl = scalar("cmp-noisy", 1, policy=ReleasePolicy(epsilon_cap=20))
    submit_all(fed, "cmp-noisy", {p: [1] for p in PARTIES}, noisy_decl)
    with fed.analyst() as analyst:
        at = analyst.run(
            _spec(Kind.THRESHOLD, "cmp-at", comparison=ComparisonOptions(at_least=Fraction(total)))
        )
        above = analyst.run(
            _spec(
                Kind.THRESHOLD,
                "cmp-above",
                comparison=ComparisonOptions(at_least=Fraction(total + 1)),
            )
        )
        half = analyst.run(
            _spec(
                Kind.THRESHOLD,
                "cmp-votes",
                1,
                comparison=ComparisonOptions(at_least=Fraction(1, 2), of_participants=True),
            )
        )
        noisy = analyst.run(
            _spec(
                Kind.THRESHOLD,
                "cmp-noisy",
                1,
                privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=8.0),
                comparison=ComparisonOptions(at_least=Fraction(1, 4), of_participants=True),
            )
        )
    assert at.outputs["yes"].tolist() == [1] and above.outputs["yes"].tolist() == [0]
    assert half.outputs["yes"].tolist() == [1]  # 2 of 4 is at least half
    assert set(at.outputs) == {"yes"}
    # Noise of scale 1/8 on a sum of 4 against 1: YES but for a tail of about e^-24.
    assert noisy.outputs["yes"].tolist() == [1]
    assert noisy.mechanism == "discrete_laplace"
    with fed.local_client("alice") as alice:
        spent = [b for b in alice.budgets() if b.dataset.startswith("cmp-noisy")]
    assert spent and float(spent[0].spent.epsilon) == pytest.approx(8.0)


def test_noisy_histogram_winner_only(fed: LocalFederation) -> None:
    bins = ("pizza", "sushi", "tacos")
    decl = Declaration(
        "cmp-lunch", Shape.VOTE, 0, 1, length=3, bins=bins, policy=ReleasePolicy(epsilon_cap=20)
    )
    ballots = {"alice": [0, 1, 0], "bob": [0, 1, 0], "carlos": [1, 0, 0], "david": [0, 1, 0]}
    submit_all(fed, "cmp-lunch", ballots, decl)
    spec = ComputationSpec(
        "lunch winner", Kind.HISTOGRAM, "cmp-lunch", 0, 1, length=3, bins=bins, min_parties=3,
        privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=10.0),
        comparison=ComparisonOptions(winner_only=True),
    )  # fmt: skip
    with fed.analyst() as analyst:
        result = analyst.run(spec)
    assert set(result.outputs) == {"winner"}  # no count, noisy or not
    assert bins[int(result.outputs["winner"][0])] == "sushi"
    assert "report-noisy-max" in result.revealed


def test_dominance_suppresses_or_publishes(fed: LocalFederation) -> None:
    losses = {"alice": 9_500, "bob": 20, "carlos": 35, "david": 12}
    spread = {"alice": 2_000, "bob": 3_000, "carlos": 2_500, "david": 1_500}
    _submit(fed, "cmp-losses", losses)
    _submit(fed, "cmp-spread", spread)
    _submit(fed, "cmp-top2", spread)
    dominance = ComparisonOptions(suppress_dominant=Fraction(4, 5))
    with fed.analyst() as analyst:
        suppressed = analyst.run(_spec(Kind.SUM, "cmp-losses", comparison=dominance))
        kept = analyst.run(_spec(Kind.MEAN, "cmp-spread", comparison=dominance))
        top2 = analyst.run(
            _spec(
                Kind.SUM,
                "cmp-top2",
                comparison=ComparisonOptions(suppress_dominant=Fraction(1, 2), dominant_top=2),
            )
        )
    assert suppressed.outputs == {"suppressed": np.array([1])}
    assert kept.outputs["suppressed"].tolist() == [0]
    assert kept.outputs["sum"].tolist() == [9_000] and kept.outputs["mean"].tolist() == [2_250]
    assert top2.outputs["suppressed"].tolist() == [1]  # 3000 + 2500 > 4500


def test_the_coordinator_refuses_what_no_node_could_run(fed: LocalFederation) -> None:
    with fed.analyst() as analyst:
        with pytest.raises(InvalidInput, match="at least 3 parties"):
            analyst.create(_spec(Kind.MAX, "cmp-two"), ("alice", "bob"))
        with pytest.raises(InvalidInput, match="not available"):
            analyst.create(
                _spec(Kind.MAX, "cmp-dp", privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0))
            )


def test_a_node_that_did_not_opt_in_refuses(tmp_path: Path) -> None:
    with running_federation(tmp_path / "fed", PARTIES) as default:
        _submit(default, "cmp-optin")
        with default.analyst() as analyst, pytest.raises(PreconditionFailed, match="allowed_kinds"):
            analyst.run(_spec(Kind.MAX, "cmp-optin"))


def test_cli_auction_json_states_what_was_revealed(fed: LocalFederation) -> None:
    bids = {"alice": 120, "bob": 150, "carlos": 135, "david": 110}
    submit_all(fed, "cmp-bids", {p: [v] for p, v in bids.items()}, scalar("cmp-bids", 1000))
    tls = fed.tls("analyst", "analyst")
    done = subprocess.run(
        [
            sys.executable, "-m", "coordinator", "run",
            "--coordinator", f"127.0.0.1:{fed.ports['coordinator']}",
            "--cert", str(tls.cert), "--key", str(tls.key), "--ca", str(tls.ca),
            "--kind", "auction", "--price", "second", "--dataset", "cmp-bids", "--upper", "1000",
            "--json",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["published"] == {"winner": "bob", "price": 135}
    assert "not the winner's own bid" in doc["revealed"]
    assert doc["threat_model"].startswith("honest majority, passive, t = 1 of 4")
    # Ids and timestamps are random digits; the losing and winning bids must appear nowhere
    # else: not in the outputs, the statement or what it says it revealed.
    shown = {k: v for k, v in doc.items() if k not in ("computation_id", "round_id")}
    shown.pop("published_unix_ms", None)
    text = json.dumps(shown)
    assert "150" not in text and "120" not in text


def test_a_node_dying_mid_computation_fails_it_and_spends_its_release_once(
    tmp_path: Path,
) -> None:
    doomed = {"bob": {"MPCNODE_FAILPOINT": "mid-steps"}}
    kinds = {"allowed_kinds": KINDS}
    with running_federation(tmp_path / "fed", PARTIES, daemon_env=doomed, policy=kinds) as fed:
        _submit(fed, "cmp-dies")
        with fed.analyst() as analyst:
            cid = analyst.create(_spec(Kind.MAX, "cmp-dies"))
            events = list(analyst.watch(cid, timeout=120))
            info = analyst.status(cid)
        with fed.local_client("alice") as alice:
            releases = alice.releases("cmp-dies")
    aborted = [e for e in events if e.phase == "aborted"]
    assert aborted and aborted[0].party == "bob" and "compute" in aborted[0].message
    # The others released in the aborted round (step 1), so a retry without bob would be an
    # exact release over another participant set: their ledgers refuse it, and nothing is
    # published.
    assert info.state == "failed", info.reason
    assert len(releases) == 1 and "bob" in releases[0].participants
