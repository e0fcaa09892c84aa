"""Pruning a node's release history never loosens its ledger (issue 10, item 7).

The attack: an organization prunes its audit trail; if a rule read the trail, a differencing
round that the ledger refused before the prune would be accepted after it.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from in_process import ABC, LAPLACE, PARTIES, RAISES, book_of, held, seeds_for, spec_of

from mpcnode.core.accounting import Cost
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.errors import PreconditionFailed
from mpcnode.node.rounds import NodeRound, RoundBook
from mpcnode.node.store import NodeStore

CAPS = {"organization": Cost(10, 10), "record": Cost(10, 10)}


async def _prepare(book: RoundBook, participants: tuple[str, ...], **fields: object) -> NodeRound:
    spec = spec_of(RAISES, **fields)
    round_id, deadline = new_round_id(), int((time.time() + 60) * 1000)
    transcript = transcript_hash(round_id, spec, participants, deadline)
    return await book.prepare(round_id, transcript, spec, participants, deadline)


async def _release(book: RoundBook, state: NodeRound) -> None:
    await book.accept_seeds(state.round_id, state.transcript, seeds_for(state))
    await book.release_partial(state.round_id, state.transcript)
    book.end(state.round_id, "published")


def test_pruned_history_keeps_every_rule(store: NodeStore) -> None:
    store.put_input("raises", np.array([3800]), RAISES)
    book = book_of(store)
    asyncio.run(_release(book, asyncio.run(_prepare(book, PARTIES))))  # the exact release
    asyncio.run(_release(book, asyncio.run(_prepare(book, ABC, privacy=LAPLACE))))
    budgets_before = store.budgets(lambda _: CAPS, "")
    assert len(store.list_releases("raises")) == 2
    assert store.prune_history(int(time.time() * 1000) + 1000) == 2
    assert store.list_releases("raises") == []
    budgets_after = store.budgets(lambda _: CAPS, "")
    assert budgets_after == budgets_before  # spent, releases: from the summaries
    with pytest.raises(PreconditionFailed, match="exact release refused"):
        asyncio.run(_prepare(book, ABC))  # differencing david out is still refused
    assert held(store, "raises") == 0
