"""Shamir secret sharing over GF(p) (Shamir 1979), the sharing of the comparison protocols.

Party i (1-based: its place in the sorted participant list) holds f(i) for a random
polynomial f of degree t with f(0) = secret. Any t shares are uniform and independent of the
secret; any t + 1 determine it (Lagrange interpolation at 0). With an honest majority
(n >= 2t + 1) the product of two degree-t sharings, a degree-2t sharing, still has enough
points to be interpolated, which is what multiplication by degree reduction rests on
(Gennaro, Rabin and Rabin 1998: `reduction_weights`).

Pure: no I/O, randomness injected.
"""

from __future__ import annotations

from collections.abc import Sequence

from mpcnode.core.field import P, inverse, random_elements
from mpcnode.core.randomness import RandomSource


def honest_majority_threshold(n: int) -> int:
    """The largest t with n >= 2t + 1: how many colluding parties a round tolerates."""
    return (n - 1) // 2


def share(secrets: Sequence[int], t: int, n: int, rng: RandomSource) -> list[list[int]]:
    """Shares of each secret for parties 1..n: result[j][k] is party j+1's share of secret k.

    A fresh random polynomial of degree t per secret (a sharing of zero: pass zeros).
    """
    coefficients = random_elements(rng, t * len(secrets))
    out: list[list[int]] = [[0] * len(secrets) for _ in range(n)]
    for k, secret in enumerate(secrets):
        coeffs = coefficients[k * t : (k + 1) * t]
        for j in range(n):
            x = j + 1
            acc = 0
            for c in reversed(coeffs):  # Horner, highest degree first
                acc = (acc + c) * x % P
            out[j][k] = (acc + secret) % P
    return out


def lagrange_at_zero(points: Sequence[int]) -> list[int]:
    """Weights w_i with f(0) = sum_i w_i f(x_i) for any f of degree < len(points)."""
    return _lagrange_at(points, 0)


def reduction_weights(n: int) -> list[int]:
    """GRR degree reduction: the weights that interpolate a degree-2t sharing at 0.

    Each party reshares its local product with degree t; party j's new share is
    sum_i w_i * (party i's reshare to j), a degree-t sharing of the product.
    """
    return lagrange_at_zero(range(1, n + 1))


def reconstruct(shares: Sequence[Sequence[int]], t: int) -> list[int]:
    """The secrets from every party's shares (shares[j] = party j+1's), checking consistency.

    All n shares must lie on one polynomial of degree <= t: interpolating from the first
    t + 1 points must predict every other share. A mismatch raises ValueError: a party
    deviated or a share was damaged.
    """
    n = len(shares)
    if n < t + 1:
        raise ValueError(f"{n} shares cannot determine a degree-{t} polynomial")
    base = list(range(1, t + 2))
    at_zero = lagrange_at_zero(base)
    checks = [(x, _lagrange_at(base, x)) for x in range(t + 2, n + 1)]
    secrets = []
    for k in range(len(shares[0])):
        ys = [shares[j][k] for j in range(t + 1)]
        secrets.append(sum(w * y for w, y in zip(at_zero, ys, strict=True)) % P)
        for x, weights in checks:
            predicted = sum(w * y for w, y in zip(weights, ys, strict=True)) % P
            if predicted != shares[x - 1][k]:
                raise ValueError(f"share {k} of party {x} is not on the degree-{t} polynomial")
    return secrets


def _lagrange_at(points: Sequence[int], at: int) -> list[int]:
    weights = []
    for i, xi in enumerate(points):
        num, den = 1, 1
        for j, xj in enumerate(points):
            if i != j:
                num = num * (at - xj) % P
                den = den * (xi - xj) % P
        weights.append(num * inverse(den) % P)
    return weights
