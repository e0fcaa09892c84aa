"""The coordinator's round state machine (DESIGN 4.1), persisted at every transition.

    create -> [round: prepare -> share -> partial -> published]
                         \\--------\\---------\\--> aborted --(retry without unreachable
                                                             parties, if min_parties holds)

Prepare's replies carry each node's seeds, sealed to their recipients' roster keys; Share
relays them, unopened, and each node answers with the receipts of the seeds it opened: a
node that is down, stalled, or does not hold its party's seal key fails the round here,
before anyone released a partial. CollectPartial then streams the partials, which the
coordinator adds into one total as they arrive (DESIGN 4.2: it never holds a share it can
read, nor n partial vectors).

A computation runs up to `max_attempts` rounds. Each round has a fresh 128-bit id, a fresh
deadline and transcript; shares of two rounds never mix because nodes key everything by
round id and transcript hash. Only unreachable parties are dropped for a retry: a refusal
(policy, bounds, reuse) fails the computation with the refusing party and its reason,
since retrying without it would silently change what is computed for a policy reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from coordinator.config import RoundSettings
from coordinator.feed import EventFeed
from coordinator.metrics import CoordinatorMetrics
from coordinator.nodes import NodeGateway
from coordinator.outputs import outputs_for
from coordinator.reasons import failure_reason
from coordinator.relay import route
from coordinator.round_failure import RoundFailure
from coordinator.stepping import run_steps
from coordinator.store import Computation, CoordinatorStore, Event, Output
from mpcnode import failpoints
from mpcnode.api.v1 import types_pb2
from mpcnode.config import Roster
from mpcnode.core.comparison_options import MIN_PARTIES
from mpcnode.core.mechanisms import draw_noise, plan_noise
from mpcnode.core.privacy import Placement
from mpcnode.core.randomness import RandomSource, SystemRandomSource, UniformInts
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.core.vector_samplers import VectorNoise
from mpcnode.errors import InvalidInput, MpcError, PreconditionFailed, shown
from mpcnode.log_context import bind
from mpcnode.protocols.plan import check_fits

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Sequencer:
    """Runs computations: creates them, drives their rounds, resumes them after a restart."""

    def __init__(
        self,
        store: CoordinatorStore,
        gateway: NodeGateway,
        roster: Roster,
        settings: RoundSettings,
        clock: Callable[[], float] = time.time,
        rng: RandomSource | None = None,
        metrics: CoordinatorMetrics | None = None,
    ) -> None:
        self._store = store
        self._rng = rng or SystemRandomSource()
        self._gateway = gateway
        self._roster = roster
        self._settings = settings
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._feed = EventFeed(store, clock)
        self._metrics = metrics or CoordinatorMetrics()

    @property
    def parties(self) -> tuple[str, ...]:
        """The roster's party ids: whom a computation that names none invites."""
        return self._roster.ids

    async def create(self, spec: ComputationSpec, parties: tuple[str, ...]) -> str:
        """Validate a computation (spec, overflow, parties, min_parties) and start it."""
        invited = parties or self._roster.ids
        unknown = [p for p in invited if self._roster.get(p) is None]
        if unknown:
            raise InvalidInput(
                "not on the coordinator's roster: " + ", ".join(shown(p) for p in unknown[:5])
            )
        if len(set(invited)) != len(invited):
            raise InvalidInput("a party is invited twice")
        spec.check(max(len(invited), 2))
        if spec.multi_step:
            check_fits(spec, len(invited))
        plan = plan_noise(spec, len(invited))  # the noise must fit the ring too
        if plan is not None and plan.distributed and plan.threshold > len(invited):
            raise InvalidInput(
                f"spec.privacy.threshold t={plan.threshold} is above the {len(invited)} parties "
                "invited; the noise could never be complete"
            )
        if len(invited) < spec.min_parties:
            raise PreconditionFailed(
                f"{len(invited)} parties invited ({', '.join(invited)}) but the spec needs "
                f"min_parties = {spec.min_parties}"
            )
        cid = uuid.uuid4().hex
        await asyncio.to_thread(self._store.create, cid, spec, tuple(invited))
        event = self._feed.new(b"", 0, "created", "pending", tuple(invited), "", "created")
        await asyncio.to_thread(self._store.add_event, cid, event)
        await self._feed.announce(cid, event)
        self._spawn(cid)
        return cid

    def _spawn(self, cid: str) -> None:
        task = asyncio.create_task(self._run(cid), name=f"computation {cid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def recover(self) -> None:
        """After a restart: abort every interrupted round, then resume its computation."""
        for comp in await asyncio.to_thread(self._store.unfinished):
            rounds = await asyncio.to_thread(self._store.interrupted_rounds, comp.id)
            for round_id, participants, phase in rounds:
                reason = (
                    f"round {round_id.hex()[:8]} aborted: the coordinator restarted "
                    f"during phase {phase}"
                )
                event = self._feed.new(
                    round_id, comp.attempts, "aborted", "running", participants, "", reason
                )
                await asyncio.to_thread(
                    self._store.set_phase, round_id, "aborted", reason, (comp.id, event)
                )
                await self._feed.announce(comp.id, event)
                self._notify_in_background(
                    participants, types_pb2.RoundHeader(round_id=round_id), reason
                )
            log.info("resuming computation %s after restart", comp.id)
            self._spawn(comp.id)

    async def _run(self, cid: str) -> None:
        bind(computation_id=cid)  # this task's log lines, and its rounds' calls
        self._metrics.in_flight.inc()
        try:
            await self._drive(cid)
        finally:
            self._metrics.in_flight.dec()

    async def _drive(self, cid: str) -> None:
        comp = await asyncio.to_thread(self._store.get, cid)
        participants = comp.participants or comp.parties
        attempt = comp.attempts
        while True:
            if attempt >= self._settings.max_attempts:  # rounds cut short by restarts count
                return await self._fail(
                    cid,
                    participants,
                    f"gave up after {attempt} rounds, the last interrupted by a coordinator "
                    "restart",
                )
            attempt += 1
            try:
                await self._round(comp, attempt, participants)
                return
            except RoundFailure as failure:
                participants = tuple(p for p in participants if p not in failure.errors)
                if failure.retryable:  # the result will say who was left out, and why
                    await asyncio.to_thread(self._store.drop_parties, cid, failure.dropped())
                if not failure.retryable:
                    return await self._fail(cid, participants, "refused: not retried")
                if attempt >= self._settings.max_attempts:
                    return await self._fail(cid, participants, f"gave up after {attempt} rounds")
                needed, rule = _fewest(comp.spec)
                if len(participants) < needed:
                    return await self._fail(
                        cid,
                        participants,
                        f"only {len(participants)} reachable parties remain, below {rule}",
                    )
            except Exception:
                log.exception("computation %s: unexpected error", cid)
                return await self._fail(
                    cid, participants, "internal error; see the coordinator's log"
                )

    async def _fail(self, cid: str, participants: tuple[str, ...], why: str) -> None:
        events = await asyncio.to_thread(self._store.events_after, cid, 0)
        # Every distinct abort, oldest first: a later refusal is often caused by an earlier
        # abort, and a reader needs both; the same refusal on every retry is shown once.
        reason = failure_reason([e.message for e in events if e.phase == "aborted"], why)
        event = self._feed.new(b"", 0, "failed", "failed", participants, "", reason)
        await asyncio.to_thread(self._store.fail, cid, reason, event)
        self._metrics.computations.labels("failed").inc()
        failpoints.hit("after-fail")
        await self._feed.announce(cid, event)
        log.warning("computation %s failed: %s", cid, reason)

    async def _round(self, comp: Computation, attempt: int, participants: tuple[str, ...]) -> None:
        """One round: prepare, share, partial, publish. Raises RoundFailure on abort."""
        spec, cid = comp.spec, comp.id
        round_id = new_round_id()
        deadline_ms = int((self._clock() + self._settings.round_deadline_seconds) * 1000)
        header = types_pb2.RoundHeader(
            round_id=round_id,
            transcript_hash=transcript_hash(round_id, spec, participants, deadline_ms),
        )
        label = round_id.hex()[:8]
        timer = self._metrics.phases()
        timer.enter("prepare")
        bind(round_id=round_id.hex(), phase="prepare")
        event = self._phase_event(round_id, attempt, "prepare", participants)
        await asyncio.to_thread(
            self._store.begin_round, cid, round_id, attempt, participants, deadline_ms, (cid, event)
        )
        await self._feed.announce(cid, event)

        def remaining() -> float:
            return max(0.1, deadline_ms / 1000 - self._clock())

        try:
            sealed = await self._step(
                "prepare",
                participants,
                lambda p: self._gateway.prepare(
                    p,
                    header,
                    spec,
                    participants,
                    deadline_ms,
                    self._settings.prepare_timeout_seconds,
                ),
            )
            inbox, receipts = route(sealed)
            timer.enter("share")
            await self._phase(cid, round_id, attempt, "share", participants)
            await self._step(
                "share",
                participants,
                lambda p: self._gateway.share(
                    p,
                    header,
                    inbox[p],
                    receipts[p],
                    min(remaining(), self._settings.share_timeout_seconds),
                ),
            )
            failpoints.hit("before-collect")
            if spec.multi_step:  # DESIGN 9: steps among the nodes, relayed sealed
                timer.enter("compute")
                await self._phase(cid, round_id, attempt, "compute", participants)
                outputs = await run_steps(
                    self._gateway,
                    self._step,
                    header,
                    spec,
                    participants,
                    lambda: min(remaining(), self._settings.share_timeout_seconds),
                )
            else:
                timer.enter("partial")
                await self._phase(cid, round_id, attempt, "partial", participants)
                total = await self._collect(header, participants, spec.length, remaining)
                outputs = await asyncio.to_thread(self._outputs, spec, total, len(participants))
                del total  # the outputs replace it: never hold both with a 10^7 vector
        except RoundFailure as failure:
            timer.end("aborted")
            reason = failure.reason(label)
            blamed = next(iter(failure.errors))
            event = self._feed.new(
                round_id, attempt, "aborted", "running", participants, blamed, reason
            )
            await asyncio.to_thread(
                self._store.set_phase, round_id, "aborted", reason, (cid, event)
            )
            await self._feed.announce(cid, event)
            # In the background: an unreachable party's notice may take its full timeout, and
            # the retry must not wait for it.
            self._notify_in_background(participants, header, reason)
            raise
        event = self._feed.new(
            round_id,
            attempt,
            "published",
            "published",
            participants,
            "",
            f"round {label} published",
        )
        await asyncio.to_thread(self._store.publish, cid, round_id, outputs, event)
        timer.end("published")
        self._metrics.computations.labels("published").inc()
        failpoints.hit("after-publish")
        await self._feed.announce(cid, event)
        # No Forget: every node ended the round itself once it had streamed its partial.

    async def _collect(
        self,
        header: types_pb2.RoundHeader,
        participants: tuple[str, ...],
        length: int,
        remaining: Callable[[], float],
    ) -> npt.NDArray[np.uint64]:
        """Add every partial into one total as it streams in."""
        total = np.zeros(length, dtype=np.uint64)
        await self._step(
            "partial",
            participants,
            lambda p: self._gateway.collect(p, header, total, remaining()),
        )
        return total

    def _outputs(
        self, spec: ComputationSpec, total: npt.NDArray[np.uint64], n: int
    ) -> tuple[Output, ...]:
        """Central noise (if the spec places it here), decoding, post-processing (blocking)."""
        plan = plan_noise(spec, n)
        if plan is not None and spec.privacy.placement is Placement.CENTRAL:
            noise = draw_noise(plan, UniformInts(self._rng), VectorNoise)
            np.add(total, noise.view(np.uint64), out=total)  # in place: wrap-around is the ring
        return outputs_for(spec, total, n)

    async def _tell_nodes(
        self, participants: tuple[str, ...], header: types_pb2.RoundHeader, reason: str
    ) -> None:
        await asyncio.gather(*(self._gateway.notify_end(p, header, reason) for p in participants))

    def _notify_in_background(
        self, participants: tuple[str, ...], header: types_pb2.RoundHeader, reason: str
    ) -> None:
        """Tell the nodes a round ended, without waiting (each notice is bounded: 5 s)."""
        task = asyncio.create_task(self._tell_nodes(participants, header, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _phase_event(
        self, round_id: bytes, attempt: int, phase: str, participants: tuple[str, ...]
    ) -> Event:
        message = f"round {round_id.hex()[:8]}: {phase} with {', '.join(participants)}"
        return self._feed.new(round_id, attempt, phase, "running", participants, "", message)

    async def _phase(
        self, cid: str, round_id: bytes, attempt: int, phase: str, participants: tuple[str, ...]
    ) -> None:
        bind(phase=phase)
        event = self._phase_event(round_id, attempt, phase, participants)
        await asyncio.to_thread(self._store.set_phase, round_id, phase, "", (cid, event))
        await self._feed.announce(cid, event)

    async def _step(
        self, phase: str, participants: tuple[str, ...], call: Callable[[str], Awaitable[_T]]
    ) -> dict[str, _T]:
        """Run one call per participant concurrently; any failure aborts the round."""
        results = await asyncio.gather(*(call(p) for p in participants), return_exceptions=True)
        errors: dict[str, MpcError] = {}
        done: dict[str, _T] = {}
        for party, result in zip(participants, results, strict=True):
            if isinstance(result, MpcError):
                errors.setdefault(result.party or party, result)
            elif isinstance(result, BaseException):
                log.error("phase %s: %s failed unexpectedly", phase, party, exc_info=result)
                errors.setdefault(
                    party, MpcError(f"{party}: unexpected error {type(result).__name__}")
                )
            else:
                done[party] = result
        if errors:
            raise RoundFailure(phase, errors)
        return done

    async def watch(self, cid: str) -> AsyncIterator[Event]:
        """Every event of a computation from the first, until it is published or failed."""
        async for event in self._feed.watch(cid):
            yield event

    async def close(self) -> None:
        """Stop driving computations; their rounds are resumed by `recover` at next start."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _fewest(spec: ComputationSpec) -> tuple[int, str]:
    """The fewest participants a round of `spec` may have, and the rule that says so."""
    if spec.multi_step and spec.min_parties < MIN_PARTIES:
        return MIN_PARTIES, f"the honest majority of a {spec.kind.value} ({MIN_PARTIES} parties)"
    privacy = spec.privacy
    t = privacy.threshold_for(spec.min_parties)
    if privacy.enabled and privacy.placement is Placement.DISTRIBUTED and t > spec.min_parties:
        return t, f"the noise threshold t = {t} (fewer would weaken the privacy guarantee)"
    return spec.min_parties, f"min_parties = {spec.min_parties}"
