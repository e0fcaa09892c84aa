"""The release ledger: its rules (pure), its storage, periods, seals, exactly-once, races.

Each rule is tested with the attack it stops (DESIGN 4.5); the same rules are attacked
through real daemons in tests/adversarial/.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mpcnode.core.accounting import Cost
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.release_rules import PeriodSummary, PlannedRelease, check_release, ledger_key
from mpcnode.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.store import NEXT_PERIOD, NodeStore

RAISES = Declaration("raises", Shape.SCALAR, 0, 10_000)
CAPS = {
    "organization": Cost(Fraction(1), Fraction(1, 2)),
    "record": Cost(Fraction(1), Fraction(1, 2)),
}
ABCD = ("alice", "bob", "carlos", "david")


def exact(participants: tuple[str, ...] = ABCD, function: str = "f1") -> PlannedRelease:
    return PlannedRelease("raises@1", function, participants, True)


def noisy(
    epsilon: str, participants: tuple[str, ...] = ABCD, central: bool = False
) -> PlannedRelease:
    cost = Cost(Fraction(epsilon))
    return PlannedRelease(
        "raises@1", "f1", participants, central, {"organization": cost, "record": cost}
    )


# --- the rules, pure ----------------------------------------------------------------------


def test_the_first_exact_release_fixes_participants_and_function() -> None:
    after = PeriodSummary("raises@1").after(exact())
    check_release(after, {}, exact(), CAPS)  # the identical repeat reveals nothing new
    with pytest.raises(PreconditionFailed, match="another participant set"):
        check_release(after, {}, exact(ABCD[:3]), CAPS)  # differencing out david
    with pytest.raises(PreconditionFailed, match="another function"):
        check_release(after, {}, exact(function="f2"), CAPS)  # another clip bound, encoding


def test_central_dp_follows_the_exact_rule_and_distributed_dp_does_not() -> None:
    after = PeriodSummary("raises@1").after(exact())
    with pytest.raises(PreconditionFailed, match="exact release refused"):
        check_release(after, {}, noisy("0.1", ABCD[:3], central=True), CAPS)
    check_release(after, {}, noisy("0.1", ABCD[:3]), CAPS)


def test_a_refusal_never_suggests_resubmitting() -> None:
    after = PeriodSummary("raises@1").after(exact())
    with pytest.raises(PreconditionFailed) as refused:
        check_release(after, {}, exact(ABCD[:3]), CAPS)
    assert "submit" not in refused.value.message
    assert "new period" in refused.value.message


def test_spends_compose_exactly_and_the_cap_refuses_with_what_remains() -> None:
    summary = PeriodSummary("raises@1")
    for _ in range(10):
        check_release(summary, {}, noisy("0.1"), CAPS)
        summary = summary.after(noisy("0.1"))
    assert summary.spent_on("organization").epsilon == 1  # exactly, not 0.9999999
    assert summary.pure_sq_half["record"] == Fraction(10, 200)
    with pytest.raises(PreconditionFailed, match=r"only epsilon 0 and rho 0\.5 remain"):
        check_release(summary, {}, noisy("0.1"), CAPS)


def test_holds_of_open_rounds_count_against_the_cap() -> None:
    held = {"organization": Cost(Fraction(9, 10))}
    with pytest.raises(PreconditionFailed, match=r"held by open rounds epsilon 0\.9"):
        check_release(PeriodSummary("raises@1"), held, noisy("0.2"), CAPS)


def test_record_level_costs_are_charged_per_unit() -> None:
    release = PlannedRelease(
        "raises@1",
        "f1",
        ABCD,
        False,
        {"record": Cost(Fraction(1, 2)), "organization": Cost(Fraction(50))},
    )
    with pytest.raises(PreconditionFailed, match="organization level"):
        check_release(PeriodSummary("raises@1"), {}, release, CAPS)
    roomy = {**CAPS, "organization": Cost(Fraction(100))}
    check_release(PeriodSummary("raises@1"), {}, release, roomy)


# --- storage: periods, seals, exactly once ---------------------------------------------------


def entry(store: NodeStore, round_id: bytes, participants: tuple[str, ...] = ABCD) -> ReleaseRecord:
    record = store.dataset("raises")
    return ReleaseRecord(
        round_id, b"t" * 32, "raises", record.period, "input", record.declaration.fingerprint,
        "sum", participants, "f1", "none", "none", "organization", "", {}, 0,
    )  # fmt: skip


def release_exactly(
    store: NodeStore, round_id: bytes, participants: tuple[str, ...] = ABCD
) -> None:
    key = store.dataset("raises").key
    planned = PlannedRelease(key, "f1", participants, True)
    store.hold(round_id, planned, CAPS)
    store.record_release(entry(store, round_id, participants), planned, CAPS, "hash")


def test_values_are_checked_against_the_declaration_at_submit(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    with pytest.raises(NotFound, match="not declared"):
        store.put_input("raises", np.array([1], dtype=np.int64))
    with pytest.raises(InvalidInput, match="above the declared upper 10000"):
        store.put_input("raises", np.array([10_001], dtype=np.int64), RAISES)
    with pytest.raises(NotFound, match="not declared"):  # a refused submit declared nothing
        store.put_input("raises", np.array([3800], dtype=np.int64))
    assert store.put_input("raises", np.array([3800], dtype=np.int64), RAISES).period == "1"


def test_an_exact_release_seals_the_input_of_its_period(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([3800], dtype=np.int64), RAISES)
    stored = store.get_input("raises")
    key = store.dataset("raises").key
    planned = PlannedRelease(key, "f1", ABCD, True)
    store.hold(b"r1", planned, CAPS)
    store.record_release(entry(store, b"r1"), planned, CAPS, stored.values_hash)
    store.put_input("raises", np.array([3800], dtype=np.int64))  # the same values: harmless
    with pytest.raises(PreconditionFailed, match="already released exactly"):
        store.put_input("raises", np.array([3801], dtype=np.int64))
    with pytest.raises(PreconditionFailed, match="exact release refused"):
        store.hold(b"r2", PlannedRelease(key, "f1", ABCD[:3], True), CAPS)
    # Only the owner's new period lifts both, with a fresh ledger.
    fresh = store.put_input("raises", np.array([4100], dtype=np.int64), period=NEXT_PERIOD)
    assert (fresh.period, fresh.releases) == ("2", 0)
    store.hold(b"r3", PlannedRelease("raises@2", "f1", ABCD[:3], True), CAPS)


def test_a_declaration_cannot_change_under_released_data(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([3800], dtype=np.int64), RAISES)
    wider = Declaration("raises", Shape.SCALAR, 0, 20_000)
    store.declare(wider)  # nothing released yet: the owner may still change its mind
    release_exactly(store, b"r1")
    with pytest.raises(PreconditionFailed, match="needs a new period"):
        store.declare(RAISES)
    assert store.declare(RAISES, "2027").key == "raises@2027"
    with pytest.raises(PreconditionFailed, match="was used before"):
        store.declare(RAISES, "1")
    with pytest.raises(NotFound, match="no input"):
        store.get_input("raises")  # a new period, new data


def test_config_declarations_are_changed_in_the_config_only(tmp_path: Path) -> None:
    store = NodeStore(tmp_path, [(RAISES, "1")])
    store.put_input("raises", np.array([1], dtype=np.int64))
    with pytest.raises(PreconditionFailed, match="config file"):
        store.declare(Declaration("raises", Shape.SCALAR, 0, 5))
    store.close()
    reopened = NodeStore(tmp_path, [(RAISES, "2")])
    assert reopened.dataset("raises").key == ledger_key("raises", "2")


def test_a_round_releases_once_even_when_asked_twice(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([1], dtype=np.int64), RAISES)
    release_exactly(store, b"r1")
    with pytest.raises(AlreadyExists):
        store.record_release(entry(store, b"r1"), exact(), CAPS, "hash")
    assert len(store.list_releases("raises")) == 1


def test_an_ended_round_gives_its_hold_back(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([1], dtype=np.int64), RAISES)
    store.hold(b"r1", noisy("0.6"), CAPS)
    with pytest.raises(PreconditionFailed, match=r"held by open rounds epsilon 0\.6"):
        store.hold(b"r2", noisy("0.6"), CAPS)
    store.drop_hold(b"r1")
    store.hold(b"r2", noisy("0.6"), CAPS)


def test_concurrent_rounds_on_one_dataset_never_overspend(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([1], dtype=np.int64), RAISES)
    won: list[bytes] = []

    def attempt(i: int) -> None:
        round_id = bytes([i]) * 16
        try:
            store.hold(round_id, noisy("0.3"), CAPS)
            won.append(round_id)
        except PreconditionFailed:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 3  # 3 x 0.3 <= 1 < 4 x 0.3


def test_the_summary_adds_up_many_releases(tmp_path: Path) -> None:
    """2,000 releases kept in one summary row (benchmarks/bench_ledger.py times the check)."""
    store = NodeStore(tmp_path)
    store.put_input(
        "raises",
        np.array([1], dtype=np.int64),
        Declaration("raises", Shape.SCALAR, 0, 10_000, policy=ReleasePolicy(epsilon_cap=1e6)),
    )
    caps = {"organization": Cost(Fraction(10**6)), "record": Cost(Fraction(10**6))}
    for i in range(2000):
        round_id = i.to_bytes(16, "big")
        store.hold(round_id, noisy("0.001"), caps)
        record = entry(store, round_id)
        store.record_release(record, noisy("0.001"), caps, "")
    store.hold(b"last" * 4, noisy("0.001"), caps)
    budget = store.budgets(lambda d: caps)[0]
    assert (budget.spent.epsilon, budget.held.epsilon, budget.releases) == (
        2,
        Fraction(1, 1000),
        2000,
    )


def test_a_declared_dataset_is_listed_before_its_first_input(tmp_path: Path) -> None:
    store = NodeStore(tmp_path, [(RAISES, "2026")])
    (listed,) = store.list_inputs()
    assert (listed.dataset, listed.period, listed.input_id, len(listed.values)) == (
        "raises",
        "2026",
        "",
        0,
    )
    store.put_input("raises", np.array([3800], dtype=np.int64))
    assert store.list_inputs()[0].input_id != ""


def test_holds_no_live_round_owns_are_freed_once_stale(tmp_path: Path) -> None:
    """A Prepare cancelled while writing its hold leaves one; the expiry sweep frees it."""
    store = NodeStore(tmp_path)
    store.put_input("raises", np.array([1], dtype=np.int64), RAISES)
    assert store.hold(b"o" * 16, noisy("0.6"), CAPS)
    assert not store.hold(b"o" * 16, noisy("0.6"), CAPS)  # an identical Prepare writes none
    assert store.drop_orphan_holds({b"o" * 16}, 2**62) == 0  # a live round keeps its hold
    assert store.drop_orphan_holds(set(), 0) == 0  # not stale yet
    assert store.drop_orphan_holds(set(), 2**62) == 1
    store.hold(b"p" * 16, noisy("0.6"), CAPS)  # the budget is free again
