"""A dataset as its owner declares it, and the two checks that hang on a declaration.

DESIGN 1 and 3: the organization that owns a dataset says what it means (shape, element
domain, fixed-point bits, the privacy unit it vouches for, its release policy) on its own
node. An analyst's spec must conform to the declaration; it can never redefine it.

- `Declaration.validate` runs when the organization submits values. Its errors go back to
  the organization's own system only, so they may say how many values are wrong and where.
- `conform` (`mpcnode.core.conformance`) runs at Prepare. It looks at the spec
  and the declaration only, never at stored values, so a refusal cannot be an oracle.

Pure: no I/O, no gRPC. Values are numpy arrays; refusals are `mpcnode.errors` types.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.core.cohorts import (
    MAX_RECORDS,
    STATS,
    CohortLayout,
    Group,
    element_bound,
    record_step,
)
from mpcnode.core.privacy import Unit
from mpcnode.core.release_policy import ReleasePolicy
from mpcnode.core.spec import COMPARISON_KINDS, MAX_FRACTIONAL_BITS, MAX_LENGTH, Kind
from mpcnode.core.spec import check_dataset_name as _check_name
from mpcnode.errors import InvalidInput, shown

Values = npt.NDArray[np.int64] | npt.NDArray[np.float64]


class Shape(enum.Enum):
    """What one organization's value for a dataset looks like."""

    SCALAR = "scalar"  # one number
    VECTOR = "vector"  # `length` numbers (named by `bins` when they are per-bin counts)
    VOTE = "vote"  # one-hot over `bins`: exactly one 1, the rest 0
    POLL = "poll"  # respondents' 0/1 answers; contributes [no, yes] counts over two `bins`
    COHORTS = "cohorts"  # records from a source, grouped: counts, sums, squares per cohort


SHAPE_KINDS: dict[Shape, tuple[Kind, ...]] = {
    Shape.SCALAR: (Kind.SUM, Kind.MEAN, Kind.COUNT, *COMPARISON_KINDS),
    Shape.VECTOR: (Kind.SUM, Kind.MEAN, Kind.COUNT),
    Shape.VOTE: (Kind.HISTOGRAM,),
    Shape.POLL: (Kind.HISTOGRAM,),
    Shape.COHORTS: (Kind.COHORTS,),
}


