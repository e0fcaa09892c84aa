"""The coordinator as a relay of sealed seeds (DESIGN 4.2): who gets which, and what back.

Each node's PrepareReply holds its seeds, each sealed to its recipient's roster seal key with
the receipt the recipient must return. The coordinator cannot open a seed; it forwards each
to its recipient without the receipt, and keeps the receipts to check the Share replies.
"""

from __future__ import annotations

from mpcnode.api.v1 import node_pb2


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
