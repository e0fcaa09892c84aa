"""A reproducible random source for tests only (production code never seeds randomness)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class SeededSource:
    """A seeded stand-in for `RandomSource`: tests hold no one's secrets."""

    def __init__(self, seed: int) -> None:
        self._gen = np.random.default_rng(seed)

    def uint64(self, length: int) -> npt.NDArray[np.uint64]:
        """`length` reproducible uniform 64-bit words."""
        return np.frombuffer(self._gen.bytes(8 * length), dtype=np.uint64).copy()
