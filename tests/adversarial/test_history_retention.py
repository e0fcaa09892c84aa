"""Pruning a node's release history never loosens its ledger (issue 10, item 7).

The attack: an organization prunes its audit trail; if a rule read the trail, a differencing
round that the ledger refused before the prune would be accepted after it.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from in_process import ABC, LAPLACE, PARTIES, RAISES, book_of, held, prepare, release, spec_of

from mpcnode.core.accounting import Cost
from mpcnode.errors import PreconditionFailed
from mpcnode.node.store import NodeStore

CAPS = {"organization": Cost(10, 10), "record": Cost(10, 10)}


def test_pruned_history_keeps_every_rule(store: NodeStore) -> None:
    store.put_input("raises", np.array([3800]), RAISES)
    book = book_of(store)
    asyncio.run(
        release(book, asyncio.run(prepare(book, spec_of(RAISES), PARTIES)))
    )  # the exact release
    asyncio.run(release(book, asyncio.run(prepare(book, spec_of(RAISES, privacy=LAPLACE)))))
    budgets_before = store.budgets(lambda _: CAPS, "")
    assert len(store.list_releases("raises")) == 2
    assert store.prune_history(int(time.time() * 1000) + 1000) == 2
    assert store.list_releases("raises") == []
    budgets_after = store.budgets(lambda _: CAPS, "")
    assert budgets_after == budgets_before  # spent, releases: from the summaries
    with pytest.raises(PreconditionFailed, match="exact release refused"):
        asyncio.run(prepare(book, spec_of(RAISES), ABC))  # differencing david out: refused
    assert held(store, "raises") == 0
