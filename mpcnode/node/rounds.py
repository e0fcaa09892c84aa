"""The node's side of a round (DESIGN 4.1, 4.4): what it accepts, shares and releases.

Plain asyncio, no gRPC: the servicers decode a message, call one method here, and encode
the answer. Every rule that protects the organization lives here:

- Prepare: the spec passes its own checks, the participant set is on the roster, holds
  this node, is large enough for the spec, the local policy, the dataset's declaration and
  the noise threshold t, the transcript hash is recomputed from what the coordinator said,
  the spec conforms to the owner's declaration, and the ledger allows the release (its
  budget is reserved here). Every one of these checks reads the spec, the participants,
  the deadline, the policy, the declaration and the ledger, and **never a stored value**:
  the values are read only once the round is accepted, and encoding them cannot fail
  (they were validated against the declaration at submit time). So no refusal, and no
  byte of any reply, depends on a value (tests/test_value_blind.py). The noise share is
  drawn here too, before the round opens, so no later response time depends on its size.
  A repeated identical Prepare is harmless. The accepting reply carries this node's seeds,
  one per other participant, each sealed to the recipient's roster seal key and bound to
  the transcript (`seeding`).
- Share: exactly one seed from every other announced participant, each opening under this
  node's seal key for this transcript, sender and recipient (so a coordinator that told
  nodes different stories is caught here); the node answers with the seeds' receipts.
- Release: only after Share, before the deadline, once per round, and only after the
  release (and the budget it spends) is durably recorded. The partial is then computed
  slice by slice as it streams (`PartialStream`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode import failpoints
from mpcnode.config import NodePolicy, Roster
from mpcnode.core.conformance import check_ceilings, conform, node_function
from mpcnode.core.mechanisms import check_contributors, plan_noise
from mpcnode.core.privacy import Mechanism, Placement
from mpcnode.core.randomness import RandomSource
from mpcnode.core.release_cost import release_costs
from mpcnode.core.release_rules import PlannedRelease
from mpcnode.core.sealing import receipt, seal_context
from mpcnode.core.sharing import PartialStream, Slices
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.vector_samplers import VectorNoise
from mpcnode.errors import (
    AlreadyExists,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from mpcnode.node.admission import check_min_parties, check_round, check_round_id, same_dataset
from mpcnode.node.contribution import contribution
from mpcnode.node.round_state import NodeRound, release_record
from mpcnode.node.seeding import draw_and_seal, open_all
from mpcnode.node.steps import StepOutcome, StepRunner
from mpcnode.node.store import NodeStore

log = logging.getLogger(__name__)
U64 = npt.NDArray[np.uint64]
_ENDED_MEMORY = 10_000  # ended round ids kept to explain late messages
# Why a round ended once its partial was out: the node ends it itself (no Forget fan-out).
RELEASED = "released its partial"
_INLINE_STEP_BYTES = 64 << 10  # smaller steps run on the event loop (about a millisecond)


class RoundBook:
    """Every live round of this node, keyed by round id."""

    def __init__(
        self,
        party_id: str,
        store: NodeStore,
        policy: NodePolicy,
        roster: Roster,
        rng: RandomSource,
        seal_key: x25519.X25519PrivateKey,
        clock: Callable[[], float] = time.time,
        vector_noise: Callable[[], VectorNoise] = VectorNoise,
        on_release: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.party_id = party_id
        self._store = store
        self._policy = policy
        self._roster = roster
        self._rng = rng
        self._seal_key = seal_key
        self._clock = clock
        self._vector_noise = vector_noise
        self._on_release = on_release  # told each recorded release's kind (metrics)
        self._rounds: dict[bytes, NodeRound] = {}
        self._ended: OrderedDict[bytes, str] = OrderedDict()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def get(self, round_id: bytes, transcript: bytes) -> NodeRound:
        """The live round, or NotFound / FAILED_PRECONDITION saying why it is not usable."""
        check_round_id(round_id)
        state = self._rounds.get(round_id)
        if state is None:
            if self._ended.get(round_id) == RELEASED:
                raise AlreadyExists(
                    f"round {round_id.hex()}: the partial was already released",
                    reason="ALREADY_RELEASED",
                )
            if round_id in self._ended:
                raise PreconditionFailed(
                    f"round {round_id.hex()} already ended on this node ({self._ended[round_id]})",
                    reason="ROUND_ENDED",
                )
            raise NotFound(
                f"unknown round {round_id.hex()}: this node was never asked to prepare it",
                reason="ROUND_UNKNOWN",
            )
        if transcript != state.transcript:
            raise PreconditionFailed(
                f"round {state.label}: transcript hash {transcript.hex()[:16]}... differs from "
                f"this node's {state.transcript.hex()[:16]}...; the coordinator announced "
                "different specs, participants or deadlines to different nodes",
                reason="TRANSCRIPT_MISMATCH",
            )
        if self._now_ms() > state.deadline_ms:
            raise DeadlineExceeded(
                f"round {state.label} is past its deadline", reason="ROUND_DEADLINE_PASSED"
            )
        return state

    async def prepare(
        self,
        round_id: bytes,
        transcript: bytes,
        spec: ComputationSpec,
        participants: tuple[str, ...],
        deadline_ms: int,
    ) -> NodeRound:
        """Check a round against policy and input, then hold it (DESIGN 4.1 step 2)."""
        check_round_id(round_id)
        existing = self._rounds.get(round_id)
        if existing is not None:
            if existing.transcript != transcript:
                raise AlreadyExists(
                    f"round {existing.label} was already prepared with a different transcript; "
                    "a conflicting Prepare for the same round id is refused"
                )
            return existing  # identical repeat: harmless
        if round_id in self._ended:
            raise AlreadyExists(f"round {round_id.hex()} already ended; a new round needs a new id")
        check_round(
            self.party_id, self._roster, self._policy, self._now_ms(),
            round_id, transcript, spec, participants, deadline_ms,
        )  # fmt: skip
        # One thread hop for the whole blocking part: on a small round, each hop costs as
        # much as the work.
        state, held = await asyncio.to_thread(
            self._admit, round_id, transcript, spec, participants, deadline_ms
        )
        if round_id in self._ended:  # aborted while this node drew its noise
            if held:
                await asyncio.to_thread(self._store.drop_hold, round_id)
            raise PreconditionFailed(f"round {state.label} ended while it was prepared")
        if round_id in self._rounds:  # a concurrent identical Prepare won the race
            return self.get(round_id, transcript)
        self._rounds[round_id] = state
        log.info(
            "round %s prepared: %s over %r (%s) with %s",
            state.label,
            spec.kind.value,
            spec.dataset,
            state.dataset.key,
            ",".join(participants),
        )
        return state

    def _admit(
        self,
        round_id: bytes,
        transcript: bytes,
        spec: ComputationSpec,
        participants: tuple[str, ...],
        deadline_ms: int,
    ) -> tuple[NodeRound, bool]:
        """The blocking part of Prepare: declaration and ledger checks, the hold, and only
        then the values, the contribution and the seeds. Returns the round and whether this
        call took the hold; on any failure the hold it took is dropped."""
        dataset = self._store.dataset(spec.dataset)
        conform(dataset.declaration, spec)
        check_min_parties(self._policy, spec, participants, dataset)
        plan = plan_noise(spec, len(participants))
        if plan is not None:
            check_contributors(plan, len(participants))
        costs = release_costs(plan)
        check_ceilings(dataset.declaration, spec, costs)
        release = PlannedRelease(
            dataset.key,
            node_function(spec),
            tuple(sorted(participants)),
            # Central noise is the coordinator's, and randomized response leaves each
            # organization's number of answers exact: both are exact to the coordinator.
            plan is None
            or spec.privacy.placement is Placement.CENTRAL
            or plan.mechanism is Mechanism.RANDOMIZED_RESPONSE,
            costs,
            once=spec.multi_step,
        )
        caps = self._policy.budget.caps_for(dataset.declaration)
        state = NodeRound(
            round_id, transcript, spec, participants, deadline_ms, dataset, release, plan=plan
        )
        held = False
        try:
            held = self._store.hold(round_id, release, caps)
            # Only now, with the round accepted, are the values read.
            stored = self._store.get_input(spec.dataset)
            same_dataset(dataset, stored.declaration, stored.period)
            contributed = contribution(
                state.label, spec, plan, stored, self._rng, self._vector_noise
            )
            state.encoded, state.sampler = contributed.encoded, contributed.sampler
            state.seeds = draw_and_seal(
                self.party_id, participants, transcript, self._roster, self._rng
            )
        except BaseException:
            if held:  # only this call's own hold: an identical Prepare may hold it too
                self._store.drop_hold(round_id)
            raise
        state.input_id, state.values_hash = stored.input_id, stored.values_hash
        state.snapshot = stored.snapshot
        return state, held

    async def accept_seeds(
        self, round_id: bytes, transcript: bytes, incoming: dict[str, bytes]
    ) -> dict[str, bytes]:
        """Open the seed every other participant sealed to this node; their receipts.

        `incoming` maps each sender to its sealed seed. Nothing is released here. The same
        seeds again get the same receipts; other seeds once some were accepted are refused.
        """
        state = self.get(round_id, transcript)
        failpoints.hit("before-share")
        if state.received:
            if state.received_sealed != incoming:
                raise AlreadyExists(
                    f"round {state.label}: other seeds were already accepted; a conflicting "
                    "Share is refused"
                )
            return state.receipts
        opened = await asyncio.to_thread(
            open_all, self.party_id, state.participants, transcript, incoming, self._seal_key
        )
        state = self.get(round_id, transcript)  # it may have been aborted meanwhile
        if not state.received:  # a concurrent identical Share may have won
            state.received, state.received_sealed = opened, dict(incoming)
            state.receipts = {
                sender: receipt(seed, seal_context(transcript, sender, self.party_id))
                for sender, seed in opened.items()
            }
        return state.receipts

    async def release_partial(
        self, round_id: bytes, transcript: bytes, longest: int = 0
    ) -> PartialStream:
        """Record the release durably, then return the partial sum as a stream of slices.

        Once per round, once every other participant's seed was accepted, and (`longest`
        set) for a partial of at most `longest` elements: a longer one is refused unreleased."""
        state = self.get(round_id, transcript)
        if state.spec.multi_step:
            raise PreconditionFailed(
                f"round {state.label} is a {state.spec.kind.value} over Shamir shares: it runs "
                "with Step, and no partial sum is released"
            )
        own = await self._release(state, "CollectPartial", longest)
        sent = [s.seed for s in state.seeds]
        stream = PartialStream(own, sent, list(state.received.values()))
        log.info("round %s: partial released", state.label)
        return stream

    async def step(
        self, round_id: bytes, transcript: bytes, step: int, messages: dict[str, bytes]
    ) -> StepOutcome:
        """One step of a multi-step round (`StepRunner`); step 1 records the release first."""
        state = self.get(round_id, transcript)
        if not state.spec.multi_step:
            raise PreconditionFailed(
                f"round {state.label} is a {state.spec.kind.value}: its partial is collected "
                "with CollectPartial, not Step"
            )
        async with state.step_lock:  # one step at a time: the program is a generator
            if state.runner is None:
                if step != 1:
                    raise PreconditionFailed(
                        f"step {step} is out of order: this node expects step 1"
                    )
                own = await self._release(state, "Step")
                encoded = own.chunk(0, own.length).view(np.int64).tolist()
                state.runner = StepRunner(
                    self.party_id,
                    state.participants,
                    transcript,
                    state.spec,
                    encoded,
                    {s.recipient: s.seed for s in state.seeds},
                    state.received,
                    self._rng,
                )
            runner = state.runner
            if step == 3:
                failpoints.hit("mid-steps")  # after the release, amid the exchanges
            try:
                # A step's work follows what it received, but step 1 deals everything.
                if step > 1 and sum(len(m) for m in messages.values()) <= _INLINE_STEP_BYTES:
                    outcome = runner.advance(step, messages)  # a thread hop costs more
                else:
                    outcome = await asyncio.to_thread(runner.advance, step, messages)
            finally:
                if runner.broken:
                    self.end(round_id, "its computation failed")
        if outcome.done:  # kept until its deadline: a repeated last step gets the same reply
            log.info("round %s: output shares released after %d steps", state.label, step)
        return outcome

    async def _release(self, state: NodeRound, call: str, longest: int = 0) -> Slices:
        """Record the release durably, once per round; the contribution it releases."""
        if state.released:
            raise AlreadyExists(
                f"round {state.label}: the partial was already released", reason="ALREADY_RELEASED"
            )
        if not state.received:
            raise PreconditionFailed(
                f"round {state.label}: no seeds were shared with this node yet; call Share "
                f"before {call}"
            )
        if state.plan is not None:
            check_contributors(state.plan, len(state.participants))
        if longest and state.spec.length > longest:  # last: every other refusal comes first
            raise InvalidInput(
                f"round {state.label}: a partial of {state.spec.length} elements is streamed "
                f"with CollectPartial; this call carries at most {longest}"
            )
        state.released = True  # before any await: a concurrent call is refused above
        try:
            await self._record_release(state)
        except BaseException:
            state.released = False
            raise
        self._on_release(state.spec.kind.value)
        failpoints.hit("after-release-recorded")
        own, state.encoded = state.encoded, None  # the caller holds it; the round no longer
        if own is None:  # prepare always sets it; only a programming error gets here
            raise PreconditionFailed(f"round {state.label} has no contribution to release")
        return own

    async def _record_release(self, state: NodeRound) -> None:
        record = release_record(state, self._now_ms())

        def record_now() -> None:
            # The declaration in force now, not at Prepare: what the owner changed meanwhile
            # (a lowered cap, exact releases forbidden, a new period) holds.
            current = self._store.dataset(state.spec.dataset)
            same_dataset(state.dataset, current.declaration, current.period)
            self._store.record_release(
                record,
                state.release,
                self._policy.budget.caps_for(current.declaration),
                state.values_hash,
            )

        await asyncio.to_thread(record_now)

    def end(self, round_id: bytes, why: str) -> None:
        """Drop a round's state (abort or forget); later messages of it are refused."""
        check_round_id(round_id)  # never remember (or echo) an id no round can have
        state = self._rounds.pop(round_id, None)
        if state is not None and why != RELEASED:  # "partial released" already said so
            log.info("round %s ended: %s", round_id.hex(), why)
        # Always, even with no live round (a Prepare cancelled mid-hold) or one marked
        # released (its write may have been refused): a recorded release has no hold left.
        # A short local write; ending is rare and must not leave the budget held.
        self._store.drop_hold(round_id)
        if self._ended.get(round_id) != RELEASED:  # a later Forget or Abort changes nothing
            self._ended[round_id] = why
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)

    def expire(self) -> None:
        """Drop rounds past their deadline (called periodically)."""
        now = self._now_ms()
        for round_id, state in [(r, s) for r, s in self._rounds.items() if s.deadline_ms < now]:
            self.end(round_id, RELEASED if state.released else "expired at its deadline")
        # Holds no live round owns outlive no round's deadline (a cancelled Prepare's).
        oldest = now - self._policy.max_round_seconds * 1000
        self._store.drop_orphan_holds(set(self._rounds), oldest)
