"""Additive secret sharing over Z_(2^64) with seed-expanded shares (DESIGN 2, 4.2).

Party i holds x_i. For every other participant j it draws a fresh 32-byte seed s_ij and
hands it to j (sealed, `mpcnode.core.sealing`). The share of x_i that j holds is PRG(s_ij)
(`mpcnode.core.prg`); the share i keeps is x_i - sum_j PRG(s_ij). So the n shares of x_i
add up to x_i, and any n-1 of them are pseudorandom whatever x_i is. This is the additive
n-out-of-n scheme of Benaloh ("Secret sharing homomorphisms: keeping shares of a secret
secret", CRYPTO '86), with each random share compressed to the seed it expands from, as in
SecAgg (Bonawitz et al., CCS '17); cf. Cramer, Damgard and Nielsen, "Secure Multiparty
Computation and Secret Sharing" (2015), section 3.

Party j's partial sum adds the share it kept and the shares it was sent:

    P_j = x_j - sum_{k != j} PRG(s_jk) + sum_{i != j} PRG(s_ij)      (mod 2^64)

and sum_j P_j = sum_j x_j, because every PRG(s_ij) enters once with + (at j) and once
with - (at i). `partial_chunk` computes any slice of P_j from the seeds alone, so a node
streams its partial without ever holding a share vector, let alone n-1 of them.

Invariant (privacy): as long as one seed s_ij stays unknown to a coalition, P_i and P_j
are masked by PRG(s_ij); a coalition of all parties but i learns nothing about x_i beyond
the sum. The seeds must come from an unpredictable source (`SystemRandomSource`).

Invariant (correctness): numpy uint64 arithmetic wraps modulo 2^64, which is the ring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mpcnode.core.prg import SEED_BYTES, expand_into, prg_key
from mpcnode.core.randomness import RandomSource
from mpcnode.errors import InvalidInput, MpcError

U64 = npt.NDArray[np.uint64]


def draw_seed(rng: RandomSource) -> bytes:
    """A fresh 32-byte seed from `rng` (a CSPRNG in production)."""
    words = rng.uint64(SEED_BYTES // 8)
    if not isinstance(words, np.ndarray) or words.dtype != np.uint64 or words.shape != (4,):
        raise MpcError("the random source returned a malformed seed")
    return words.astype("<u8").tobytes()


class Slices(Protocol):
    """A ring vector handed out slice by slice (an encoded contribution, `ArraySlices`)."""

    @property
    def length(self) -> int:
        """Elements of the vector."""
        ...

    def chunk(self, start: int, count: int) -> U64:
        """Elements [start, start + count) as a new, writable array."""
        ...


class ArraySlices:
    """A ring vector held in full, as `Slices`."""

    def __init__(self, vector: U64) -> None:
        if not isinstance(vector, np.ndarray) or vector.dtype != np.uint64 or vector.ndim != 1:
            raise InvalidInput("a contribution is a 1-D uint64 array of ring elements")
        self._vector = vector

    @property
    def length(self) -> int:
        """Elements of the vector."""
        return int(self._vector.shape[0])

    def chunk(self, start: int, count: int) -> U64:
        """Elements [start, start + count) as a new array."""
        return self._vector[start : start + count].copy()


class PartialStream:
    """A party's partial sum P_j, computed slice by slice from its input and the seeds.

    `own` gives the party's encoded contribution x_j (a uint64 array, or `Slices` that
    encode it on demand); `sent` the seeds it drew for the others (subtracted), `received`
    the seeds the others drew for it (added).
    """

    def __init__(self, own: U64 | Slices, sent: Sequence[bytes], received: Sequence[bytes]) -> None:
        self._own: Slices = ArraySlices(own) if isinstance(own, np.ndarray) else own
        self._minus = [prg_key(s) for s in sent]
        self._plus = [prg_key(s) for s in received]

    @property
    def length(self) -> int:
        """Elements of the partial sum."""
        return self._own.length

    def chunk(self, start: int, count: int) -> U64:
        """P_j[start : start + count] as a new array (blocking; about 8 GB/s per seed)."""
        if start < 0 or count < 0 or start + count > self.length:
            raise InvalidInput(f"a slice [{start}, {start + count}) outside 0..{self.length}")
        out = self._own.chunk(start, count)
        stream = np.empty(count, np.uint64)
        for key in self._minus:
            expand_into(key, start, stream)
            np.subtract(out, stream, out=out)
        for key in self._plus:
            expand_into(key, start, stream)
            np.add(out, stream, out=out)
        return out


def reconstruct(shares: Sequence[U64]) -> U64:
    """Return the element-wise sum mod 2^64 of one or more equally long ring vectors.

    Adds partial sums into a total (tests, and anyone checking a sharing by hand). Returns a
    new array; the inputs are not modified. InvalidInput if the vectors differ in length or
    type.
    """
    if len(shares) == 0:
        raise InvalidInput("reconstruct needs at least one share vector, got none")
    for i, share in enumerate(shares):
        if not isinstance(share, np.ndarray) or share.dtype != np.uint64 or share.ndim != 1:
            raise InvalidInput(f"share {i} must be a 1-D uint64 array of ring elements")
    lengths = {share.shape[0] for share in shares}
    if len(lengths) != 1:
        raise InvalidInput(
            f"share vectors must all have the same length, got lengths {sorted(lengths)}"
        )
    total = shares[0].copy()
    for share in shares[1:]:
        np.add(total, share, out=total)
    return total
