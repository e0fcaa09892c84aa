"""The computation spec as a typed domain object, with every check that needs no data.

A spec is validated when a computation is created (coordinator) and again when a node is
asked to take part (node), by the same function: `ComputationSpec.check(max_parties)`.
The overflow rule of DESIGN 2: n * max(|lower|, |upper|) * 2^f must stay below 2^63 so that
the sum of n encoded inputs can never wrap around the signed range of the ring.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

from mpcnode.core.cohorts import (
    CohortOptions,
    check_cohort_spec,
    cohort_options_from_canonical,
    element_bound,
    record_step,
)
from mpcnode.core.comparison_options import (
    ComparisonOptions,
    check_comparison,
    options_from_canonical,
)
from mpcnode.core.privacy import Mechanism, Privacy, privacy_from_canonical
from mpcnode.errors import InvalidInput, shown

MAX_LENGTH = 1 << 26  # 67 million elements: 512 MiB per share vector, above the 10^7 target
MAX_FRACTIONAL_BITS = 52  # beyond a double's mantissa, more bits add no precision
MAX_PARTIES = 1000
_READER_RE = re.compile(r"(mpc://analyst/)?[a-z0-9][a-z0-9-]{0,62}")
READER_PREFIX = "mpc://analyst/"


def reader_names(readers: tuple[str, ...]) -> frozenset[str]:
    """The analyst names `readers` allow: each entry is a certificate identity
    (`mpc://analyst/ana`) or the bare name in it (`ana`), which mean the same analyst."""
    return frozenset(r.removeprefix(READER_PREFIX) for r in readers)


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class Kind(enum.Enum):
    """What a computation publishes (DESIGN 3)."""

    SUM = "sum"
    MEAN = "mean"
    COUNT = "count"
    HISTOGRAM = "histogram"
    MAX = "max"
    MIN = "min"
    AUCTION = "auction"
    QUANTILE = "quantile"
    THRESHOLD = "threshold"
    COHORTS = "cohorts"


COMPARISON_KINDS = (Kind.MAX, Kind.MIN, Kind.AUCTION, Kind.QUANTILE, Kind.THRESHOLD)


@dataclass(frozen=True)
class ComputationSpec:
    """One computation over the inputs that parties submitted under `dataset`.

    Invariants once `check` passed: lower <= upper, both finite; integer kinds have
    fractional_bits == 0 and integral bounds; histogram length == len(bins); and no sum of
    `max_parties` encoded in-bounds values can overflow the signed 64-bit range.
    """

    name: str
    kind: Kind
    dataset: str
    lower: float
    upper: float
    length: int = 1
    fractional_bits: int = 0
    bins: tuple[str, ...] = ()
    min_parties: int = 2
    readers: tuple[str, ...] = field(default=())
    privacy: Privacy = field(default=Privacy())
    comparison: ComparisonOptions = field(default=ComparisonOptions())
    cohorts: CohortOptions = field(default=CohortOptions())

    @property
    def multi_step(self) -> bool:
        """True when the round runs over Shamir shares in several steps (DESIGN 9)."""
        suppressing = self.kind is Kind.COHORTS and self.cohorts.min_cell > 0
        return self.kind in COMPARISON_KINDS or self.comparison.compares or suppressing

    @property
    def largest_encoded(self) -> int:
        """The largest |element| of one party's encoded contribution: the bound times 2^f,
        or for cohorts its weighted blocks' (`mpcnode.core.cohorts.element_bound`)."""
        step = record_step(self.lower, self.upper, self.fractional_bits)
        if self.kind is Kind.COHORTS:
            return element_bound(self.cohorts.max_records, step)
        return step

    @property
    def is_integer(self) -> bool:
        """True when values are integers (no fixed-point fraction)."""
        return self.fractional_bits == 0

    def check(self, max_parties: int) -> None:
        """Raise InvalidInput naming the first field that is wrong, or the overflow term."""
        if not self.name or len(self.name) > 128:
            raise InvalidInput("spec.name must be 1 to 128 characters")
        check_dataset_name(self.dataset)
        if len(self.readers) > 100 or not all(_READER_RE.fullmatch(r) for r in self.readers):
            raise InvalidInput(
                "spec.readers holds at most 100 analysts, each a certificate identity "
                "(mpc://analyst/<name>) or its name alone, of 1-63 characters (a-z, 0-9, "
                "'-'), as their certificates name them"
            )
        self._check_shape()
        self._check_bounds()
        if self.min_parties < 2:
            raise InvalidInput(
                f"spec.min_parties is {self.min_parties}; it must be at least 2, since an "
                "aggregate over one party is that party's input"
            )
        if not 2 <= max_parties <= MAX_PARTIES:
            raise InvalidInput(
                f"the number of parties must be 2 to {MAX_PARTIES}, not {max_parties}"
            )
        check_overflow(max_parties, self.lower, self.upper, self.fractional_bits)
        self._check_privacy(max_parties)
        privacy = (self.privacy.enabled, self.privacy.mechanism.value, self.privacy.placement.value)
        if self.kind is Kind.COHORTS:
            bounds = (self.lower, self.upper, self.fractional_bits)
            check_cohort_spec(self.bins, self.length, self.cohorts, bounds, privacy, max_parties)
        elif self.cohorts != CohortOptions():
            raise InvalidInput(f"spec.cohorts options are for cohorts, not for {self.kind.value}")
        check_comparison(
            self.kind.value,
            self.comparison,
            self.lower,
            self.upper,
            self.fractional_bits,
            self.length,
            privacy,
            max_parties,
        )

    def _check_privacy(self, max_parties: int) -> None:
        privacy = self.privacy
        privacy.check()
        if not privacy.enabled:
            return
        if privacy.mechanism is Mechanism.RANDOMIZED_RESPONSE and (
            self.kind is not Kind.HISTOGRAM or len(self.bins) != 2
        ):
            raise InvalidInput(
                "randomized response is for yes/no polls: use kind=histogram with exactly two "
                "bins (e.g. no, yes); each node's input lists its respondents' answers as 0 or 1"
            )
        if self.kind is Kind.COHORTS and privacy.record_bound:
            raise InvalidInput(
                "a cohorts release needs no spec.privacy.record_bound: the node clips each "
                "record to spec.lower and spec.upper, which set what one record can change"
            )
        needs_bound = self.kind in (Kind.SUM, Kind.MEAN) and privacy.unit.value == "record"
        if needs_bound and not privacy.record_bound:
            raise InvalidInput(
                "unit=record with a sum or mean needs spec.privacy.record_bound: the most "
                "one record can change one element of a party's input"
            )

    def _check_shape(self) -> None:
        if not 1 <= self.length <= MAX_LENGTH:
            raise InvalidInput(f"spec.length is {self.length}; it must be 1 to {MAX_LENGTH}")
        if not 0 <= self.fractional_bits <= MAX_FRACTIONAL_BITS:
            raise InvalidInput(
                f"spec.fractional_bits is {self.fractional_bits}; it must be 0 to "
                f"{MAX_FRACTIONAL_BITS}"
            )
        if self.kind is Kind.HISTOGRAM:
            if not self.bins:
                raise InvalidInput("a histogram needs spec.bins, the names of its options")
            if any(not 1 <= len(b) <= 64 for b in self.bins):
                raise InvalidInput("every name in spec.bins must be 1 to 64 characters")
            if len(set(self.bins)) != len(self.bins):
                raise InvalidInput("spec.bins has a repeated name; each option must be unique")
            if self.length != len(self.bins):
                raise InvalidInput(
                    f"spec.length is {self.length} but there are {len(self.bins)} bins; "
                    "a histogram's length is its number of bins"
                )
        elif self.bins and self.kind is not Kind.COHORTS:
            raise InvalidInput(
                f"spec.bins is only for histograms and cohorts, not for {self.kind.value}"
            )
        if self.kind in (Kind.COUNT, Kind.HISTOGRAM) and self.fractional_bits:
            raise InvalidInput(
                f"a {self.kind.value} counts whole items: spec.fractional_bits must be 0"
            )

    def _check_bounds(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise InvalidInput("spec.lower and spec.upper must be finite numbers")
        if self.lower > self.upper:
            raise InvalidInput(f"spec.lower ({self.lower:g}) is above spec.upper ({self.upper:g})")
        if self.is_integer and not (
            float(self.lower).is_integer() and float(self.upper).is_integer()
        ):
            raise InvalidInput(
                "integer values need integer bounds: round spec.lower and spec.upper, or set "
                "spec.fractional_bits for real values"
            )
        if self.kind in (Kind.COUNT, Kind.HISTOGRAM) and self.lower < 0:
            raise InvalidInput(f"a {self.kind.value} cannot be negative: spec.lower must be >= 0")

    def canonical_bytes(self) -> bytes:
        """A deterministic encoding of every field, the spec's part of the transcript hash.

        Floats are written with float.hex so the encoding is exact and the same on every
        platform; keys are sorted. Any implementation can reproduce it from the fields.
        """
        doc: dict[str, object] = {
            "bins": list(self.bins),
            "dataset": self.dataset,
            "fractional_bits": self.fractional_bits,
            "kind": self.kind.value,
            "length": self.length,
            "lower": float(self.lower).hex(),
            "min_parties": self.min_parties,
            "name": self.name,
            "readers": list(self.readers),
            "upper": float(self.upper).hex(),
        }
        if self.privacy.enabled:  # absent otherwise, so exact specs keep their known hashes
            doc["privacy"] = self.privacy.canonical()
        if self.comparison != ComparisonOptions():  # the same, for sums without options
            doc["comparison"] = self.comparison.canonical()
        if self.cohorts != CohortOptions():
            doc["cohorts"] = self.cohorts.canonical()
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def spec_from_canonical(data: bytes) -> ComputationSpec:
    """Rebuild a spec from `canonical_bytes` (how the coordinator stores specs)."""
    doc = json.loads(data)
    return ComputationSpec(
        name=doc["name"],
        kind=Kind(doc["kind"]),
        dataset=doc["dataset"],
        lower=float.fromhex(doc["lower"]),
        upper=float.fromhex(doc["upper"]),
        length=doc["length"],
        fractional_bits=doc["fractional_bits"],
        bins=tuple(doc["bins"]),
        min_parties=doc["min_parties"],
        readers=tuple(doc["readers"]),
        privacy=privacy_from_canonical(doc.get("privacy")),
        comparison=options_from_canonical(doc.get("comparison")),
        cohorts=cohort_options_from_canonical(doc.get("cohorts")),
    )


def check_dataset_name(dataset: str) -> None:
    """Raise InvalidInput unless `dataset` is a valid dataset name."""
    # fullmatch: `$` in match() also matches before a trailing newline ("raises\n").
    if not isinstance(dataset, str) or not _NAME_RE.fullmatch(dataset):
        raise InvalidInput(
            f"dataset name {shown(dataset)} must be 1-64 characters of letters, digits, "
            "'.', '_', ':' or '-', starting with a letter or digit"
        )


def check_overflow(n_parties: int, lower: float, upper: float, fractional_bits: int) -> None:
    """Raise InvalidInput if n encoded values in [lower, upper] could sum past 2^63 - 1.

    The bound is computed exactly (Fractions), so it is neither optimistic by float rounding
    nor pessimistic by a safety factor. The message names the term that is too big.
    """
    largest = max(abs(Fraction(lower)), abs(Fraction(upper)))
    encoded = math.ceil(largest * (1 << fractional_bits))
    total = n_parties * encoded
    if total >= 1 << 63:
        raise InvalidInput(
            f"overflow: {n_parties} parties x max(|lower|, |upper|) = {float(largest):g} x "
            f"2^{fractional_bits} (fractional_bits) = about 2^{math.log2(total):.1f}, which does "
            "not fit the signed 64-bit ring (< 2^63); narrow the bounds, use fewer "
            "fractional bits, or invite fewer parties"
        )
