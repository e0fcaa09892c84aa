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

`UniformInts` turns any `RandomSource` into exact uniform integers of any size and exact
Bernoulli trials with rational probabilities, the two primitives of the exact DP samplers
(`mpcnode.core.exact_samplers`). It is exact because it only ever compares integers: no
float is formed, so no probability is rounded.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mpcnode.errors import InvalidInput, MpcError

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


_WORD = 1 << 64
_MASK = _WORD - 1
_REFILL_WORDS = 512
"""64-bit words asked of the source per refill (4 KiB): amortizes the call, bounds the buffer."""


class UniformInts:
    """Exact uniform integers from a RandomSource; buffers 64-bit words (e.g. 512 at a time).

    Invariants: every returned value is a function of fresh words only (a word is used once),
    and each method's law is exact: `below(n)` is uniform on [0, n) by rejection, and
    `chance(num, den)` is True with probability exactly num/den. Security: the words are as
    unpredictable as the source, so production code builds this on `SystemRandomSource`.
    The buffer holds unused random words; the object is not thread-safe (use one per task).
    """

    def __init__(self, source: RandomSource) -> None:
        self._source = source
        self._words: list[int] = []
        self._next = 0

    def _refill(self) -> None:
        fresh = self._source.uint64(_REFILL_WORDS)
        if fresh.shape != (_REFILL_WORDS,) or fresh.dtype != np.uint64:
            # The source is ours, not the caller's: INTERNAL, not InvalidInput.
            raise MpcError(f"the random source returned a malformed vector for {_REFILL_WORDS}")
        self._words = fresh.tolist()
        self._next = 0

    def word(self) -> int:
        """Return one uniform integer in [0, 2^64)."""
        if self._next >= len(self._words):
            self._refill()
        value: int = self._words[self._next]
        self._next += 1
        return value

    def below(self, n: int) -> int:
        """Return a uniform integer in [0, n), n >= 1, any size (big ints), exact by rejection."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInput(f"below(n) needs an integer n >= 1, got {n!r}")
        if n <= _WORD:
            # Lemire's multiply-and-reject (ACM TOMACS 2019): the high word of w*n is uniform
            # on [0, n) once the low words below 2^64 mod n are rejected.
            product = self.word() * n
            if (product & _MASK) < n:
                threshold = (_WORD - n) % n
                while (product & _MASK) < threshold:
                    product = self.word() * n
            return product >> 64
        bits = n.bit_length()
        words = (bits + 63) // 64
        while True:
            value = 0
            for _ in range(words):
                value = (value << 64) | self.word()
            value >>= 64 * words - bits
            if value < n:
                return value

    def chance(self, num: int, den: int) -> bool:
        """Return True with probability exactly num/den (0 <= num <= den, den >= 1).

        Compares a lazily drawn uniform U in [0, 1), one base-2^64 digit at a time, with the
        expansion of num/den: True iff U < num/den. Almost always one word, whatever the size.
        """
        if not 0 <= num <= den or den < 1:
            raise InvalidInput(f"a probability needs 0 <= num <= den, got {num}/{den}")
        if num == den:
            return True
        while True:
            digit, num = divmod(num << 64, den)
            drawn = self.word()
            if drawn != digit:
                return drawn < digit
