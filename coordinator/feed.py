"""A computation's events: made, stored by the caller, announced, and streamed to watchers.

Every stored event bumps a version under a condition. A watcher reads the version before it
reads the events, so an event stored while it reads (or while it sends what it read) wakes its
next wait at once: no wake-up is missed and none waits for a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from coordinator.store import CoordinatorStore, Event

log = logging.getLogger(__name__)
_WATCH_POLL_S = 5.0  # a safety net only: every stored event wakes the watchers


class EventFeed:
    """Events of every computation, and the watchers waiting for the next one."""

    def __init__(self, store: CoordinatorStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._changed = asyncio.Condition()
        self._version = 0  # bumped by every stored event: a watcher compares, never misses

    def new(
        self,
        round_id: bytes,
        attempt: int,
        phase: str,
        state: str,
        participants: tuple[str, ...],
        party: str,
        message: str,
    ) -> Event:
        """An event stamped now, numbered when the store appends it."""
        now = int(self._clock() * 1000)
        return Event(0, round_id, attempt, phase, state, participants, party, message, now)

    async def announce(self, cid: str, event: Event) -> None:
        """Log an event already stored and wake every watcher (an abort as a WARNING)."""
        level = logging.WARNING if event.phase == "aborted" else logging.INFO
        log.log(level, "computation %s: %s", cid, event.message)
        async with self._changed:
            self._version += 1
            self._changed.notify_all()

    async def watch(self, cid: str) -> AsyncIterator[Event]:
        """Every event of a computation from the first, until it is published or failed.

        The version is read before the events are, so an event stored while they are read
        (or sent) wakes the next wait at once: no wake-up is missed, and none waits for a poll.
        """
        await asyncio.to_thread(self._store.get, cid)  # NotFound for an unknown id
        seq = 0
        while True:
            seen = self._version
            events = await asyncio.to_thread(self._store.events_after, cid, seq)
            for event in events:
                seq = event.seq
                yield event
            if events and events[-1].state in ("published", "failed"):
                return
            await self._changed_since(seen)

    async def _changed_since(self, seen: int) -> None:
        """Return once an event is stored after version `seen` (or after a safety timeout)."""

        def changed() -> bool:
            return self._version != seen

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(changed), _WATCH_POLL_S)