@dataclass(frozen=True)
class Declaration:
    """One dataset as its owner declares it on its own node.

    Invariants once `check` passed: a finite domain with lower <= upper that fits the ring
    after scaling; integer shapes have fractional_bits 0; votes and polls have bins and a
    {0, 1} (vote) or [0, most respondents] (poll) domain; unit=record has a positive
    record bound that one record cannot exceed (a poll's record is one answer: bound 1).
    """

    dataset: str
    shape: Shape
    lower: float
    upper: float
    length: int = 1
    fractional_bits: int = 0
    bins: tuple[str, ...] = ()
    unit: Unit = Unit.ORGANIZATION
    record_bound: float = 0.0
    policy: ReleasePolicy = field(default=ReleasePolicy())
    groups: tuple[Group, ...] = ()  # cohorts: the group-by columns and their categories
    max_records: int = 0  # cohorts: the most records this organization may have
    min_cell: int = 0  # cohorts: every release suppresses cohorts with fewer records in all

    @property
    def layout(self) -> CohortLayout:
        """The cohort layout of a records dataset (empty groups otherwise)."""
        return CohortLayout(self.groups)

    # -- the declaration itself ---------------------------------------------------------------
    def check(self) -> None:
        """Raise InvalidInput naming the first field that is wrong (sent to the owner)."""
        _check_name(self.dataset)
        if not 0 <= self.fractional_bits <= MAX_FRACTIONAL_BITS:
            raise InvalidInput(f"fractional_bits must be 0 to {MAX_FRACTIONAL_BITS}")
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise InvalidInput("the domain's lower and upper must be finite numbers")
        if self.lower > self.upper:
            raise InvalidInput(f"lower ({self.lower:g}) is above upper ({self.upper:g})")
        if self.fractional_bits == 0 and not (
            float(self.lower).is_integer() and float(self.upper).is_integer()
        ):
            raise InvalidInput("integer values (fractional_bits 0) need integer lower and upper")
        largest = max(abs(self.lower), abs(self.upper))
        if math.ldexp(largest, self.fractional_bits) >= 2.0**62:
            raise InvalidInput(
                "the domain times 2^fractional_bits must stay below 2^62; narrow the domain "
                "or use fewer fractional bits"
            )
        if self.shape is Shape.COHORTS:
            self._check_cohorts()
        elif self.groups or self.max_records or self.min_cell:
            raise InvalidInput("groups, max_records and min_cell are for shape = cohorts")
        self._check_shape()
        self._check_unit()
        self.policy.check()

    def _check_shape(self) -> None:
        if len(set(self.bins)) != len(self.bins) or any(not b for b in self.bins):
            raise InvalidInput("bins must be distinct, non-empty names")
        if any(len(b) > 64 for b in self.bins) or len(self.bins) > 10_000:
            raise InvalidInput("at most 10000 bins of at most 64 characters each")
        if self.shape is Shape.SCALAR and self.length != 1:
            raise InvalidInput("a scalar has length 1; declare shape=vector for more")
        if not 1 <= self.length <= MAX_LENGTH:
            raise InvalidInput(f"length must be 1 to {MAX_LENGTH}")
        if self.shape in (Shape.VOTE, Shape.POLL):
            if self.fractional_bits or self.lower != 0:
                raise InvalidInput(f"a {self.shape.value} counts whole items from lower = 0")
            if self.shape is Shape.VOTE and (len(self.bins) < 2 or self.upper != 1):
                raise InvalidInput("a vote needs at least two bins and the domain [0, 1]")
            if self.shape is Shape.POLL and (len(self.bins) != 2 or self.upper < 1):
                raise InvalidInput(
                    "a poll has two bins (the answers 0 and 1, e.g. no,yes); its upper is the "
                    "most respondents this organization may have"
                )
        elif self.shape is Shape.SCALAR and self.bins:
            raise InvalidInput("bins are for votes, polls and per-bin count vectors")
        if self.bins and self.length != len(self.bins):
            raise InvalidInput(f"length is {self.length} but there are {len(self.bins)} bins")

    def _check_cohorts(self) -> None:
        self.layout.check()
        if self.length != self.layout.size:
            raise InvalidInput(
                f"length is {self.length}; the groups make {self.layout.size} cohorts"
            )
        if not 1 <= self.max_records <= MAX_RECORDS:
            raise InvalidInput(
                "a records dataset needs max_records: the most records (rows) this "
                "organization may have, 1 to 2^40 (it bounds the sums and the "
                "organization-level sensitivity)"
            )
        if self.bins:
            raise InvalidInput("cohorts are named by their groups: leave bins empty")
        if not 0 <= self.min_cell <= self.max_records:
            raise InvalidInput("min_cell must be 0 (no suppression required) to max_records")
        step = record_step(self.lower, self.upper, self.fractional_bits)
        if element_bound(self.max_records, step) >= 2**62:
            raise InvalidInput(
                "max_records x (the largest |value| x 2^fractional_bits)^2 must stay below "
                "2^62 (the sums of squares); narrow the bounds or use fewer fractional bits"
            )
        if self.unit is Unit.RECORD and self.record_bound:
            raise InvalidInput(
                "a records dataset needs no record_bound: the node clips each record to "
                "[lower, upper], which sets what one record can change"
            )

    def _check_unit(self) -> None:
        if self.shape is Shape.COHORTS:
            return
        bound = self.record_bound
        if self.unit is Unit.ORGANIZATION:
            if bound:
                raise InvalidInput("record_bound is for unit=record")
            return
        if self.shape is Shape.VOTE:
            raise InvalidInput("a vote is one organization's voice: its unit is organization")
        if self.shape is Shape.POLL and bound != 1:
            raise InvalidInput("a poll's record is one answer: record_bound must be 1")
        width = self.upper - self.lower
        if not (math.isfinite(bound) and 0 < bound <= max(width, 1)):
            raise InvalidInput(
                "unit=record needs a record_bound above 0 and at most upper - lower: the most "
                "one record can change one element of this organization's value"
            )

    @property
    def contribution_length(self) -> int:
        """Elements this node shares for the dataset (a poll shares its two counts; records
        the count, sum and sum of squares of each cohort)."""
        if self.shape is Shape.COHORTS:
            return len(STATS) * self.length
        return 2 if self.shape is Shape.POLL else self.length

    def canonical_bytes(self) -> bytes:
        """A deterministic encoding of every field (floats as float.hex)."""
        doc = {
            "bins": list(self.bins),
            "dataset": self.dataset,
            "fractional_bits": self.fractional_bits,
            "length": self.length,
            "lower": float(self.lower).hex(),
            "policy": self.policy.canonical(),
            "record_bound": float(self.record_bound).hex(),
            "shape": self.shape.value,
            "unit": self.unit.value,
            "upper": float(self.upper).hex(),
        }
        if self.shape is Shape.COHORTS:  # absent otherwise: older fingerprints stay as they were
            doc["groups"] = [[g.column, list(g.categories)] for g in self.groups]
            doc["max_records"] = self.max_records
            doc["min_cell"] = self.min_cell
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical encoding, hex: what release records and listings cite."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def describe(self) -> str:
        """One line for people: shape, domain, encoding, unit, fingerprint prefix."""
        if self.shape is Shape.COHORTS:
            return (
                f"cohorts {self.layout.describe()} ({self.length} cohorts), records clipped to "
                f"[{_fmt(self.lower)}, {_fmt(self.upper)}], fractional_bits "
                f"{self.fractional_bits}, at most {self.max_records} records, cohorts under "
                f"{self.min_cell} records suppressed, unit "
                f"{self.unit.value}, declaration {self.fingerprint[:12]}"
            )
        shape = f"{self.shape.value}" + (f"[{self.length}]" if self.length > 1 else "")
        bins = f" bins {','.join(self.bins)}" if self.bins else ""
        unit = self.unit.value + (
            f" (record_bound {self.record_bound:g})" if self.unit is Unit.RECORD else ""
        )
        return (
            f"{shape}{bins} in [{_fmt(self.lower)}, {_fmt(self.upper)}], fractional_bits "
            f"{self.fractional_bits}, unit {unit}, declaration {self.fingerprint[:12]}"
        )

    # -- submit time: the owner's values ------------------------------------------------------
    def validate(self, values: Values) -> Values:
        """Check the owner's values against the declaration; return them normalized.

        Returns int64 for integer declarations (integral doubles converted exactly) and
        float64 otherwise: `values` itself when it already has that dtype (not a copy).
        The message goes to the owner's own system only, so it says how
        many values are wrong and where the first is; it still never quotes a value.
        """
        where = f"values for dataset {shown(self.dataset)}"
        if not isinstance(values, np.ndarray) or values.ndim != 1:
            raise InvalidInput(f"{where} must be a 1-D array (a scalar is length 1)")
        if self.shape is Shape.COHORTS:
            return self._validate_cohorts(values, where)
        if values.dtype not in (np.dtype(np.int64), np.dtype(np.float64)):
            raise InvalidInput(f"{where} have dtype {values.dtype}; send int64 or float64")
        if values.dtype == np.float64:
            _refuse(~np.isfinite(values), where, "not finite (NaN or infinity)")
        if self.shape is Shape.POLL:
            if not 0 <= len(values) <= self.upper:
                raise InvalidInput(
                    f"{where}: {len(values)} answers, but the declaration allows at most "
                    f"{_fmt(self.upper)} respondents"
                )
        elif len(values) != self.length:
            raise InvalidInput(
                f"{where}: {len(values)} values, but the declaration says length {self.length}"
            )
        if self.fractional_bits == 0 and values.dtype == np.float64:
            _refuse(values != np.trunc(values), where, "with a fractional part")
        lower, upper = (0, 1) if self.shape is Shape.POLL else (self.lower, self.upper)
        # No copy where none is needed: a 10^7-element input must not be held twice.
        if values.dtype == np.int64 and self.fractional_bits == 0:
            checked: Values = values
            low, high = int(lower), int(upper)
        else:
            checked = values.astype(np.float64, copy=False)
            low, high = float(lower), float(upper)  # type: ignore[assignment]
        _refuse(checked < low, where, f"below the declared lower {_fmt(lower)}")
        _refuse(checked > high, where, f"above the declared upper {_fmt(upper)}")
        if self.shape is Shape.VOTE and int(np.count_nonzero(checked)) != 1:
            raise InvalidInput(
                f"{where}: a vote is one-hot, exactly one 1 among {len(self.bins)} bins "
                f"({','.join(self.bins)}); this one has {int(np.count_nonzero(checked))} ones"
            )
        if self.fractional_bits == 0:
            return checked.astype(np.int64, copy=False)
        return checked

    def _validate_cohorts(self, values: Values, where: str) -> Values:
        """The node's own cohort vector, checked again before it is stored: a bug in the
        aggregation must not become a contribution outside what the declaration bounds."""
        if values.dtype != np.int64 or len(values) != self.contribution_length:
            raise InvalidInput(
                f"{where}: a records dataset stores {self.contribution_length} int64 elements "
                "(count, sum, sum of squares per cohort), computed by its node"
            )
        size = self.length
        counts, sums, squares = values[:size], values[size : 2 * size], values[2 * size :]
        step = record_step(self.lower, self.upper, self.fractional_bits)
        # Each count first, so that neither the total nor count x step^2 (below 2^62 for
        # max_records, `_check_cohorts`) can wrap int64; sums compared without abs().
        _refuse((counts < 0) | (counts > self.max_records), where, "with a count out of range")
        if sum(int(c) for c in counts) > self.max_records:
            raise InvalidInput(f"{where}: more records than the declared {self.max_records}")
        limit = counts * step
        _refuse((sums < -limit) | (sums > limit), where, "with a sum beyond count x bound")
        _refuse((squares < 0) | (squares > limit * step), where, "with a bad square")
        return values


