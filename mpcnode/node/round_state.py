"""One round as a node holds it between calls, and the ledger record of its release."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mpcnode.core.mechanisms import NoisePlan
from mpcnode.core.release_rules import PlannedRelease
from mpcnode.core.sharing import Slices
from mpcnode.core.spec import ComputationSpec
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.seeding import OutgoingSeed
from mpcnode.node.steps import StepRunner
from mpcnode.node.stored import DatasetRecord


@dataclass
class NodeRound:
    """One round as this node sees it. `encoded` is handed to the partial at release."""

    round_id: bytes
    transcript: bytes
    spec: ComputationSpec
    participants: tuple[str, ...]
    deadline_ms: int
    dataset: DatasetRecord
    release: PlannedRelease
    input_id: str = ""
    values_hash: str = ""
    snapshot: str = ""
    encoded: Slices | None = None
    plan: NoisePlan | None = None
    sampler: str = ""
    seeds: tuple[OutgoingSeed, ...] = field(default=(), repr=False)
    received: dict[str, bytes] = field(default_factory=dict, repr=False)  # opened, by sender
    received_sealed: dict[str, bytes] = field(default_factory=dict, repr=False)
    receipts: dict[str, bytes] = field(default_factory=dict, repr=False)  # of `received`
    released: bool = False
    runner: StepRunner | None = field(default=None, repr=False)  # a multi-step round's
    step_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def label(self) -> str:
        """The round id as logs and messages print it."""
        return self.round_id.hex()


def release_record(state: NodeRound, now_ms: int) -> ReleaseRecord:
    """The ledger's record of what `state` releases (written before the first byte leaves)."""
    privacy = state.spec.privacy
    return ReleaseRecord(
        state.round_id,
        state.transcript,
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
        now_ms,
        state.snapshot,
    )
