"""The coordinator's event feed: a watcher gets every event as soon as it is stored.

No timing is measured: the feed's safety poll is set to an hour, so a missed wake-up would
show as a watcher that never gets its event (the test waits 10 s for it, then fails).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from coordinator import feed as feed_module
from coordinator.feed import EventFeed
from coordinator.store import CoordinatorStore
from mpcnode.core.spec import ComputationSpec, Kind

SPEC = ComputationSpec("s", Kind.SUM, "raises", 0, 10)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = CoordinatorStore(tmp_path)
    s.create("c1", SPEC, ("alice", "bob"))
    yield s
    s.close()


def _feed(store: CoordinatorStore, monkeypatch: pytest.MonkeyPatch) -> EventFeed:
    monkeypatch.setattr(feed_module, "_WATCH_POLL_S", 3600.0)
    return EventFeed(store, clock=lambda: 1_700_000_000.0)


async def _add(feed: EventFeed, store: CoordinatorStore, phase: str, state: str) -> None:
    event = feed.new(b"", 1, phase, state, ("alice", "bob"), "", phase)
    await asyncio.to_thread(store.add_event, "c1", event)
    await feed.announce("c1", event)


def test_a_waiting_watcher_gets_each_event_once_stored(
    store: CoordinatorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = _feed(store, monkeypatch)

    async def scenario() -> list[str]:
        seen: list[str] = []
        watcher = feed.watch("c1")
        await _add(feed, store, "created", "pending")
        seen.append((await asyncio.wait_for(anext(watcher), 10)).phase)
        for phase in ("prepare", "share", "partial"):
            waiting = asyncio.ensure_future(anext(watcher))
            await asyncio.sleep(0.05)  # the watcher is now waiting for the next event
            await _add(feed, store, phase, "running")
            seen.append((await asyncio.wait_for(waiting, 10)).phase)
        await _add(feed, store, "published", "published")
        seen.append((await asyncio.wait_for(anext(watcher), 10)).phase)
        with pytest.raises(StopAsyncIteration):
            await anext(watcher)
        return seen

    assert asyncio.run(scenario()) == ["created", "prepare", "share", "partial", "published"]


def test_an_event_stored_while_the_watcher_reads_is_not_missed(
    store: CoordinatorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old race: an event stored and announced after the watcher read the events but
    before it began to wait woke nobody, and reached the watcher only at the next poll."""
    feed = _feed(store, monkeypatch)
    real = store.events_after
    injected = asyncio.Event()

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()

        def events_after(cid: str, seq: int) -> Any:
            found = real(cid, seq)
            if not injected.is_set():  # after the watcher's query ran, before it waits:
                loop.call_soon_threadsafe(injected.set)
                event = feed.new(b"", 1, "prepare", "running", ("alice", "bob"), "", "prepare")
                store.add_event("c1", event)  # stored, and announced to nobody waiting yet
                asyncio.run_coroutine_threadsafe(feed.announce("c1", event), loop).result(10)
            return found

        monkeypatch.setattr(store, "events_after", events_after)
        await _add(feed, store, "created", "pending")
        watcher = feed.watch("c1")
        first = await asyncio.wait_for(anext(watcher), 10)
        second = await asyncio.wait_for(anext(watcher), 10)  # an hour, if it were missed
        return [first.phase, second.phase]

    assert asyncio.run(scenario()) == ["created", "prepare"]