def _refuse(mask: npt.NDArray[np.bool_], where: str, what: str) -> None:
    if mask.any():
        n = int(np.count_nonzero(mask))
        first = int(np.argmax(mask))
        plural = "value" if n == 1 else "values"
        raise InvalidInput(f"{where}: {n} {plural} {what} (first at index {first})")


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def declaration_to_doc(decl: Declaration) -> dict[str, object]:
    """Plain data for storage (JSON) and for `--json` listings."""
    doc = json.loads(decl.canonical_bytes())
    for key in ("lower", "upper", "record_bound"):
        doc[key] = float.fromhex(doc[key])
    doc["policy"] = {k: v for k, v in decl.policy.__dict__.items()}
    return doc  # type: ignore[no-any-return]


def declaration_from_doc(doc: dict[str, Any]) -> Declaration:
    """Rebuild a declaration from `declaration_to_doc` (or a config table); then `check` it."""
    policy = ReleasePolicy(**doc.get("policy", {}))
    return Declaration(
        dataset=doc["dataset"],
        shape=Shape(doc["shape"]),
        lower=float(doc["lower"]),
        upper=float(doc["upper"]),
        length=int(doc.get("length", 1)),
        fractional_bits=int(doc.get("fractional_bits", 0)),
        bins=tuple(doc.get("bins", ())),
        unit=Unit(doc.get("unit", "organization")),
        record_bound=float(doc.get("record_bound", 0.0)),
        policy=policy,
        groups=tuple(
            Group(str(c), tuple(str(x) for x in cats)) for c, cats in doc.get("groups", ())
        ),
        max_records=int(doc.get("max_records", 0)),
        min_cell=int(doc.get("min_cell", 0)),
    )


__all__ = [
    "SHAPE_KINDS",
    "Declaration",
    "ReleasePolicy",
    "Shape",
    "Values",
    "declaration_from_doc",
    "declaration_to_doc",
]
