"""The coordinator as a relay of sealed seeds (DESIGN 4.2): who gets which, and what back.

Each node's PrepareReply holds its seeds, each sealed to its recipient's roster seal key with
the receipt the recipient must return. The coordinator cannot open a seed; it forwards each
to its recipient without the receipt, and keeps the receipts to check the Share replies.
A multi-step round's messages (DESIGN 9) are relayed the same way, step by step: each is
sealed end to end between two nodes under a key derived from the seed of that direction.
"""

from __future__ import annotations

from collections.abc import Sequence

from mpcnode.api.v1 import node_pb2
from mpcnode.errors import PermissionDenied


def route(
    sealed: dict[str, list[node_pb2.SealedSeed]],
) -> tuple[dict[str, list[node_pb2.SealedSeed]], dict[str, dict[str, bytes]]]:
    """Each participant's inbox of seeds (receipts stripped) and the receipts it must return."""
    inbox: dict[str, list[node_pb2.SealedSeed]] = {p: [] for p in sealed}
    receipts: dict[str, dict[str, bytes]] = {p: {} for p in sealed}
    for sender, seeds in sealed.items():
        for seed in seeds:
            inbox[seed.recipient].append(
                node_pb2.SealedSeed(sender=sender, recipient=seed.recipient, sealed=seed.sealed)
            )
            receipts[seed.recipient][sender] = seed.receipt
    return inbox, receipts


def route_steps(
    replies: dict[str, node_pb2.StepReply],
) -> dict[str, list[node_pb2.StepMessage]]:
    """Each participant's inbox for the next step: every message addressed to it, unopened."""
    inbox: dict[str, list[node_pb2.StepMessage]] = {p: [] for p in replies}
    for reply in replies.values():
        for message in reply.messages:
            inbox[message.recipient].append(message)
    return inbox


def check_receipts(
    party: str, got: Sequence[node_pb2.SeedReceipt], expected: dict[str, bytes]
) -> None:
    """PERMISSION_DENIED naming `party` unless its Share reply returned exactly the receipts
    the senders predicted: the proof that it holds its seal key."""
    answered = {r.sender: r.receipt for r in got}
    if len(answered) != len(got) or answered != expected:
        raise PermissionDenied(
            f"the node answering for {party} did not return the receipts of the seeds sealed "
            f"to {party}'s roster seal key: it does not hold that key (an impostor at "
            f"{party}'s address, or a node started with another seal_key)",
            party=party,
            reason="RECEIPT_MISMATCH",
        )
