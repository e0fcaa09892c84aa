"""Privacy-budget ledger rows between the domain (`BudgetStatus`) and mpc.v1 `Budget`."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from mpcnode.api.v1 import node_pb2
from mpcnode.core.accounting import BudgetStatus, Cost, epsilon_at_delta_of
from mpcnode.core.privacy import Unit
from mpcnode.wire.specs import UNITS, key_of


def budget_to_proto(status: BudgetStatus, delta: float) -> node_pb2.Budget:
    """Encode one (dataset, unit) budget, with its (epsilon, delta) conversion."""
    return node_pb2.Budget(
        dataset=status.dataset,
        unit=key_of(UNITS, Unit(status.unit)),
        epsilon_cap=str(status.cap.epsilon),
        epsilon_spent=str(status.spent.epsilon),
        epsilon_held=str(status.held.epsilon),
        rho_cap=str(status.cap.rho),
        rho_spent=str(status.spent.rho),
        rho_held=str(status.held.rho),
        releases=status.releases,
        delta=delta,
        epsilon_at_delta=epsilon_at_delta_of(
            status.spent.epsilon, status.pure_sq_half, status.spent.rho, delta
        ),
    )


@dataclass(frozen=True)
class BudgetView:
    """A budget as a client reads it: exact amounts and the (epsilon, delta) summary."""

    dataset: str
    unit: str
    cap: Cost
    spent: Cost
    held: Cost
    releases: int
    delta: float
    epsilon_at_delta: float

    @property
    def remaining(self) -> Cost:
        """What is left once open rounds release (never below zero)."""
        return (self.spent + self.held).headroom(self.cap)


def budget_from_proto(msg: node_pb2.Budget) -> BudgetView:
    """Decode one budget row."""
    unit = UNITS.get(msg.unit, Unit.ORGANIZATION)
    return BudgetView(
        dataset=msg.dataset,
        unit=unit.value,
        cap=Cost(Fraction(msg.epsilon_cap), Fraction(msg.rho_cap)),
        spent=Cost(Fraction(msg.epsilon_spent), Fraction(msg.rho_spent)),
        held=Cost(Fraction(msg.epsilon_held), Fraction(msg.rho_held)),
        releases=msg.releases,
        delta=msg.delta,
        epsilon_at_delta=msg.epsilon_at_delta,
    )
