"""What the node store holds for a dataset: its record (declaration and period) and its input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mpcnode.core.declaration import Declaration, Values
from mpcnode.core.release_rules import ledger_key


@dataclass(frozen=True)
class DatasetRecord:
    """A declared dataset and its current period."""

    declaration: Declaration
    period: str
    source: str  # "config" or "owner"
    declared_ms: int

    @property
    def key(self) -> str:
        """The ledger key of the current period."""
        return ledger_key(self.declaration.dataset, self.period)


@dataclass(frozen=True)
class StoredInput:
    """An organization's input for one dataset's current period, as its node holds it."""

    dataset: str
    input_id: str
    values: Values
    submitted_ms: int
    releases: int  # partials released in this period
    declaration: Declaration
    period: str
    # SHA-256 of the values' little-endian bytes (what a seal compares), kept at submit time.
    values_hash: str = ""
    snapshot: str = ""  # a records dataset: the source snapshot its values were computed from


def next_period(current: str, used: Sequence[str]) -> str:
    """The label after `current` that `used` does not hold yet."""
    candidate = str(int(current) + 1) if current.isdigit() else str(len(used) + 1)
    while candidate in used:
        candidate = str(int(candidate) + 1) if candidate.isdigit() else candidate + "+"
    return candidate
