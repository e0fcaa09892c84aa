"""A reproducible random source for tests only, and the protocol's shares made in one process."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode.config import Roster, RosterEntry
from mpcnode.core.prg import expand
from mpcnode.core.randomness import RandomSource
from mpcnode.core.sealing import format_seal_key, seal, seal_context
from mpcnode.core.sharing import PartialStream, draw_seed


class SeededSource:
    """A seeded stand-in for `RandomSource`: tests hold no one's secrets."""

    def __init__(self, seed: int) -> None:
        self._gen = np.random.default_rng(seed)

    def uint64(self, length: int) -> npt.NDArray[np.uint64]:
        """`length` reproducible uniform 64-bit words."""
        return np.frombuffer(self._gen.bytes(8 * length), dtype=np.uint64).copy()


def shares_of(
    secret: npt.NDArray[np.uint64], n: int, rng: RandomSource
) -> list[npt.NDArray[np.uint64]]:
    """The n shares of one secret as the protocol makes them (DESIGN 4.2): the share its
    owner keeps, x - sum PRG(s_j), then the n - 1 seed expansions PRG(s_j) the others hold."""
    seeds = [draw_seed(rng) for _ in range(n - 1)]
    length = secret.shape[0]
    kept = PartialStream(secret, seeds, []).chunk(0, length)
    return [kept, *(expand(s, 0, length) for s in seeds)]


def partials_of(
    inputs: Sequence[npt.NDArray[np.uint64]], rng: RandomSource
) -> list[npt.NDArray[np.uint64]]:
    """What the coordinator sees when n parties with these inputs run one round."""
    n = len(inputs)
    seeds = {(i, j): draw_seed(rng) for i in range(n) for j in range(n) if i != j}
    return [
        PartialStream(
            inputs[j],
            [seeds[j, k] for k in range(n) if k != j],
            [seeds[i, j] for i in range(n) if i != j],
        ).chunk(0, inputs[j].shape[0])
        for j in range(n)
    ]


def sealed_seeds_for(
    transcript: bytes,
    participants: Sequence[str],
    keys: Mapping[str, x25519.X25519PrivateKey],
    to: str = "alice",
) -> dict[str, bytes]:
    """What an honest relay hands `to`: a fresh seed from every other participant, sealed to
    `to`'s key in `keys` for this transcript."""
    return {
        sender: seal(os.urandom(32), keys[to].public_key(), seal_context(transcript, sender, to))
        for sender in participants
        if sender != to
    }


def roster_with_seal_keys(
    parties: Sequence[str],
) -> tuple[Roster, dict[str, x25519.X25519PrivateKey]]:
    """A roster of `parties` on loopback addresses, each with a fresh seal key (returned)."""
    keys = {p: x25519.X25519PrivateKey.generate() for p in parties}
    entries = tuple(
        RosterEntry(
            id=p, address=f"127.0.0.1:{7001 + i}", seal_key=format_seal_key(keys[p].public_key())
        )
        for i, p in enumerate(parties)
    )
    return Roster(party=entries), keys
