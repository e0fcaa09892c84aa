"""Prepare latency over many releases of one dataset: the ledger check must stay flat.

Usage: python benchmarks/bench_ledger.py [rounds]   (default 10000)

Drives a real node's round book (`RoundBook` over its SQLite `NodeStore`, no network) through
`rounds` complete rounds on one dataset-period: Prepare (conformance, the exact rule, the
budget hold), the release (the ledger's summary and history, in one transaction), end. Every
other round is a central-DP round (the exact rule and a budget spend; central, so the node
draws no noise and no sampler's time is in the figures) and the others repeat the period's
first exact release. Prints the p50 and p90 Prepare latency
of each tenth of the run and the ratio of the last tenth's p50 to the first's (measured in the
same run, on the same file; the machine is shared, so read the ratio, not the milliseconds).
A check that scanned the history would make that ratio grow with the number of rounds; the
old ledger's tripled over 10,000. Asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode.config import BudgetPolicy, NodePolicy, Roster, RosterEntry
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.privacy import Mechanism, Placement, Privacy
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.sealing import format_seal_key, seal, seal_context
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.node.rounds import RoundBook
from mpcnode.node.store import NodeStore

PARTIES = ("alice", "bob", "carlos")
SEAL_KEYS = {p: x25519.X25519PrivateKey.generate() for p in PARTIES}
DECLARED = Declaration(
    "raises", Shape.SCALAR, 0, 10_000, policy=ReleasePolicy(epsilon_cap=1e6, rho_cap=1e6)
)
EXACT = ComputationSpec("sum", Kind.SUM, "raises", 0, 10_000, min_parties=3)
NOISY = ComputationSpec(
    "dp sum",
    Kind.SUM,
    "raises",
    0,
    10_000,
    min_parties=3,
    # Central: the node draws no noise, so what is timed is the ledger, not a sampler.
    privacy=Privacy(Mechanism.DISCRETE_LAPLACE, Placement.CENTRAL, epsilon=0.01),
)


async def one_round(book: RoundBook, spec: ComputationSpec) -> float:
    """One whole round; returns the seconds its Prepare took."""
    round_id = new_round_id()
    deadline = int((time.time() + 60) * 1000)
    transcript = transcript_hash(round_id, spec, PARTIES, deadline)
    started = time.perf_counter()
    await book.prepare(round_id, transcript, spec, PARTIES, deadline)
    prepared = time.perf_counter() - started
    peers = {  # what the relay hands alice: each peer's seed, sealed to alice's key
        p: seal(
            os.urandom(32), SEAL_KEYS["alice"].public_key(), seal_context(transcript, p, "alice")
        )
        for p in PARTIES
        if p != "alice"
    }
    await book.accept_seeds(round_id, transcript, peers)
    await book.release_partial(round_id, transcript)
    book.end(round_id, "published")
    return prepared


async def run(rounds: int, folder: Path) -> list[float]:
    store = NodeStore(folder)
    store.put_input("raises", np.array([3800], dtype=np.int64), DECLARED)
    roster = Roster(
        party=tuple(
            RosterEntry(
                id=p, address="127.0.0.1:1", seal_key=format_seal_key(SEAL_KEYS[p].public_key())
            )
            for p in PARTIES
        )
    )
    policy = NodePolicy(budget=BudgetPolicy(epsilon=1e6, rho=1e6))
    book = RoundBook("alice", store, policy, roster, SystemRandomSource(), SEAL_KEYS["alice"])
    latencies = []
    for i in range(rounds):
        latencies.append(await one_round(book, NOISY if i % 2 else EXACT))
    releases = len(store.list_releases("raises"))
    store.close()
    print(f"{releases} releases recorded on raises@1")
    return latencies


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        latencies = asyncio.run(run(rounds, Path(tmp)))
    tenth = max(1, rounds // 10)
    windows = [latencies[i : i + tenth] for i in range(0, rounds, tenth)]
    print(f"{'rounds':>15}  {'p50 ms':>8}  {'p90 ms':>8}")
    for index, window in enumerate(windows):
        p50 = statistics.median(window) * 1000
        p90 = statistics.quantiles(window, n=10)[-1] * 1000 if len(window) > 1 else p50
        print(f"{index * tenth:>7}-{index * tenth + len(window):<7}  {p50:8.3f}  {p90:8.3f}")
    ratio = statistics.median(windows[-1]) / statistics.median(windows[0])
    print(f"Prepare p50, last tenth / first tenth: {ratio:.2f}x (flat is about 1)")


if __name__ == "__main__":
    main()
