"""The prime field of the comparison protocols: GF(p) with p = 2^127 - 1 (pure).

Why this prime: the comparisons of Catrina and de Hoogh (2010) need p > 2^(k + kappa + 1)
plus headroom for the sum of n parties' masks; with k <= 64 value bits, kappa = 40 bits of
statistical security and up to 1000 parties, 2^127 - 1 leaves room. It is a Mersenne prime
(reduction is a shift and an add, which CPython's big integers do quickly) and p = 3 mod 4,
so a square root is one exponentiation, which the joint random bits need (`sqrt`).

Elements are Python ints in [0, p). On the wire an element is 16 bytes, little-endian; a
decoder refuses a value >= p, so a malformed message cannot smuggle a non-element in.
"""

from __future__ import annotations

from collections.abc import Sequence

from mpcnode.core.randomness import RandomSource
from mpcnode.errors import InvalidInput

P = (1 << 127) - 1
ELEMENT_BYTES = 16


def inverse(a: int) -> int:
    """The multiplicative inverse of a non-zero element."""
    if a % P == 0:
        raise ZeroDivisionError("0 has no inverse in GF(p)")
    return pow(a, P - 2, P)


def sqrt(a: int) -> int:
    """A square root of a quadratic residue `a` (p = 3 mod 4: a^((p+1)/4)), in [0, p)."""
    root = pow(a, (P + 1) // 4, P)
    if root * root % P != a % P:
        raise ValueError("not a quadratic residue")
    return root


def signed(a: int) -> int:
    """The representative of `a` in (-p/2, p/2): how a field element reads as an integer."""
    a %= P
    return a - P if a > P // 2 else a


def random_elements(rng: RandomSource, count: int) -> list[int]:
    """`count` independent uniform elements of GF(p), from 127 random bits each.

    The one value 2^127 - 1 = p of the 127-bit range is redrawn, so the result is exactly
    uniform.
    """
    out: list[int] = []
    while len(out) < count:
        words = rng.uint64(2 * (count - len(out))).tolist()
        for low, high in zip(words[0::2], words[1::2], strict=True):
            value = ((high & ((1 << 63) - 1)) << 64) | low
            if value < P:
                out.append(value)
    return out


def random_below(rng: RandomSource, bound_bits: int, count: int) -> list[int]:
    """`count` independent uniform integers in [0, 2^bound_bits), bound_bits <= 126."""
    if not 0 < bound_bits <= 126:
        raise ValueError("bound_bits must be 1 to 126")
    words = rng.uint64(2 * count).tolist()
    mask = (1 << bound_bits) - 1
    return [((h << 64) | lo) & mask for lo, h in zip(words[0::2], words[1::2], strict=True)]


def encode(elements: Sequence[int]) -> bytes:
    """Elements as 16-byte little-endian words, concatenated."""
    return b"".join(e.to_bytes(ELEMENT_BYTES, "little") for e in elements)


def decode(data: bytes, expected: int, what: str) -> list[int]:
    """Exactly `expected` elements from `encode`'s bytes; InvalidInput naming `what` if not."""
    if len(data) != expected * ELEMENT_BYTES:
        raise InvalidInput(
            f"{what} holds {len(data)} bytes; {expected} field elements are "
            f"{expected * ELEMENT_BYTES} bytes ({ELEMENT_BYTES} each)"
        )
    out = [
        int.from_bytes(data[i : i + ELEMENT_BYTES], "little")
        for i in range(0, len(data), ELEMENT_BYTES)
    ]
    if any(e >= P for e in out):
        raise InvalidInput(f"{what} holds a value outside the field (>= 2^127 - 1)")
    return out
