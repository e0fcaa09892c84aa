"""End-to-end aggregates on real daemons: the seed example, a large real vector, a vote."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from integration_helpers import scalar, submit_all, vector

from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration

RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}


def test_seed_example_sum_and_mean_are_exact(fed4: LocalFederation) -> None:
    # Sum and mean are one node-side function: the same four parties may run both over one
    # dataset, and the ledger records two releases of the same computation.
    submit_all(fed4, "seed", RAISES, scalar("seed", upper=10_000))
    with fed4.analyst() as analyst:
        total = analyst.run(
            ComputationSpec(
                name="sum of raises",
                kind=Kind.SUM,
                dataset="seed",
                lower=0,
                upper=10_000,
                min_parties=3,
            )
        )
        mean = analyst.run(
            ComputationSpec(
                name="mean of raises",
                kind=Kind.MEAN,
                dataset="seed",
                lower=0,
                upper=10_000,
                min_parties=3,
            )
        )
    assert total.participants == ("alice", "bob", "carlos", "david")
    assert total.outputs["sum"].dtype == np.int64
    assert total.outputs["sum"].tolist() == [12686]
    assert mean.outputs["sum"].tolist() == [12686]
    assert mean.outputs["mean"].tolist() == [3171.5]
    assert total.mechanism == "none"
    with fed4.local_client("carlos") as carlos:
        releases = carlos.releases("seed")
    assert [r.round_id for r in releases] == [total.round_id, mean.round_id]
    assert {(r.period, r.function, r.placement) for r in releases} == {
        ("1", releases[0].function, "none")
    }


def test_demo_command_prints_the_seed_results() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mpcnode", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12686" in done.stdout
    assert "3171.5" in done.stdout


def test_vector_of_100k_reals_matches_numpy(fed4: LocalFederation) -> None:
    parties = ("alice", "bob", "carlos", "david")
    length, bits = 100_000, 16
    values = np.random.default_rng(20240611).uniform(-1000.0, 1000.0, size=(len(parties), length))
    declared = vector("reals-100k", length, -1000, 1000, fractional_bits=bits)
    submit_all(fed4, "reals-100k", dict(zip(parties, values, strict=True)), declared)
    spec = ComputationSpec(
        name="sum of reals",
        kind=Kind.SUM,
        dataset="reals-100k",
        lower=-1000,
        upper=1000,
        length=length,
        fractional_bits=bits,
        min_parties=4,
    )
    with fed4.analyst() as analyst:
        result = analyst.run(spec)
    got = result.outputs["sum"]
    assert got.shape == (length,)
    assert got.dtype == np.float64
    # Each party's value is rounded to a multiple of 2^-16, an error of at most 2^-17.
    error = np.abs(got - values.sum(axis=0))
    assert float(error.max()) <= len(parties) * 2.0**-17
    # The aggregate of the encodings is exact: the sum of round(v * 2^f), divided by 2^f.
    exact = np.rint(np.ldexp(values, bits)).astype(np.int64).sum(axis=0)
    np.testing.assert_array_equal(got, np.ldexp(exact.astype(np.float64), -bits))


def test_three_option_vote_among_five_parties(fed5: LocalFederation) -> None:
    bins = ("north", "south", "east")
    votes = {"alice": 0, "bob": 2, "carlos": 0, "david": 1, "erin": 0}
    one_hot = {party: np.eye(len(bins), dtype=np.int64)[choice] for party, choice in votes.items()}
    declared = Declaration("office-vote", Shape.VOTE, 0, 1, len(bins), bins=bins)
    submit_all(fed5, "office-vote", one_hot, declared)
    spec = ComputationSpec(
        name="where to open the office",
        kind=Kind.HISTOGRAM,
        dataset="office-vote",
        lower=0,
        upper=1,
        length=len(bins),
        bins=bins,
        min_parties=5,
    )
    with fed5.analyst() as analyst:
        result = analyst.run(spec)
    assert result.participants == ("alice", "bob", "carlos", "david", "erin")
    assert result.spec.bins == bins
    assert result.outputs["counts"].dtype == np.int64
    assert result.outputs["counts"].tolist() == [3, 1, 1]
