"""Findings of the second security review of the declared-dataset model, kept fixed.

Every test plays one attack in process, against a real `RoundBook` over a real `NodeStore`
(SQLite in a temporary directory), or against the pure core: the analyst (who chooses the
spec and the participants), a malicious coordinator (who drives round control by hand), or
the owner's own system at an unlucky moment. Each test asserts what the privacy promise
requires; each failed when the review wrote it, and the fix landed with it. No daemon starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from in_process import (
    ABC,
    LAPLACE,
    PARTIES,
    RAISES,
    book_of,
    held,
    prepare,
    release,
    spec_of,
)

from mpcnode.core.accounting import Cost
from mpcnode.core.conformance import node_function
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.encoding import encode
from mpcnode.core.mechanisms import plan_noise
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit
from mpcnode.core.release_rules import PlannedRelease
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.errors import InvalidInput, MpcError, PreconditionFailed
from mpcnode.node import rounds as rounds_module
from mpcnode.node.migrations import MIGRATIONS
from mpcnode.node.store import NodeStore
from mpcnode.sqlite import Database

CAPS = {
    "organization": Cost(Fraction(1), Fraction(1, 2)),
    "record": Cost(Fraction(1), Fraction(1, 2)),
}


# -- helpers ---------------------------------------------------------------------------------


# -- 1. noise sized from the analyst's choice of kind ----------------------------------------
BINS = tuple(f"b{i}" for i in range(10))
VISITS = Declaration(
    "visits", Shape.VECTOR, 0, 100, length=10, bins=BINS, unit=Unit.RECORD, record_bound=5,
    policy=ReleasePolicy(epsilon_cap=100, organization_epsilon_cap=1000),
)  # fmt: skip
RECORD_LAPLACE = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1, unit=Unit.RECORD, record_bound=5)


def test_record_noise_of_a_binned_vector_does_not_depend_on_the_kind(store: NodeStore) -> None:
    store.put_input("visits", np.arange(10, dtype=np.int64), VISITS)
    book = book_of(store)
    as_sum = spec_of(VISITS, Kind.SUM, privacy=RECORD_LAPLACE)
    as_histogram = spec_of(VISITS, Kind.HISTOGRAM, privacy=RECORD_LAPLACE)
    assert node_function(as_sum) == node_function(as_histogram)  # one function, by design

    scales = {}
    for spec in (as_sum, as_histogram):
        try:
            state = asyncio.run(prepare(book, spec))
        except PreconditionFailed:
            continue  # refusing record-level histograms of plain vectors is a fix too
        assert state.plan is not None
        scales[spec.kind] = 1 / state.plan.gamma  # the discrete Laplace scale each node adds
        book.end(state.round_id, "aborted: probe")
    assert Kind.SUM in scales
    # Same declaration, same function, same epsilon: at least as much noise as the sum.
    assert scales.get(Kind.HISTOGRAM, scales[Kind.SUM]) >= scales[Kind.SUM], scales


# -- 2. fixed-point rounding is not in the sensitivity ---------------------------------------
def test_the_sensitivity_covers_the_encoded_domain() -> None:
    spec = ComputationSpec(
        "ratio", Kind.SUM, "ratio", 0.25, 0.75, fractional_bits=1, min_parties=3, privacy=LAPLACE
    )
    plan = plan_noise(spec, 3)
    assert plan is not None
    low, high = encode(np.array([spec.lower, spec.upper]), spec.fractional_bits).view(np.int64)
    assert int(high - low) <= plan.sensitivity.l1


# -- 3. randomized response releases each organization's respondent count exactly ------------
POLL = Declaration(
    "poll", Shape.POLL, 0, 100, length=2, bins=("no", "yes"), unit=Unit.RECORD, record_bound=1,
    policy=ReleasePolicy(epsilon_cap=10, organization_epsilon_cap=1000),
)  # fmt: skip
RR = Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, epsilon=1, unit=Unit.RECORD)


def test_randomized_response_cannot_difference_a_respondent_count(store: NodeStore) -> None:
    answers = np.array([1, 0] * 18 + [1], dtype=np.int64)  # 37 respondents of at most 100
    store.put_input("poll", answers, POLL)
    book = book_of(store)
    spec = spec_of(POLL, Kind.HISTOGRAM, privacy=RR)
    first = asyncio.run(prepare(book, spec, PARTIES))
    assert first.encoded is not None
    encoded = first.encoded.chunk(0, first.encoded.length)
    total = int(encoded.view(np.int64).sum())  # what this node's shares add up to
    asyncio.run(release(book, first))
    try:
        second = asyncio.run(prepare(book, spec, ABC))  # david left out
    except PreconditionFailed:
        return  # refused like an exact release: nothing to difference
    book.end(second.round_id, "aborted: probe")
    assert total != len(answers), "both releases carry the exact respondent count"


# -- 4 and 5. the 0.1 -> 3 migration -----------------------------------------------------------
def legacy_node(
    folder: Path, unit: str, mechanism: str, sampler: str, epsilon: str, rho: str
) -> None:
    """A node file of version 0.1 (schema 2) holding one noisy release over a,b,c,d."""
    db = Database(folder / "node.sqlite3", MIGRATIONS[:2])
    round_id = new_round_id()
    with db.transaction("legacy release") as conn:
        conn.execute(
            "INSERT INTO releases (round_id, transcript_hash, dataset, input_id, computation, "
            "participants, released_ms) VALUES (?, ?, 'raises', 'old', 'legacy', ?, 1)",
            (round_id, b"\x00" * 32, '["alice", "bob", "carlos", "david"]'),
        )
        conn.execute(
            "INSERT INTO budget_spends (round_id, dataset, unit, epsilon, rho, mechanism, "
            "sampler, computation, spent_ms) VALUES (?, 'raises', ?, ?, ?, ?, ?, 'legacy', 1)",
            (round_id, unit, epsilon, rho, mechanism, sampler),
        )
    db.close()


def test_a_migrated_central_release_fixes_the_exact_participants(tmp_path: Path) -> None:
    legacy_node(tmp_path, "organization", "discrete_gaussian", "", "0", "1/10")
    store = NodeStore(tmp_path)
    try:
        store.declare(RAISES)  # lands in period "1", the migrated one
        exact = PlannedRelease("raises@1", node_function(spec_of(RAISES)), ABC, True)
        with pytest.raises(PreconditionFailed, match="exact release refused"):
            store.hold(new_round_id(), exact, CAPS)
    finally:
        store.close()


def test_a_migrated_record_release_counts_at_organization_level(tmp_path: Path) -> None:
    legacy_node(tmp_path, "record", "discrete_laplace", "exact", "9/10", "0")
    store = NodeStore(tmp_path)
    try:
        store.declare(RAISES)
        one = Cost(Fraction(1))
        noisy = PlannedRelease(
            "raises@1", node_function(spec_of(RAISES)), PARTIES, False,
            {"organization": one, "record": Cost(Fraction(1, 10))},
        )  # fmt: skip
        caps = {"organization": one, "record": Cost(Fraction(10), Fraction(1))}
        with pytest.raises(PreconditionFailed, match="organization level"):
            store.hold(new_round_id(), noisy, caps)
    finally:
        store.close()


# -- 6. the owner's release policy is checked at Prepare only --------------------------------
def test_a_policy_the_owner_tightened_while_a_round_is_open_holds_at_release(
    store: NodeStore,
) -> None:
    store.put_input("raises", np.array([3800]), RAISES)
    book = book_of(store)
    state = asyncio.run(prepare(book, spec_of(RAISES)))
    no_exact = dataclasses.replace(RAISES, policy=ReleasePolicy(allow_exact=False))
    store.declare(no_exact)  # no release yet: allowed in the same period; the input is dropped
    with pytest.raises(PreconditionFailed):
        asyncio.run(release(book, state))


# -- 7. Prepare reads the period and the values in two transactions --------------------------
def test_values_of_a_new_period_are_never_charged_to_the_old_one(store: NodeStore) -> None:
    store.put_input("raises", np.array([3800]), RAISES)
    book = book_of(store)
    read_input = store.get_input
    started: dict[str, str] = {}

    def owner_starts_a_period_meanwhile(dataset: str):  # type: ignore[no-untyped-def]
        if not started:
            new = store.put_input(dataset, np.array([4100]), period="next")
            started.update(input_id=new.input_id, period=new.period)
        return read_input(dataset)

    store.get_input = owner_starts_a_period_meanwhile  # type: ignore[method-assign]
    try:
        state = asyncio.run(prepare(book, spec_of(RAISES, privacy=LAPLACE)))
        asyncio.run(release(book, state))
    except PreconditionFailed:
        return  # refusing the torn read is a fix
    wrong = [
        r
        for r in store.list_releases("raises")
        if r.input_id == started["input_id"] and r.period != started["period"]
    ]
    assert not wrong, f"values of period {started['period']} charged to period {wrong[0].period}"


# -- 8. per-release ceilings compare the analyst's epsilon, not the cost charged -------------
def test_the_per_release_ceiling_bounds_what_is_charged(store: NodeStore) -> None:
    decl = Declaration(
        "delta", Shape.SCALAR, -100, 100, policy=ReleasePolicy(max_epsilon=1, epsilon_cap=10)
    )
    store.put_input("delta", np.array([-7]), decl)
    book = book_of(store)
    add_remove = dataclasses.replace(LAPLACE, epsilon=1.0, neighbouring=Neighbouring.ADD_REMOVE)
    try:
        state = asyncio.run(prepare(book, spec_of(decl, privacy=add_remove)))
    except PreconditionFailed:
        return
    charged = state.release.cost("organization").epsilon
    book.end(state.round_id, "aborted: probe")
    assert charged <= 1, f"charged epsilon {charged} above the ceiling 1"


# -- 9. an Abort that arrives while Prepare is drawing is lost -------------------------------
def test_an_abort_during_prepare_ends_the_round_and_frees_its_hold(
    store: NodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_input("raises", np.array([3800]), RAISES)
    book = book_of(store)
    drawing, go_on = threading.Event(), threading.Event()
    real = rounds_module.contribution  # type: ignore[attr-defined]

    def slow_contribution(*args, **kwargs):  # type: ignore[no-untyped-def]
        drawing.set()
        go_on.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(rounds_module, "contribution", slow_contribution)
    spec = spec_of(RAISES, privacy=LAPLACE)
    round_id = new_round_id()
    deadline = int((time.time() + 60) * 1000)
    transcript = transcript_hash(round_id, spec, ABC, deadline)

    async def race() -> None:
        task = asyncio.create_task(book.prepare(round_id, transcript, spec, ABC, deadline))
        await asyncio.to_thread(drawing.wait, 10)
        book.end(round_id, "aborted: prepare timed out at the coordinator")
        go_on.set()
        with contextlib.suppress(MpcError):  # refusing the aborted round is fine
            await task

    asyncio.run(race())
    assert round_id not in book._rounds
    assert held(store, "raises") == 0


# -- 10. unbounded round ids -------------------------------------------------------------------
HUGE_ID = b"\x01" * 200_000


def test_an_unknown_round_id_is_not_echoed_unbounded(store: NodeStore) -> None:
    with pytest.raises(InvalidInput) as refused:  # no round can have it: not even looked up
        book_of(store).get(HUGE_ID, b"")
    assert len(refused.value.message) <= 1000


def test_abort_of_a_malformed_round_id_is_not_remembered(store: NodeStore) -> None:
    book = book_of(store)
    with pytest.raises(InvalidInput):
        book.end(HUGE_ID, "aborted: by hand")
    assert all(len(round_id) == 16 for round_id in book._ended)
