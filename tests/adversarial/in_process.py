"""What the in-process attacks share: alice's round book over a real store, and conforming specs.

A real `RoundBook` over a real `NodeStore` (SQLite in a temporary folder), driven the way a
(possibly malicious) coordinator would drive it, without a network: the reviews' findings are
played this way (test_review_findings.py, test_review_round3.py).
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from seeded import roster_with_seal_keys, sealed_seeds_for

from mpcnode.config import NodePolicy
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.privacy import Mechanism, Privacy
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.node.rounds import NodeRound, RoundBook
from mpcnode.node.store import NodeStore

PARTIES = ("alice", "bob", "carlos", "david")
ABC = PARTIES[:3]
ROSTER, SEAL_KEYS = roster_with_seal_keys(PARTIES)
RAISES = Declaration("raises", Shape.SCALAR, 0, 10_000)
LAPLACE = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5)


def book_of(store: NodeStore, rng: Any = None) -> RoundBook:
    """alice's round book over `store`, with the default node policy (min_parties 3)."""
    return RoundBook(
        "alice", store, NodePolicy(), ROSTER, rng or SystemRandomSource(), SEAL_KEYS["alice"]
    )


def spec_of(decl: Declaration, kind: Kind = Kind.SUM, **fields: object) -> ComputationSpec:
    """A spec that conforms to `decl` (its shape, domain, encoding), with `fields` on top."""
    base: dict[str, object] = {
        "name": "review",
        "kind": kind,
        "dataset": decl.dataset,
        "lower": 0.0 if decl.shape is Shape.POLL else float(decl.lower),
        "upper": float(decl.upper),
        "length": decl.contribution_length,
        "fractional_bits": decl.fractional_bits,
        "bins": decl.bins if kind is Kind.HISTOGRAM else (),
        "min_parties": 3,
    }
    return ComputationSpec(**{**base, **fields})  # type: ignore[arg-type]


def held(store: NodeStore, dataset: str) -> Fraction:
    """Epsilon held by open rounds on `dataset`'s current period, organization level."""
    rows = store.budgets(NodePolicy().budget.caps_for, dataset)
    return sum((r.held.epsilon for r in rows if r.unit == "organization"), Fraction(0))


def seeds_for(state: NodeRound, to: str = "alice") -> dict[str, bytes]:
    """What an honest relay hands `to`: a fresh seed from every other participant, sealed."""
    return sealed_seeds_for(state.transcript, state.participants, SEAL_KEYS, to)


def round_args(
    spec: ComputationSpec, participants: tuple[str, ...] = ABC
) -> tuple[bytes, bytes, ComputationSpec, tuple[str, ...], int]:
    """A fresh round id, its transcript and deadline: what a coordinator's Prepare carries."""
    round_id = new_round_id()
    deadline = int((time.time() + 60) * 1000)
    return (
        round_id,
        transcript_hash(round_id, spec, participants, deadline),
        spec,
        participants,
        deadline,
    )


async def prepare(
    book: RoundBook, spec: ComputationSpec, participants: tuple[str, ...] = ABC
) -> NodeRound:
    """What a (possibly malicious) coordinator's Prepare makes of this node."""
    return await book.prepare(*round_args(spec, participants))


async def release(book: RoundBook, state: NodeRound) -> None:
    """Complete a prepared round with honest seeds and collect this node's partial."""
    await book.accept_seeds(state.round_id, state.transcript, seeds_for(state))
    await book.release_partial(state.round_id, state.transcript)
    book.end(state.round_id, "published")
