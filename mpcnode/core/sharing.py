"""Additive secret sharing over the ring Z_(2^64) (DESIGN 2, 4.2 version 1).

A secret vector x is split into n shares x_1..x_n with x_1 + ... + x_n = x (mod 2^64): the
first n-1 are drawn uniformly at random, the last is x minus their sum. This is the additive
n-out-of-n scheme used for secure summation since Benaloh, "Secret sharing homomorphisms:
keeping shares of a secret secret" (CRYPTO '86); see also Cramer, Damgard and Nielsen,
"Secure Multiparty Computation and Secret Sharing" (2015), section 3.

Invariant (privacy): any n-1 of the shares are independent and uniform over Z_(2^64)^L,
whatever the secret, so a coalition of up to n-1 share holders learns nothing about x. This
holds only if the random shares come from an unpredictable source (`SystemRandomSource` in
production). All n shares together reveal x, by design.

Invariant (correctness): sharing is linear, so the element-wise sum of several parties'
shares is a sharing of the sum of their secrets. numpy uint64 arithmetic on arrays wraps
modulo 2^64 without warnings, which is exactly the ring's addition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mpcnode.core.randomness import RandomSource
from mpcnode.errors import InvalidInput, MpcError


def split(
    secret: npt.NDArray[np.uint64], n: int, rng: RandomSource
) -> list[npt.NDArray[np.uint64]]:
    """Split `secret` (a 1-D uint64 ring vector) into `n` additive shares, n >= 2.

    Returns n new arrays of the secret's length; shares[0..n-2] come straight from `rng`
    and shares[n-1] = secret - sum(others) mod 2^64. Security assumption: `rng` is a CSPRNG
    whose output no other party can predict. The secret is not modified.
    """
    _check_vector(secret, "the secret")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidInput(
            f"a secret must be split into at least 2 shares, not {n!r}; a single share "
            "would be the secret itself"
        )
    length = secret.shape[0]
    shares = [_draw(rng, length) for _ in range(n - 1)]
    last = secret.copy()
    for share in shares:
        np.subtract(last, share, out=last)
    shares.append(last)
    return shares


def reconstruct(shares: Sequence[npt.NDArray[np.uint64]]) -> npt.NDArray[np.uint64]:
    """Return the element-wise sum mod 2^64 of one or more equally long share vectors.

    Used both to recover a secret from all its shares and to add shares of different
    secrets (a party's partial sum, the coordinator's total). Returns a new array; the
    inputs are not modified. Raises InvalidInput if the shares differ in length or type.
    """
    if len(shares) == 0:
        raise InvalidInput("reconstruct needs at least one share vector, got none")
    for i, share in enumerate(shares):
        _check_vector(share, f"share {i}")
    lengths = {share.shape[0] for share in shares}
    if len(lengths) != 1:
        raise InvalidInput(
            f"share vectors must all have the same length, got lengths {sorted(lengths)}"
        )
    total = shares[0].copy()
    for share in shares[1:]:
        np.add(total, share, out=total)
    return total


def _check_vector(arr: npt.NDArray[np.uint64], what: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint64 or arr.ndim != 1:
        shape = f"{arr.ndim}-D {arr.dtype} array" if isinstance(arr, np.ndarray) else "value"
        raise InvalidInput(f"{what} must be a 1-D uint64 array of ring elements, got a {shape}")


def _draw(rng: RandomSource, length: int) -> npt.NDArray[np.uint64]:
    # A faulty source must not silently yield short or mistyped shares: that would break the
    # sum invariant or broadcast one value over the vector. It is our fault, not the
    # caller's, hence MpcError (INTERNAL) rather than InvalidInput.
    share = rng.uint64(length)
    if not isinstance(share, np.ndarray) or share.dtype != np.uint64 or share.shape != (length,):
        raise MpcError(f"the random source returned a malformed vector for length {length}")
    return share
