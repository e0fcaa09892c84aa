"""What an owner allows to be released from its dataset: part of its declaration (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mpcnode.errors import InvalidInput


@dataclass(frozen=True)
class ReleasePolicy:
    """What the owner allows to be released from a dataset (checked before any release).

    `allow_exact` covers exact aggregates and central-DP ones (exact to the coordinator);
    `require_dp` refuses exact aggregates but allows central DP. Ceilings and caps of 0 or
    None mean "the node's policy decides": no per-release ceiling, the node's budget cap.
    The organization-level caps bound what record-level releases may cost at organization
    level (group privacy); by default they equal the dataset's caps.
    """

    allow_exact: bool = True
    require_dp: bool = False
    min_parties: int = 0
    max_epsilon: float = 0.0
    max_rho: float = 0.0
    epsilon_cap: float | None = None
    rho_cap: float | None = None
    organization_epsilon_cap: float | None = None
    organization_rho_cap: float | None = None

    def check(self) -> None:
        """Raise InvalidInput naming the first setting that is out of range."""
        if not 0 <= self.min_parties <= 1000:
            raise InvalidInput("policy.min_parties must be 0 (the node's) to 1000")
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or name == "min_parties":
                continue
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidInput(f"policy.{name} must be a finite number >= 0")

    def canonical(self) -> dict[str, object]:
        """Every field, for the declaration's fingerprint."""
        return {
            name: (None if value is None else (value if isinstance(value, bool) else repr(value)))
            for name, value in sorted(self.__dict__.items())
        }
