"""The release rules of one dataset-period's ledger (DESIGN 4.5): the one place they live.

A node keeps one ledger per dataset *period* (`raises@1`, `raises@2027`), not per input id:
resubmitting the same (or other) values under a fresh id changes nothing here. Every
partial a node releases is checked by `check_release` against a constant-size summary of
what that dataset-period already released, so the check costs the same at the 10,000th
release as at the first.

The rules, each with the attack it stops:
1. Exact releases, and central-DP releases (exact to the coordinator), are allowed only over
   the participant set and node-side function of the period's first exact release. Two
   exact sums over sets that differ by one party reveal that party; two sums of different
   functions (another clip bound, another encoding) over the same parties reveal inputs by
   solving for them. Repeating the identical computation reveals nothing new.
2. Every noisy release spends its cost from the period's budget, per privacy unit, within
   the caps (sequential composition). Central DP spends *and* obeys rule 1.
3. A record-level release charges the organization-level budget too, with its group-privacy
   cost at organization level (`mpcnode.core.release_cost`), so many record-level rounds
   cannot add up to an exact organization total for free.
4. An exact comparison is released at most once per period, even over the same parties: a sum
   repeated while bob changes his own input moves by bob's change alone, but a max (or a
   threshold) repeated while bob moves a probe value bisects alice's value.

Pure: the caller brings the summary and the open holds (node/ledger.py reads them from
SQLite in the same transaction that writes the release).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from mpcnode.core.accounting import Cost, decimal_down
from mpcnode.errors import PreconditionFailed

UNITS = ("organization", "record")


def ledger_key(dataset: str, period: str) -> str:
    """The ledger's name for a dataset-period: `dataset@period`."""
    return f"{dataset}@{period}"


@dataclass(frozen=True)
class PlannedRelease:
    """What one round would release from a dataset-period, as the ledger judges it."""

    key: str
    function: str
    participants: tuple[str, ...]  # sorted
    exact_to_coordinator: bool
    costs: dict[str, Cost] = field(default_factory=dict)  # per unit; absent means free
    # An exact comparison (max, auction, quantile, threshold, dominance): allowed once per
    # period, since repeating it while another party changes its own input bisects this one.
    once: bool = False

    def cost(self, unit: str) -> Cost:
        """The cost charged to `unit`'s budget (zero for exact releases)."""
        return self.costs.get(unit, Cost())


@dataclass(frozen=True)
class PeriodSummary:
    """Everything the rules need to know about a dataset-period's past releases."""

    key: str
    exact_participants: tuple[str, ...] | None = None
    exact_function: str | None = None
    releases: int = 0
    spent: dict[str, Cost] = field(default_factory=dict)
    # Sum of epsilon^2 / 2 of pure-DP releases per unit: with `spent` it gives the
    # (epsilon, delta) of everything together without keeping every epsilon.
    pure_sq_half: dict[str, Fraction] = field(default_factory=dict)
    unit_releases: dict[str, int] = field(default_factory=dict)

    def spent_on(self, unit: str) -> Cost:
        """What `unit`'s budget has spent."""
        return self.spent.get(unit, Cost())

    def after(self, release: PlannedRelease) -> PeriodSummary:
        """The summary once `release` is recorded (the caller checked it first)."""
        participants, function = self.exact_participants, self.exact_function
        if release.exact_to_coordinator and participants is None:
            participants, function = release.participants, release.function
        spent, squares, counts = dict(self.spent), dict(self.pure_sq_half), dict(self.unit_releases)
        for unit in UNITS:
            cost = release.cost(unit)
            if cost.is_free:
                continue
            spent[unit] = self.spent_on(unit) + cost
            squares[unit] = squares.get(unit, Fraction(0)) + cost.epsilon * cost.epsilon / 2
            counts[unit] = counts.get(unit, 0) + 1
        return PeriodSummary(
            self.key, participants, function, self.releases + 1, spent, squares, counts
        )


def check_release(
    summary: PeriodSummary, held: dict[str, Cost], release: PlannedRelease, caps: dict[str, Cost]
) -> None:
    """Refuse `release` (PreconditionFailed, naming the rule) or return to allow it.

    `held` is what other open rounds of the period have reserved, per unit; `caps` the
    lifetime caps per unit. Looks at the ledger only, never at a stored value.
    """
    if release.exact_to_coordinator and release.once and summary.exact_participants is not None:
        raise PreconditionFailed(
            f"exact release refused by the ledger of {summary.key}: this period already had "
            "its exact release, and an exact comparison is released once per period (repeated "
            "while another party changes its own input, a max or a threshold would bisect "
            "this one's); read the published result again, or ask the owner for a new period",
            reason="LEDGER_COMPARISON_ONCE",
        )
    if release.exact_to_coordinator and summary.exact_participants is not None:
        same = (
            summary.exact_participants == release.participants
            and summary.exact_function == release.function
        )
        if not same:
            what = (
                "another participant set"
                if summary.exact_participants != release.participants
                else "another function (encoding, domain or length)"
            )
            raise PreconditionFailed(
                f"exact release refused by the ledger of {summary.key}: its first exact "
                f"release was over {', '.join(summary.exact_participants)}, and an exact (or "
                f"central-DP) release over {what} could be differenced against it. Only that "
                "same computation over the same parties may be repeated; anything else stays "
                "refused for this period of the dataset, and only its owner can start a new "
                "period",
                reason="LEDGER_DIFFERENCING",
            )
    for unit in UNITS:
        cost = release.cost(unit)
        if cost.is_free:
            continue
        spent, reserved, cap = summary.spent_on(unit), held.get(unit, Cost()), caps[unit]
        if not cost.fits(spent + reserved, cap):
            left = (spent + reserved).headroom(cap)
            raise PreconditionFailed(
                f"privacy budget exhausted on {summary.key} ({unit} level): this release "
                f"would spend epsilon {float(cost.epsilon):.6g} rho {float(cost.rho):.6g}, "
                f"but only epsilon {decimal_down(left.epsilon):g} and rho "
                f"{decimal_down(left.rho):g} remain of the cap (epsilon "
                f"{float(cap.epsilon):g}, rho {float(cap.rho):g}; spent epsilon "
                f"{float(spent.epsilon):g} rho {float(spent.rho):g}; held by open rounds "
                f"epsilon {float(reserved.epsilon):g} rho {float(reserved.rho):g})",
                reason="BUDGET_EXHAUSTED",
            )
