"""The options of the comparison computations (DESIGN 9) and the checks that need no data.

Kinds: `max`, `min` (each with who holds it), `auction` (first or second price), `quantile`
(the median is the quantile 1/2) and `threshold` (YES or NO for sum >= T); and, on a sum or
mean, `suppress_dominant` (the (n, k) dominance rule: the total is withheld when its k
largest contributions exceed a share p of it). Fractions are exact (`Fraction`); on the wire
and in the canonical spec they are strings such as "1/2" or "0.8".

All of them run as multi-step rounds over Shamir shares with an honest majority, so a round
needs at least 3 participants (t = floor((n - 1) / 2) colluding parties tolerated).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.errors import InvalidInput, shown

MIN_PARTIES = 3  # an honest majority needs n >= 2t + 1 with t >= 1
MAX_VALUE_BITS = 64  # bits of (upper - lower) * 2^f: keeps every comparison within the field
MAX_DENOMINATOR = 1 << 20
PRICES = ("first", "second")
_FRACTION_RE = re.compile(r"-?(\d{1,20}(\.\d{1,6})?|\.\d{1,6}|\d{1,20}/\d{1,7})")


@dataclass(frozen=True)
class ComparisonOptions:
    """What a comparison computation (or a dominance-checked sum) is asked to decide."""

    price: str = ""  # auction: "first" or "second"
    quantile: Fraction = Fraction(0)  # quantile: in (0, 1]; the median is 1/2
    at_least: Fraction | None = None  # threshold: YES when sum >= at_least (x n, below)
    of_participants: bool = False  # threshold: at_least is a fraction of the participants
    suppress_dominant: Fraction = Fraction(0)  # sum/mean: p in (0, 1); 0 is off
    dominant_top: int = 1  # the k of the (n, k) rule
    winner_only: bool = False  # noisy histogram: publish only the argmax (report-noisy-max)

    @property
    def compares(self) -> bool:
        """True when these options make a sum kind a multi-step round."""
        return self.dominance or self.winner_only

    @property
    def dominance(self) -> bool:
        """True when a sum or mean is checked for dominance before it is published."""
        return self.suppress_dominant != 0

    def canonical(self) -> dict[str, object]:
        """Every field, fractions as exact strings (part of the spec's canonical bytes)."""
        return {
            "at_least": "" if self.at_least is None else str(self.at_least),
            "dominant_top": self.dominant_top,
            "of_participants": self.of_participants,
            "price": self.price,
            "quantile": str(self.quantile),
            "suppress_dominant": str(self.suppress_dominant),
            **({"winner_only": True} if self.winner_only else {}),
        }


def options_from_canonical(doc: dict[str, object] | None) -> ComparisonOptions:
    """Rebuild options from `canonical()` (absent: the defaults)."""
    if not doc:
        return ComparisonOptions()
    at_least = str(doc["at_least"])
    return ComparisonOptions(
        price=str(doc["price"]),
        quantile=Fraction(str(doc["quantile"])),
        at_least=Fraction(at_least) if at_least else None,
        of_participants=bool(doc["of_participants"]),
        suppress_dominant=Fraction(str(doc["suppress_dominant"])),
        dominant_top=int(str(doc["dominant_top"])),
        winner_only=bool(doc.get("winner_only", False)),
    )


def parse_fraction(text: str, what: str) -> Fraction:
    """An exact fraction from "0.8", "4/5" or "40"; InvalidInput naming `what` otherwise.

    The form is matched first: `Fraction` would expand "1e99999999" for minutes.
    """
    try:
        if not _FRACTION_RE.fullmatch(text.strip()):
            raise ValueError(text)
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(
            f"{what} is {shown(text)}: write a number such as 0.8, 40 or a fraction 4/5, "
            "with at most 6 decimals"
        ) from None
    if value.denominator > MAX_DENOMINATOR:
        raise InvalidInput(f"{what} {shown(text)} is too fine: at most 6 decimal places")
    return value


def value_bits(lower: float, upper: float, fractional_bits: int) -> int:
    """Bits of the largest encoded value once the domain is shifted to start at 0."""
    # Encodings round to nearest, so they span from floor(lower 2^f) to ceil(upper 2^f).
    scale = 1 << fractional_bits
    span = math.ceil(Fraction(upper) * scale) - math.floor(Fraction(lower) * scale)
    return max(1, span.bit_length())


def check_comparison(
    kind: str,
    options: ComparisonOptions,
    lower: float,
    upper: float,
    fractional_bits: int,
    length: int,
    privacy: tuple[bool, str, str],
    max_parties: int,
) -> None:
    """Raise InvalidInput naming the first option that does not fit `kind` and its domain.

    `privacy` is (enabled, mechanism, placement) of the spec.
    """
    comparing = kind in ("max", "min", "auction", "quantile", "threshold")
    if not comparing and not options.compares:
        if options != ComparisonOptions():
            raise InvalidInput(f"comparison options are not for a {kind}")
        return
    if options.dominance and kind not in ("sum", "mean", "cohorts"):
        raise InvalidInput("suppress_dominant is an option of sum, mean and cohorts only")
    if options.winner_only:
        _check_winner_only(kind, options, privacy)
    elif length != 1 and kind != "cohorts":
        raise InvalidInput(f"a {kind} compares one value per party: spec.length must be 1")
    _check_noise(kind, options, privacy)
    if max_parties < MIN_PARTIES:
        raise InvalidInput(
            f"a {kind} needs at least {MIN_PARTIES} parties: it runs with an honest majority "
            f"(t < n/2 colluding parties), and {max_parties} invited cannot have one"
        )
    bits = value_bits(lower, upper, fractional_bits)
    if bits > MAX_VALUE_BITS:
        raise InvalidInput(
            f"(upper - lower) x 2^fractional_bits needs {bits} bits; comparisons take at "
            f"most {MAX_VALUE_BITS}: narrow the bounds or use fewer fractional bits"
        )
    _check_kind_options(kind, options, lower, max_parties)


def _check_winner_only(
    kind: str, options: ComparisonOptions, privacy: tuple[bool, str, str]
) -> None:
    if kind != "histogram" or not privacy[0] or options != ComparisonOptions(winner_only=True):
        raise InvalidInput(
            "winner_only is report-noisy-max: an option of a noisy histogram alone (with "
            "--dp and no other comparison option)"
        )


def _check_noise(kind: str, options: ComparisonOptions, privacy: tuple[bool, str, str]) -> None:
    """DP composes with a threshold (noise on the sum before the comparison) and with
    report-noisy-max, as distributed discrete Laplace or Skellam noise; not otherwise."""
    enabled, mechanism, placement = privacy
    if not enabled:
        return
    if kind != "threshold" and not options.winner_only:
        what = f"{kind} with suppress_dominant" if options.dominance else kind
        raise InvalidInput(
            f"differential privacy on a {what} is not available: ask for the exact "
            "computation, a noisy threshold, or a noisy histogram's winner (winner_only)"
        )
    if placement != "distributed" or mechanism not in ("discrete_laplace", "skellam"):
        raise InvalidInput(
            "a noisy comparison takes distributed discrete_laplace or skellam noise: the "
            "nodes add it inside the computation, so nobody sees the noisy value"
        )


def _check_kind_options(
    kind: str, options: ComparisonOptions, lower: float, max_parties: int
) -> None:
    if options.winner_only:
        return
    expected = ComparisonOptions(
        price=options.price if kind == "auction" else "",
        quantile=options.quantile if kind == "quantile" else Fraction(0),
        at_least=options.at_least if kind == "threshold" else None,
        of_participants=options.of_participants if kind == "threshold" else False,
        suppress_dominant=options.suppress_dominant,
        dominant_top=options.dominant_top if options.dominance else 1,
    )
    if options != expected:
        raise InvalidInput(f"spec.comparison sets an option that is not for a {kind}")
    if kind == "auction" and options.price not in PRICES:
        raise InvalidInput("an auction needs spec.comparison.price: first or second")
    if kind == "quantile" and not 0 < options.quantile <= 1:
        raise InvalidInput("spec.comparison.quantile must be in (0, 1]; the median is 1/2")
    if kind == "threshold":
        if options.at_least is None:
            raise InvalidInput("a threshold needs spec.comparison.at_least")
        if abs(options.at_least) > 1 << 64:
            raise InvalidInput("spec.comparison.at_least is beyond 2^64")
    if options.dominance:
        if not 0 < options.suppress_dominant < 1:
            raise InvalidInput("suppress_dominant must be a share in (0, 1), such as 0.8")
        if not 1 <= options.dominant_top < max_parties:
            raise InvalidInput(
                f"dominant_top (k of the (n, k) rule) must be 1 to {max_parties - 1}"
            )
        if lower < 0:
            raise InvalidInput("dominance is for non-negative values: spec.lower must be >= 0")
