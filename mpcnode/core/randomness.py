"""Where the core's randomness comes from: a small interface and its one production source.

Every function of the core that needs random ring elements (share generation, later noise
sampling) takes a `RandomSource` argument instead of reaching for a global generator. That
keeps the math pure and lets a test pass a seeded stand-in to get reproducible shares.

Security assumption: the privacy of additive sharing rests entirely on the shares being
uniform and unpredictable to everyone but their author. Only `SystemRandomSource` (the
operating system's CSPRNG) meets that bar; numpy's generators are seedable, fast and
statistically fine, but predictable from their state, so a share drawn from one would leak
the secret to anyone who learns or guesses the seed. Production code therefore never
constructs anything but `SystemRandomSource`, and a test scans the sources to enforce it.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mpcnode.errors import InvalidInput

_CHUNK_BYTES = 1 << 20
"""Bytes asked of the OS per call: bounds the temporary copy when filling 10^7-element arrays."""


class RandomSource(Protocol):
    """A source of uniform ring elements of Z_(2^64).

    Contract: `uint64(length)` returns a fresh, writable 1-D array of `length` elements, each
    uniform over [0, 2^64) and independent of every other element and of every earlier call.
    Production code passes `SystemRandomSource`; a test may pass a seeded stand-in to make a
    run reproducible, which is sound only because tests hold no one's secrets.
    """

    def uint64(self, length: int) -> npt.NDArray[np.uint64]:
        """Return `length` independent uniform elements of Z_(2^64)."""
        ...


class SystemRandomSource:
    """The production `RandomSource`: bytes from `os.urandom`, the kernel's CSPRNG.

    Security assumption: the operating system's generator is cryptographically secure
    (getrandom(2) on Linux), so the output is unpredictable even to a party that sees every
    other output. The object holds no state, so it is safe to share between threads.
    Large requests are read in 1 MiB pieces straight into the result, so filling a vector of
    10^7 elements needs no second full-size buffer.
    """

    def uint64(self, length: int) -> npt.NDArray[np.uint64]:
        """Return `length` uniform elements of Z_(2^64) drawn from the OS CSPRNG."""
        if length < 0:
            raise InvalidInput(f"cannot draw a negative number ({length}) of random elements")
        out = np.empty(length, dtype=np.uint64)
        raw = out.view(np.uint8)
        for start in range(0, raw.size, _CHUNK_BYTES):
            stop = min(start + _CHUNK_BYTES, raw.size)
            raw[start:stop] = np.frombuffer(os.urandom(stop - start), dtype=np.uint8)
        return out
