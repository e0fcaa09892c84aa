"""The node's seeds of a round: drawn and sealed at Prepare, opened at CollectPartial.

Blocking (HPKE costs about 0.1 ms per seed); the round book runs these in a thread. The
seeds themselves never leave this node unsealed and are never logged; a refusal names the
sender whose seed failed, never anything derived from a seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode.config import Roster
from mpcnode.core.randomness import RandomSource
from mpcnode.core.sealing import open_sealed, parse_seal_key, receipt, seal, seal_context
from mpcnode.core.sharing import draw_seed
from mpcnode.errors import InvalidInput, PreconditionFailed, shown


@dataclass(frozen=True)
class OutgoingSeed:
    """One seed this node drew for `recipient`, sealed, and the receipt it must come back as."""

    recipient: str
    seed: bytes
    sealed: bytes
    receipt: bytes


def draw_and_seal(
    party: str,
    participants: tuple[str, ...],
    transcript: bytes,
    roster: Roster,
    rng: RandomSource,
) -> tuple[OutgoingSeed, ...]:
    """One fresh seed per other participant, sealed to its roster seal key."""
    out = []
    for recipient in participants:
        if recipient == party:
            continue
        entry = roster.get(recipient)
        if entry is None:  # admission only lets roster participants in
            raise PreconditionFailed(f"{shown(recipient)} is not on this node's roster")
        context = seal_context(transcript, party, recipient)
        seed = draw_seed(rng)
        sealed = seal(seed, parse_seal_key(entry.seal_key), context)
        out.append(OutgoingSeed(recipient, seed, sealed, receipt(seed, context)))
    return tuple(out)


def open_all(
    party: str,
    participants: tuple[str, ...],
    transcript: bytes,
    incoming: Mapping[str, bytes],
    own_key: x25519.X25519PrivateKey,
) -> dict[str, bytes]:
    """Open one sealed seed from every other participant; the seeds by sender.

    InvalidInput when a sender is missing or not a participant (the relay is wrong);
    PreconditionFailed naming the sender when its seed does not open for this round. The
    error blames this node, not the sender: the coordinator cannot tell a sender that sealed
    garbage from a node that lacks its seal key (an impostor says the same), and the one it
    can check is the node that answered.
    """
    others = {p for p in participants if p != party}
    strangers = sorted(set(incoming) - others)
    if strangers:
        raise InvalidInput(
            "seeds from non-participants: " + ", ".join(shown(s) for s in strangers[:5])
        )
    missing = sorted(others - set(incoming))
    if missing:
        raise InvalidInput(
            f"no seed from {', '.join(missing)}; CollectPartial carries one from every other "
            "participant"
        )
    seeds = {}
    for sender, sealed in incoming.items():
        try:
            seeds[sender] = open_sealed(sealed, own_key, seal_context(transcript, sender, party))
        except (InvalidInput, PreconditionFailed) as exc:
            raise type(exc)(f"the seed from {sender}: {exc.message}") from None
    return seeds
