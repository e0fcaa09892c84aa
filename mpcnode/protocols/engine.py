"""One party's side of a computation over Shamir shares, as a generator of exchanges.

A program is a generator that yields an `Exchange` (what this party sends to every other
party in one communication step, batched) and is resumed with the `Inbox` (what every other
party sent it in that step). It returns this party's shares of the outputs. Every step's
messages have sizes fixed by the program and the participant count, never by a value, so
the number of steps and every message length are public.

Threat model: passive (honest-but-curious) parties with an honest majority, at most
t = floor((n - 1) / 2) of them colluding. Everything a coalition of t sees is uniform
(shares of degree t) or statistically close to uniform (the masked openings of `compare`,
2^-kappa), and independent of the inputs; only the outputs are opened.

No dealer: all correlated randomness (random field elements, random bits, masks, sharings
of zero) is the sum of what t + 1 parties dealt in the first step (`preprocess`), so it is
unknown to any coalition of t, which misses at least one of those dealers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from mpcnode.core import field as gf
from mpcnode.core import shamir
from mpcnode.core.field import P
from mpcnode.core.randomness import RandomSource

KAPPA = 40  # statistical security of the masked openings, in bits
# The widest comparison that fits the field for up to 1000 parties: the masked opening
# 2^(k-1) + a + 2^(k-1) r'' + r' stays below p when k + kappa + bits(n) + 3 <= 126.
MAX_COMPARE_BITS = 126 - KAPPA - 3 - 10


class ProtocolError(Exception):
    """A message of the wrong size, or shares that do not lie on one polynomial."""

    def __init__(self, message: str, party: int = 0) -> None:
        super().__init__(message)
        self.party = party  # 1-based index of the party at fault, 0 when it cannot be told


@dataclass(frozen=True)
class Exchange:
    """One communication step: the elements this party sends to each other party (by index)."""

    outgoing: dict[int, list[int]]


Inbox = dict[int, list[int]]
Steps = Generator[Exchange, Inbox, list[int]]


@dataclass(frozen=True)
class Needs:
    """The correlated randomness a program consumes, fixed by its kind and the party count."""

    bits: int = 0  # joint random bits (for the comparisons' masks)
    masks: int = 0  # joint random integers of KAPPA + 1 bits (the masks' high parts)
    outputs: int = 0  # sharings of zero that re-randomize the opened outputs

    def __add__(self, other: Needs) -> Needs:
        return Needs(self.bits + other.bits, self.masks + other.masks, self.outputs + other.outputs)


@dataclass
class Pool:
    """Preprocessed shares, taken in order; running out is a programming error."""

    bits: list[int] = field(default_factory=list)
    masks: list[int] = field(default_factory=list)
    zeros: list[int] = field(default_factory=list)

    def take(self, name: str, count: int) -> list[int]:
        """The next `count` shares of kind `name` (bits, masks, zeros)."""
        source: list[int] = getattr(self, name)
        if len(source) < count:
            raise RuntimeError(f"the program needs more {name} than it declared")
        taken, source[:] = source[:count], source[count:]
        return taken


class Party:
    """This party's view of a computation: its index (1-based), n, t and its randomness."""

    def __init__(self, index: int, n: int, rng: RandomSource) -> None:
        if n < 3:
            raise ValueError("secure comparison needs at least 3 parties (honest majority)")
        self.index, self.n, self.t = index, n, shamir.honest_majority_threshold(n)
        self.rng = rng
        self.pool = Pool()
        self._weights = shamir.reduction_weights(n)
        self.steps = 0

    @property
    def others(self) -> list[int]:
        """Every other party's index."""
        return [j for j in range(1, self.n + 1) if j != self.index]

    def exchange(
        self, outgoing: dict[int, list[int]], expect: int | Callable[[int], int]
    ) -> Generator[Exchange, Inbox, Inbox]:
        """Send `outgoing` and receive `expect` elements (or `expect(sender)`) from every
        other party."""
        self.steps += 1
        inbox = yield Exchange(outgoing)
        if set(inbox) != set(self.others):
            raise ProtocolError(f"step {self.steps}: messages from every other party expected")
        for sender, elements in inbox.items():
            wanted = expect if isinstance(expect, int) else expect(sender)
            if len(elements) != wanted:
                raise ProtocolError(
                    f"step {self.steps}: party {sender} sent {len(elements)} elements, "
                    f"{wanted} expected",
                    sender,
                )
        return inbox

    def deal(
        self, secrets: Sequence[int], degree: int
    ) -> Generator[Exchange, Inbox, list[list[int]]]:
        """Share `secrets` with every party (one step); result[d-1] = dealer d's sharing."""
        mine = shamir.share(secrets, degree, self.n, self.rng)
        outgoing = {j: mine[j - 1] for j in self.others}
        inbox = yield from self.exchange(outgoing, len(secrets))
        inbox[self.index] = mine[self.index - 1]
        return [inbox[d] for d in range(1, self.n + 1)]

    def open(
        self, shares: Sequence[int], degree: int | None = None
    ) -> Generator[Exchange, Inbox, list[int]]:
        """Reveal shared values to every party (one step), checking the shares' degree."""
        if not shares:
            return []
        inbox = yield from self.exchange({j: list(shares) for j in self.others}, len(shares))
        inbox[self.index] = list(shares)
        try:
            return shamir.reconstruct(
                [inbox[d] for d in range(1, self.n + 1)], self.t if degree is None else degree
            )
        except ValueError as exc:
            raise ProtocolError(f"step {self.steps}: {exc}") from None

    def mul(self, xs: Sequence[int], ys: Sequence[int]) -> Generator[Exchange, Inbox, list[int]]:
        """Shares of x*y for each pair (one step): local product, then GRR degree reduction."""
        if not xs:
            return []
        products = [x * y % P for x, y in zip(xs, ys, strict=True)]
        dealt = yield from self.deal(products, self.t)
        return [
            sum(w * dealt[d][k] for d, w in enumerate(self._weights)) % P
            for k in range(len(products))
        ]

    def preprocess(self, inputs: Sequence[int], needs: Needs) -> Steps:
        """Step 1 and 2: share inputs, deal the randomness, and turn it into random bits.

        Returns every party's input sharing flattened by dealer (dealer 1's inputs first).
        Random bits follow Damgard, Fitzi, Kiltz, Nielsen and Toft (TCC 2006, section 5):
        with r a joint random element, open r^2 (re-randomized by a degree-2t sharing of
        zero, so the opened polynomial says nothing about r beyond r^2), and take
        (r / sqrt(r^2) + 1) / 2, which is 0 or 1 with probability 1/2 each since r and -r
        are equally likely. r = 0 (probability bits / 2^127) is a ProtocolError.
        """
        count = len(inputs)
        # Only parties 1..t+1 deal randomness: any t+1 parties include an honest one, whose
        # uniform contribution makes each sum uniform to any coalition of t (half the bytes
        # of every party dealing, at n = 2t + 1).
        dealers = self.t + 1
        extra = 2 * needs.bits + needs.masks + needs.outputs
        secrets = list(inputs)
        if self.index <= dealers:
            secrets += gf.random_elements(self.rng, needs.bits)
            secrets += gf.random_below(self.rng, KAPPA + 1, needs.masks)
        mine = shamir.share(secrets, self.t, self.n, self.rng)
        if self.index <= dealers:
            zeros_t = shamir.share([0] * needs.outputs, self.t, self.n, self.rng)
            zeros_2t = shamir.share([0] * needs.bits, 2 * self.t, self.n, self.rng)
            mine = [a + b + c for a, b, c in zip(mine, zeros_t, zeros_2t, strict=True)]
        inbox = yield from self.exchange(
            {j: mine[j - 1] for j in self.others},
            lambda sender: count + (extra if sender <= dealers else 0),
        )
        inbox[self.index] = mine[self.index - 1]
        rows = [inbox[d] for d in range(1, dealers + 1)]

        def total(start: int, size: int) -> list[int]:
            return [sum(row[start + k] for row in rows) % P for k in range(size)]

        shared_inputs = [x for d in range(1, self.n + 1) for x in inbox[d][:count]]
        r = total(count, needs.bits)
        self.pool.masks = total(count + needs.bits, needs.masks)
        self.pool.zeros = total(count + needs.bits + needs.masks, needs.outputs)
        z2 = total(count + needs.bits + needs.masks + needs.outputs, needs.bits)
        squares = yield from self.open(
            [(a * a + z) % P for a, z in zip(r, z2, strict=True)], 2 * self.t
        )
        if any(s == 0 for s in squares):
            raise ProtocolError("a joint random element was 0 (probability 2^-120); retry")
        half = gf.inverse(2)
        self.pool.bits = [
            (a * gf.inverse(gf.sqrt(s)) + 1) * half % P for a, s in zip(r, squares, strict=True)
        ]
        return shared_inputs

    def output(self, shares: Sequence[int]) -> list[int]:
        """The outputs' shares to release: re-randomized, so all n of them reveal only the
        outputs, not the polynomial the computation happened to leave them on."""
        zeros = self.pool.take("zeros", len(shares))
        return [(s + z) % P for s, z in zip(shares, zeros, strict=True)]
