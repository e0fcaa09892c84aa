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
  A repeated identical Prepare is harmless.
- Shares: one per participant, each from a distinct sender whose certificate says so,
  all with this node's transcript hash; a second share from a sender is a replay.
- Release: only when exactly the announced participants have shared, before the deadline,
  once per round, and only after the release (and the budget it spends) is durably
  recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mpcnode import failpoints
from mpcnode.config import NodePolicy, Roster
from mpcnode.core.conformance import check_ceilings, conform, node_function
from mpcnode.core.mechanisms import (
    NoisePlan,
    check_contributors,
    plan_noise,
)
from mpcnode.core.privacy import Mechanism, Placement
from mpcnode.core.randomness import RandomSource
from mpcnode.core.release_cost import release_costs
from mpcnode.core.release_rules import PlannedRelease
from mpcnode.core.sharing import split
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.vector_samplers import VectorNoise
from mpcnode.errors import (
    AlreadyExists,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from mpcnode.node.admission import check_min_parties, check_round, check_round_id, same_dataset
from mpcnode.node.contribution import contribution
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.store import DatasetRecord, NodeStore

log = logging.getLogger(__name__)
U64 = npt.NDArray[np.uint64]
_ENDED_MEMORY = 10_000  # ended round ids kept to explain late messages


@dataclass
class NodeRound:
    """One round as this node sees it. `encoded` is dropped once the shares are made."""

    round_id: bytes
    transcript: bytes
    spec: ComputationSpec
    participants: tuple[str, ...]
    deadline_ms: int
    dataset: DatasetRecord
    release: PlannedRelease
    input_id: str = ""
    values_hash: str = ""
    encoded: U64 | None = None
    plan: NoisePlan | None = None
    sampler: str = ""
    received: dict[str, U64] = field(default_factory=dict)
    receiving: set[str] = field(default_factory=set)
    share_state: str = "pending"  # pending -> sending -> sent | failed
    released: bool = False
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def label(self) -> str:
        """The round id as logs and messages print it."""
        return self.round_id.hex()

    def missing(self) -> list[str]:
        """Participants whose share has not arrived yet."""
        return [p for p in self.participants if p not in self.received]


class RoundBook:
    """Every live round of this node, keyed by round id."""

    def __init__(
        self,
        party_id: str,
        store: NodeStore,
        policy: NodePolicy,
        roster: Roster,
        rng: RandomSource,
        clock: Callable[[], float] = time.time,
        vector_noise: Callable[[], VectorNoise] = VectorNoise,
    ) -> None:
        self.party_id = party_id
        self._store = store
        self._policy = policy
        self._roster = roster
        self._rng = rng
        self._clock = clock
        self._vector_noise = vector_noise
        self._rounds: dict[bytes, NodeRound] = {}
        self._ended: OrderedDict[bytes, str] = OrderedDict()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def get(self, round_id: bytes, transcript: bytes) -> NodeRound:
        """The live round, or NotFound / FAILED_PRECONDITION saying why it is not usable."""
        check_round_id(round_id)
        state = self._rounds.get(round_id)
        if state is None:
            if round_id in self._ended:
                raise PreconditionFailed(
                    f"round {round_id.hex()} already ended on this node ({self._ended[round_id]})"
                )
            raise NotFound(
                f"unknown round {round_id.hex()}: this node was never asked to prepare it"
            )
        if transcript != state.transcript:
            raise PreconditionFailed(
                f"round {state.label}: transcript hash {transcript.hex()[:16]}... differs from "
                f"this node's {state.transcript.hex()[:16]}...; the coordinator announced "
                "different specs, participants or deadlines to different nodes"
            )
        if self._now_ms() > state.deadline_ms:
            raise DeadlineExceeded(f"round {state.label} is past its deadline")
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
        dataset = await asyncio.to_thread(self._store.dataset, spec.dataset)
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
        )
        caps = self._policy.budget.caps_for(dataset.declaration)
        state = NodeRound(
            round_id, transcript, spec, participants, deadline_ms, dataset, release, plan=plan
        )
        held = False
        try:
            held = await asyncio.to_thread(self._store.hold, round_id, release, caps)
            # Only now, with the round accepted, are the values read.
            stored = await asyncio.to_thread(self._store.get_input, spec.dataset)
            same_dataset(dataset, stored.declaration, stored.period)
            contributed = await asyncio.to_thread(
                contribution, state.label, spec, plan, stored, self._rng, self._vector_noise
            )
            state.encoded, state.sampler = contributed.encoded, contributed.sampler
            if round_id in self._ended:  # aborted while this node drew its noise
                raise PreconditionFailed(f"round {state.label} ended while it was prepared")
        except BaseException:
            if held:  # only this call's own hold: an identical Prepare may hold it too
                await asyncio.to_thread(self._store.drop_hold, round_id)
            raise
        if round_id in self._rounds:  # a concurrent identical Prepare won the race
            return self.get(round_id, transcript)
        state.input_id, state.values_hash = stored.input_id, stored.values_hash
        self._rounds[round_id] = state
        log.info(
            "round %s prepared: %s over %r (%s) with %s",
            state.label,
            spec.kind.value,
            spec.dataset,
            dataset.key,
            ",".join(participants),
        )
        return state

    def shares_to_send(self, round_id: bytes, transcript: bytes) -> list[tuple[str, U64]]:
        """Split the encoded input: one share per other participant, this node's own kept.

        Returns [] when the shares were already sent (a repeated Share call). A failed
        share phase cannot be resumed: fresh shares would conflict with delivered ones.
        """
        state = self.get(round_id, transcript)
        if state.share_state == "sent":
            return []
        if state.share_state != "pending" or state.encoded is None:
            raise PreconditionFailed(
                f"round {state.label}: the share phase already {state.share_state}; abort "
                "the round and start a new one"
            )
        shares = split(state.encoded, len(state.participants), self._rng)
        state.encoded = None
        state.share_state = "sending"
        outgoing: list[tuple[str, U64]] = []
        for party, share in zip(state.participants, shares, strict=True):
            if party == self.party_id:
                self._accept(state, party, share)
            else:
                outgoing.append((party, share))
        return outgoing

    def share_phase_done(self, round_id: bytes, ok: bool) -> None:
        """Record whether every outgoing share was delivered."""
        state = self._rounds.get(round_id)
        if state is not None:
            state.share_state = "sent" if ok else "failed"

    def begin_receive(
        self, round_id: bytes, transcript: bytes, sender: str, length: int
    ) -> NodeRound:
        """Admit the start of a share from `sender` (its certificate's identity)."""
        state = self.get(round_id, transcript)
        if sender not in state.participants:
            raise PermissionDenied(
                f"round {state.label}: {sender} is not a participant "
                f"({', '.join(state.participants)}); its share is refused"
            )
        if sender in state.received or sender in state.receiving:
            raise AlreadyExists(
                f"round {state.label}: a share from {sender} was already received; replays "
                "are refused"
            )
        if length != state.spec.length:
            raise InvalidInput(
                f"round {state.label}: share from {sender} has length {length}, the spec "
                f"says {state.spec.length}"
            )
        state.receiving.add(sender)
        return state

    def end_receive(self, state: NodeRound, sender: str, share: U64 | None) -> None:
        """Finish (share given) or give up (None) a share begun with begin_receive."""
        state.receiving.discard(sender)
        if share is not None and self._rounds.get(state.round_id) is state:
            self._accept(state, sender, share)

    def _accept(self, state: NodeRound, sender: str, share: U64) -> None:
        state.received[sender] = share
        log.debug("round %s: share from %s accepted", state.label, sender)
        if not state.missing():
            state.complete.set()

    async def release_partial(self, round_id: bytes, transcript: bytes) -> U64:
        """Wait for every share, record the release durably, then return the partial sum."""
        state = self.get(round_id, transcript)
        timeout = max(0.0, state.deadline_ms / 1000 - self._clock())
        try:
            await asyncio.wait_for(state.complete.wait(), timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                f"round {state.label}: deadline passed without shares from "
                f"{', '.join(state.missing())}",
                party=state.missing()[0],
            ) from None
        state = self.get(round_id, transcript)  # it may have been aborted while we waited
        if state.released:
            raise AlreadyExists(f"round {state.label}: the partial was already released")
        if state.plan is not None:
            check_contributors(state.plan, len(state.received))
        state.released = True
        privacy = state.spec.privacy
        record = ReleaseRecord(
            round_id,
            transcript,
            state.spec.dataset,
            state.dataset.period,
            state.input_id,
            state.dataset.declaration.fingerprint,
            state.spec.name,
            state.participants,
            state.release.function,
            privacy.placement.value if privacy.enabled else "none",
            privacy.mechanism.value,
            privacy.unit.value,
            state.sampler,
            state.release.costs,
            self._now_ms(),
        )
        try:
            # The declaration in force now, not at Prepare: what the owner changed meanwhile
            # (a lowered cap, exact releases forbidden, a new period) holds.
            current = await asyncio.to_thread(self._store.dataset, state.spec.dataset)
            same_dataset(state.dataset, current.declaration, current.period)
            await asyncio.to_thread(
                self._store.record_release,
                record,
                state.release,
                self._policy.budget.caps_for(current.declaration),
                state.values_hash,
            )
        except BaseException:
            state.released = False
            raise
        failpoints.hit("after-release-recorded")
        partial = np.zeros(state.spec.length, dtype=np.uint64)
        for share in state.received.values():
            partial += share
        log.info("round %s: partial released", state.label)
        return partial

    def end(self, round_id: bytes, why: str) -> None:
        """Drop a round's state (abort or forget); later messages of it are refused."""
        check_round_id(round_id)  # never remember (or echo) an id no round can have
        state = self._rounds.pop(round_id, None)
        if state is not None:
            log.info("round %s ended: %s", round_id.hex(), why)
        # Always, even with no live round (a Prepare cancelled mid-hold) or one marked
        # released (its write may have been refused): a recorded release has no hold left.
        # A short local write; ending is rare and must not leave the budget held.
        self._store.drop_hold(round_id)
        self._ended[round_id] = why
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)

    def expire(self) -> None:
        """Drop rounds past their deadline (called periodically)."""
        now = self._now_ms()
        for round_id in [r for r, s in self._rounds.items() if s.deadline_ms < now]:
            self.end(round_id, "expired at its deadline")
        # Holds no live round owns outlive no round's deadline (a cancelled Prepare's).
        oldest = now - self._policy.max_round_seconds * 1000
        self._store.drop_orphan_holds(set(self._rounds), oldest)
