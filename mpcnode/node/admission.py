"""What a node checks before it admits a round: all of it about the spec, never a value.

The round's id and transcript, the participants against the roster and the node's policy,
the deadline, the fewest parties the spec, the policy and the declaration ask for, and that
the dataset's declaration and period did not change under a round. Every refusal here is
a function of the request, the node's config and the declaration (DESIGN 1).
"""

from __future__ import annotations

from mpcnode.config import NodePolicy, Roster
from mpcnode.core.declaration import Declaration
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.transcript import transcript_hash
from mpcnode.errors import InvalidInput, PermissionDenied, PreconditionFailed, shown
from mpcnode.node.stored import DatasetRecord
from mpcnode.protocols.plan import check_fits


def check_round_id(round_id: bytes) -> None:
    """Refuse a round id that no round can have, before it is looked up, echoed or kept."""
    if len(round_id) != 16:
        raise InvalidInput(f"round_id must be 16 bytes, not {len(round_id)}")


def same_dataset(prepared: DatasetRecord, declaration: Declaration, period: str) -> None:
    """Refuse when the owner changed the dataset's declaration or period during a round."""
    if declaration != prepared.declaration or period != prepared.period:
        raise PreconditionFailed(
            f"the owner of dataset {shown(prepared.declaration.dataset)} changed its "
            f"declaration or period during this round (prepared under {prepared.key}, "
            f"declaration {prepared.declaration.fingerprint[:12]}); nothing is released",
            reason="DECLARATION_CHANGED",
        )


def check_min_parties(
    policy: NodePolicy,
    spec: ComputationSpec,
    participants: tuple[str, ...],
    dataset: DatasetRecord,
) -> None:
    """Refuse fewer participants than the spec, the node's policy or the declaration need."""
    declared = dataset.declaration.policy.min_parties
    needed = max(spec.min_parties, policy.min_parties, declared)
    if len(participants) < needed:
        raise PreconditionFailed(
            f"{len(participants)} participants is below the minimum of {needed} "
            f"(spec min_parties {spec.min_parties}, this node's policy.min_parties "
            f"{policy.min_parties}, the declaration of {dataset.key}: {declared})",
            reason="TOO_FEW_PARTIES",
        )


def check_round(
    party_id: str,
    roster: Roster,
    policy: NodePolicy,
    now: int,
    round_id: bytes,
    transcript: bytes,
    spec: ComputationSpec,
    participants: tuple[str, ...],
    deadline_ms: int,
) -> None:
    """Refuse a Prepare whose round, participants, kind or deadline this node cannot take."""
    check_round_id(round_id)
    if transcript != transcript_hash(round_id, spec, participants, deadline_ms):
        raise InvalidInput(
            "transcript_hash does not match the round id, spec, participants and deadline "
            "of this Prepare; the coordinator and this node disagree on the hash layout"
        )
    spec.check(len(participants))
    if spec.multi_step:
        check_fits(spec, len(participants))
    if party_id not in participants:
        raise InvalidInput(f"this node ({party_id}) is not among the participants")
    unknown = [p for p in participants if roster.get(p) is None]
    if unknown:
        raise PermissionDenied(
            "participants not on this node's roster: "
            + ", ".join(shown(p) for p in unknown[:5])
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            reason="NOT_ON_ROSTER",
        )
    # A dominance-checked sum, a winner-only histogram and small-cell suppression run over
    # Shamir shares (honest majority, not any n-1): each is a name in policy.allowed_kinds,
    # like the comparison kinds. small_cells is allowed by default, since a records dataset's
    # owner requires it by its declared min_cell; an owner removes it to refuse that model.
    options = [
        name
        for name, on in (
            ("dominance", spec.comparison.dominance),
            ("winner_only", spec.comparison.winner_only),
            ("small_cells", spec.cohorts.min_cell > 0),
        )
        if on
    ]
    for kind in (spec.kind.value, *options):
        if kind not in policy.allowed_kinds:
            raise PreconditionFailed(
                f"this node's policy does not allow {kind} computations "
                f"(policy.allowed_kinds = {list(policy.allowed_kinds)})",
                reason="KIND_NOT_ALLOWED",
            )
    if not now < deadline_ms <= now + policy.max_round_seconds * 1000:
        raise InvalidInput(
            f"deadline is {(deadline_ms - now) / 1000:.0f} s away; it must be in the future "
            f"and at most policy.max_round_seconds = {policy.max_round_seconds} s away"
        )
