"""A computation's events: made, stored by the caller, announced, and streamed to watchers.

Every stored event bumps its computation's version under a condition. A watcher reads the
version before it reads the events, so an event stored while it reads (or while it sends what
it read) wakes its next wait at once: no wake-up is missed and none waits for a poll. Versions
are per computation, so 50 watchers of 50 computations do not each re-read their events on
every other computation's event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from coordinator.records import TERMINAL_STATES
from coordinator.store import Computation, CoordinatorStore, Event

log = logging.getLogger(__name__)
_WATCH_POLL_S = 5.0  # a safety net only: every stored event wakes the watchers


class EventFeed:
    """Events of every computation, and the watchers waiting for the next one."""

    def __init__(self, store: CoordinatorStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._changed = asyncio.Condition()
        # Bumped by every stored event of a computation: a watcher compares, never misses.
        # An entry lives while its computation runs (dropped with its terminal event).
        self._versions: dict[str, int] = {}

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
            if event.state in ("published", "failed"):
                self._versions.pop(cid, None)  # a watcher that reads next sees the end
            else:
                self._versions[cid] = self._versions.get(cid, 0) + 1
            self._changed.notify_all()

    async def watch(self, cid: str) -> AsyncIterator[Event]:
        """Every event of a computation from the first, until it is published or failed.

        The version is read before the events are, so an event stored while they are read
        (or sent) wakes the next wait at once: no wake-up is missed, and none waits for a poll.
        """
        comp = await asyncio.to_thread(self._store.get, cid)  # NotFound for an unknown id
        seq = 0
        while True:
            seen = self._versions.get(cid, -1)
            events = await asyncio.to_thread(self._store.events_after, cid, seq)
            for event in events:
                seq = event.seq
                yield event
            if events and events[-1].state in TERMINAL_STATES:
                return
            if comp.state in TERMINAL_STATES and not events:  # its events were pruned
                yield _ended(comp, seq + 1)
                return
            await self._changed_since(cid, seen)

    async def _changed_since(self, cid: str, seen: int) -> None:
        """Return once an event of `cid` is stored after version `seen` (or a safety timeout)."""

        def changed() -> bool:
            return self._versions.get(cid, -1) != seen

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(changed), _WATCH_POLL_S)


def _ended(comp: Computation, seq: int) -> Event:
    """The terminal event of a computation whose events retention deleted."""
    return Event(
        seq,
        b"",
        comp.attempts,
        comp.state,
        comp.state,
        comp.participants,
        "",
        comp.reason or comp.state,
        comp.updated_ms,
    )
