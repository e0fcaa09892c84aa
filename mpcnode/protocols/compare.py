"""Secure comparison with a shared result bit, after Catrina and de Hoogh (2010).

O. Catrina and S. de Hoogh, "Improved Primitives for Secure Multiparty Integer Computation",
SCN 2010: LTZ(a) = -Trunc(a, k, k-1), with Trunc built on Mod2m (their Protocols 3.2 and
3.3). For a shared integer a with -2^(k-1) <= a < 2^(k-1):

1. r' = sum_i 2^i r_i from m = k-1 joint random bits, r'' a joint random integer of
   kappa + 1 bits per dealer; open c = 2^(k-1) + a + 2^m r'' + r'. c is statistically
   close to uniform (distance about 2^-kappa) and independent of a.
2. c' = c mod 2^m; u = [c' < r'] by BitLT on c' (public) and the bits of r' (shared);
3. a mod 2^m = c' - r' + 2^m u, and LTZ(a) = (a mod 2^m - a) / 2^m.

BitLT is the carry-out of c' + not(r') + 1 (c' >= r' exactly when it carries), computed by
the logarithmic-depth prefix of (propagate, generate) pairs (their section 4, after
Damgard et al. 2006): ceil(log2 m) multiplication steps. One LTZ is 1 + ceil(log2 m)
communication steps; any number of them run side by side in the same steps.

Only c is opened, and it is masked: no comparison outcome is ever revealed here.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from mpcnode.core.field import P, inverse
from mpcnode.protocols.engine import KAPPA, Exchange, Inbox, Needs, Party


def ltz_needs(count: int, k: int) -> Needs:
    """The randomness `count` comparisons of k-bit values consume."""
    if k < 1:
        raise ValueError(f"a {k}-bit comparison does not fit the field")
    return Needs(bits=count * (k - 1), masks=count)


def ltz(party: Party, values: Sequence[int], k: int) -> Generator[Exchange, Inbox, list[int]]:
    """Shares of [a < 0] for each shared a in [-2^(k-1), 2^(k-1))."""
    if not values:
        return []
    if k < 1 or k + KAPPA + party.n.bit_length() + 3 > 126:  # the mask must not wrap mod p
        raise ValueError(f"a {k}-bit comparison among {party.n} parties does not fit the field")
    m = k - 1
    count = len(values)
    bits = party.pool.take("bits", count * m)
    high = party.pool.take("masks", count)
    masked, low_masks = [], []
    for i, a in enumerate(values):
        rb = bits[i * m : (i + 1) * m]
        r_low = sum(b << j for j, b in enumerate(rb)) % P
        low_masks.append(r_low)
        masked.append(((1 << (k - 1)) + a + (high[i] << m) + r_low) % P)
    opened = yield from party.open(masked)
    lows = [c % (1 << m) for c in opened]
    if m == 0:  # one-bit values {-1, 0}: nothing below the sign, so no carry to compute
        below = [0] * count
    else:
        below = yield from _bit_lt(party, lows, [bits[i * m : (i + 1) * m] for i in range(count)])
    inv = inverse(1 << m)
    out = []
    for a, c_low, r_low, u in zip(values, lows, low_masks, below, strict=True):
        a_mod = (c_low - r_low + (u << m)) % P
        out.append((a_mod - a) * inv % P)
    return out


def _bit_lt(
    party: Party, publics: Sequence[int], shared_bits: Sequence[Sequence[int]]
) -> Generator[Exchange, Inbox, list[int]]:
    """Shares of [c < r] for public c and r given by its shared bits (least significant first)."""
    # Per comparison, (propagate, generate) per bit of c + not(r) + carry-in 1.
    trees: list[list[tuple[int, int]]] = []
    for c, rb in zip(publics, shared_bits, strict=True):
        pairs = []
        for i, r_i in enumerate(rb):
            a_i = (c >> i) & 1
            b_i = (1 - r_i) % P  # not(r_i)
            g = b_i if a_i else 0
            p = (1 - b_i) % P if a_i else b_i  # a xor b with a public
            if i == 0:  # the carry-in: generate = a_0 or b_0
                g, p = (1 if a_i else b_i), 0
            pairs.append((p, g))
        trees.append(pairs)
    while len(trees[0]) > 1:
        lefts, rights = [], []  # per combined pair: (p_hi * p_lo, p_hi * g_lo)
        for pairs in trees:
            for j in range(0, len(pairs) - 1, 2):
                (p_lo, g_lo), (p_hi, _) = pairs[j], pairs[j + 1]
                lefts += [p_hi, p_hi]
                rights += [p_lo, g_lo]
        products = yield from party.mul(lefts, rights)
        position = 0
        for index, pairs in enumerate(trees):
            combined = []
            for j in range(0, len(pairs) - 1, 2):
                g_hi = pairs[j + 1][1]
                pp, pg = products[position], products[position + 1]
                position += 2
                combined.append((pp, (g_hi + pg) % P))
            if len(pairs) % 2:
                combined.append(pairs[-1])
            trees[index] = combined
    return [(1 - pairs[0][1]) % P for pairs in trees]
