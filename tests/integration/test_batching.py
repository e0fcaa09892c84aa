"""Many computations at once on real daemons: their calls travel in batches, and nothing else
changes (issue 10, item 9).

The coordinator sends the calls of small rounds that queue for a node as one
RoundControl.Batch. These tests run computations concurrently and check what a user would:
every computation gets its own correct result, every node records one release per
computation, a node stalled under load is blamed alone in every computation it stalls, and
the coordinator's metrics show that batches were in fact sent.
"""

from __future__ import annotations

import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from integration_helpers import running_federation, scalar, submit_all, vector

from mpcnode.client import Result
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration

PARTIES = ("alice", "bob", "carlos", "david")
RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}
LONG = 5000  # past a batch's 4,096 elements: streamed, beside the batched rounds


def _metric(fed: LocalFederation, name: str) -> float:
    url = f"http://127.0.0.1:{fed.metrics_ports['coordinator']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in the coordinator's metrics"
    return float(match.group(1))


def _run_all(fed: LocalFederation, specs: list[ComputationSpec]) -> list[Result]:
    def one(spec: ComputationSpec) -> Result:
        with fed.analyst() as analyst:
            return analyst.run(spec, timeout=120)

    with ThreadPoolExecutor(len(specs)) as pool:
        return list(pool.map(one, specs))


def test_concurrent_computations_are_batched_and_each_gets_its_own_result(
    tmp_path: Path,
) -> None:
    with running_federation(tmp_path / "fed", PARTIES, metrics=True) as fed:
        submit_all(fed, "raises", RAISES, scalar("raises"))
        long = {p: np.full(LONG, i + 1, dtype=np.int64) for i, p in enumerate(PARTIES)}
        submit_all(fed, "long", long, vector("long", LONG, 0, 10))
        sums = [
            ComputationSpec(f"sum {i}", Kind.SUM, "raises", 0, 10_000, min_parties=3)
            for i in range(16)
        ]
        means = [
            ComputationSpec(f"mean {i}", Kind.MEAN, "raises", 0, 10_000, min_parties=3)
            for i in range(6)
        ]
        streamed = [
            ComputationSpec(f"long {i}", Kind.SUM, "long", 0, 10, length=LONG, min_parties=3)
            for i in range(2)
        ]
        results = _run_all(fed, sums + means + streamed)
        calls = _metric(fed, "mpc_round_calls_per_message_sum")
        messages = _metric(fed, "mpc_round_calls_per_message_count")
        releases = {}
        for party in PARTIES:
            with fed.local_client(party) as node:
                releases[party] = len(node.releases("raises"))
    total = sum(RAISES.values())
    for spec, result in zip(sums + means + streamed, results, strict=True):
        assert result.spec.name == spec.name and result.participants == PARTIES
        if spec.dataset == "long":
            assert result.outputs["sum"].tolist() == [1 + 2 + 3 + 4] * LONG
        elif spec.kind is Kind.SUM:
            assert result.outputs["sum"].tolist() == [total]
        else:
            assert result.outputs["mean"].tolist() == [total / 4]
    assert releases == {p: len(sums) + len(means) for p in PARTIES}  # one per computation
    # 22 small computations, 12 calls each (4 nodes x Prepare, Share, CollectPartial), and
    # the Shares of the 2 long ones (a Share's size does not grow with the vector).
    assert calls == 22 * 12 + 2 * 4
    assert messages < calls, "no call of 22 concurrent computations travelled in a batch"


def test_a_node_stalled_under_load_is_blamed_alone_in_every_computation(
    tmp_path: Path,
) -> None:
    """bob stops (SIGSTOP) in the first Share he serves, with the calls of other computations
    queued behind it or in the same batch: each of them times out on bob alone and is
    retried without him."""
    stalled = {"bob": {"MPCNODE_FAILPOINT": "stall-before-share"}}
    rounds = {"share_timeout_seconds": 2.0, "prepare_timeout_seconds": 2.0}
    with running_federation(tmp_path / "fed", PARTIES, rounds=rounds, daemon_env=stalled) as fed:
        submit_all(fed, "raises", RAISES, scalar("raises"))
        specs = [
            ComputationSpec(f"under load {i}", Kind.SUM, "raises", 0, 10_000, min_parties=3)
            for i in range(8)
        ]
        results = _run_all(fed, specs)
        assert fed.processes["bob"].poll() is None  # stalled, not dead
    for result in results:
        assert result.participants == ("alice", "carlos", "david")
        assert [party for party, _ in result.dropped] == ["bob"]
        assert result.outputs["sum"].tolist() == [RAISES["alice"] + RAISES["carlos"] + 3390]
