"""Cohorts (issue 13): the layout, what one record can move, the checks, and the table.

The property tests are the soundness argument of record-level DP on records datasets: for
any records and any neighbour (one record added, removed or replaced), the weighted
contributions differ by no more than the sensitivity the noise is calibrated to. An
organization (any two sets of at most max_records records) by no more than its own.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seeded import SeededSource

from mpcnode.core.cohort_table import cohort_outputs, ratio_labels
from mpcnode.core.cohorts import (
    STATS,
    CohortLayout,
    CohortOptions,
    Group,
    layout_from_labels,
    record_step,
    unweighted,
    weighted,
)
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.conformance import conform
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.mechanisms import cohort_sensitivity, plan_noise
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.protocols.plan import program_for, published_arrays, revealed
from mpcnode.protocols.simulate import simulate

LAYOUT = CohortLayout((Group("gender", ("f", "m")), Group("level", ("1", "2", "3"))))
LOWER, UPPER, MAX_RECORDS = -50.0, 200.0, 40
Record = tuple[int, float]  # (cohort index, value)


def _decl(**more: object) -> Declaration:
    base = Declaration(
        "payroll",
        Shape.COHORTS,
        LOWER,
        UPPER,
        length=LAYOUT.size,
        groups=LAYOUT.groups,
        max_records=MAX_RECORDS,
        unit=Unit.RECORD,
    )
    return dataclasses.replace(base, **more)  # type: ignore[arg-type]


def _spec(privacy: Privacy | None = None, **options: object) -> ComputationSpec:
    return ComputationSpec(
        "gap",
        Kind.COHORTS,
        "payroll",
        LOWER,
        UPPER,
        length=len(STATS) * LAYOUT.size,
        bins=LAYOUT.labels,
        min_parties=3,
        privacy=privacy or Privacy(),
        cohorts=CohortOptions(MAX_RECORDS, **options),  # type: ignore[arg-type]
    )


def _vector(
    records: list[Record], fractional_bits: int = 0, lower: float = LOWER
) -> npt.NDArray[np.int64]:
    """The contribution as the loader defines it: clip, encode each record, aggregate."""
    size = LAYOUT.size
    out = np.zeros(3 * size, dtype=np.int64)
    scale = 1 << fractional_bits
    for cohort, value in records:
        clipped = min(max(value, lower), UPPER) * scale
        encoded = int(math.copysign(math.floor(abs(clipped) + 0.5), clipped))  # half away
        out[cohort] += 1
        out[size + cohort] += encoded
        out[2 * size + cohort] += encoded * encoded
    return out


# --- the layout ---------------------------------------------------------------------------


def test_labels_are_row_major_and_name_every_group() -> None:
    assert LAYOUT.labels[:4] == (
        "gender=f,level=1",
        "gender=f,level=2",
        "gender=f,level=3",
        "gender=m,level=1",
    )
    assert LAYOUT.size == 6 == len(set(LAYOUT.labels))


@given(
    st.lists(
        st.lists(st.sampled_from("abcxyz012"), min_size=1, max_size=4, unique=True),
        min_size=1,
        max_size=3,
    )
)
def test_a_layout_is_recovered_from_its_labels(categories: list[list[str]]) -> None:
    layout = CohortLayout(tuple(Group(f"g{i}", tuple(c)) for i, c in enumerate(categories)))
    assert layout_from_labels(layout.labels) == layout


def test_labels_out_of_order_or_missing_are_refused() -> None:
    labels = LAYOUT.labels
    swapped = (labels[1], labels[0], *labels[2:])
    for wrong in (swapped, labels[:-1], (*labels[:-1], "gender=f,level=9"), (*labels, labels[0])):
        with pytest.raises(InvalidInput, match=r"spec\.bins"):
            layout_from_labels(wrong)


# --- what one record moves (the DP soundness of records datasets) --------------------------

records = st.lists(
    st.tuples(st.integers(0, LAYOUT.size - 1), st.floats(-500, 500, allow_nan=False)),
    max_size=12,
)


def _norms(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> tuple[int, int, int]:
    d = [abs(int(x) - int(y)) for x, y in zip(a, b, strict=True)]
    return sum(d), sum(x * x for x in d), max(d, default=0)


@pytest.mark.parametrize("fractional_bits", [0, 3])
@pytest.mark.parametrize("neighbouring", list(Neighbouring))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_one_record_moves_the_weighted_blocks_at_most_the_sensitivity(
    fractional_bits: int, neighbouring: Neighbouring, data: st.DataObject
) -> None:
    base = data.draw(records)
    extra = data.draw(records.filter(lambda r: len(r) == 1))[0]
    if neighbouring is Neighbouring.ADD_REMOVE:
        neighbour = [*base, extra]
    else:
        if not base:
            return
        where = data.draw(st.integers(0, len(base) - 1))
        neighbour = [*base[:where], extra, *base[where + 1 :]]
    privacy = Privacy(
        Mechanism.DISCRETE_LAPLACE, epsilon=1.0, unit=Unit.RECORD, neighbouring=neighbouring
    )
    spec = dataclasses.replace(_spec(privacy), fractional_bits=fractional_bits)
    sens = cohort_sensitivity(spec)

    def weigh(rs: list[Record]) -> npt.NDArray[np.int64]:
        return weighted(_vector(rs, fractional_bits), LOWER, UPPER, fractional_bits, True)

    l1, l2, linf = _norms(weigh(base), weigh(neighbour))
    assert l1 <= sens.l1 and l2 <= sens.l2_squared and linf <= sens.linf


@settings(max_examples=100, deadline=None)
@given(a=st.lists(records, max_size=1), b=st.lists(records, max_size=1))
def test_an_organization_moves_them_at_most_max_records_times_as_much(
    a: list[list[Record]], b: list[list[Record]]
) -> None:
    privacy = Privacy(Mechanism.SKELLAM, rho=1.0)  # organization, replace-one
    sens = cohort_sensitivity(_spec(privacy))
    first = weighted(_vector(a[0] if a else []), LOWER, UPPER, 0, True)
    second = weighted(_vector(b[0] if b else []), LOWER, UPPER, 0, True)
    l1, l2, linf = _norms(first, second)
    assert l1 <= sens.l1 and l2 <= sens.l2_squared and linf <= sens.linf


def test_weights_equalize_the_blocks_and_come_off_exactly() -> None:
    values = _vector([(0, 10.0), (0, 190.0), (5, -50.0)])
    step = record_step(LOWER, UPPER, 0)
    w = weighted(values, LOWER, UPPER, 0, True)
    assert w[0] == 2 * step * step and w[6] == 200 * step
    counts, sums, squares = unweighted(w.astype(np.float64), LOWER, UPPER, 0, True)
    assert counts[0] == 2 and sums[0] == 200 and squares[5] == 2500
    assert weighted(values, LOWER, UPPER, 0, False) is values  # exact: no copy, no weights


def test_the_noise_is_a_count_s_and_sums_carry_the_bound_times_it() -> None:
    plan = plan_noise(_spec(Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0, unit=Unit.RECORD)), 4)
    assert plan is not None
    step = record_step(LOWER, UPPER, 0)
    # Three blocks of M^2 each, twice over for replace-one: scale 6 M^2 / epsilon.
    assert plan.gamma == Fraction(1, 6 * step * step)


# --- the declaration, the spec, conformance ------------------------------------------------


def test_a_records_declaration_holds_together() -> None:
    _decl().check()
    refusals = [
        ({"max_records": 0}, "max_records"),
        ({"record_bound": 5.0}, "record_bound"),
        ({"bins": ("a",) * 6}, "bins"),
        ({"length": 5}, "cohorts"),
        ({"min_cell": MAX_RECORDS + 1}, "min_cell"),
        ({"upper": 2.0**30, "max_records": 1 << 20}, "2\\^62"),
    ]
    for change, message in refusals:
        with pytest.raises(InvalidInput, match=message):
            _decl(**change).check()
    with pytest.raises(InvalidInput, match="cohorts"):
        Declaration("x", Shape.SCALAR, 0, 1, max_records=3).check()


def test_a_forged_cohort_vector_is_refused_before_it_is_stored() -> None:
    decl, size = _decl(), LAYOUT.size
    good = _vector([(1, 100.0), (1, 150.0)])
    assert decl.validate(good) is good
    forged = [good.copy() for _ in range(4)]
    forged[0][1] = -1  # a negative count
    forged[1][size + 1] = 10_000  # a sum beyond count x bound
    forged[2][0] = MAX_RECORDS + 1  # more records than declared
    forged[3][2 * size + 1] = -4  # a negative square
    wrapped = good.copy()
    wrapped[0], wrapped[1] = 2**62, 2**62  # a total that wraps int64 to a small number
    minimum = good.copy()
    minimum[2], minimum[size + 2] = 0, -(2**63)  # abs() of it is negative
    forged += [wrapped, minimum]
    for vector in forged:
        with pytest.raises(InvalidInput):
            decl.validate(vector)
    with pytest.raises(InvalidInput, match="int64"):
        decl.validate(good.astype(np.float64))


def test_spec_checks_name_the_cohorts_field() -> None:
    _spec().check(4)
    cases = [
        (dataclasses.replace(_spec(), length=6), "spec.length"),
        (dataclasses.replace(_spec(), cohorts=CohortOptions(0)), "max_records"),
        (_spec(min_cell=3), None),
        (_spec(ratio="gender=f/q"), "ratio"),
        (_spec(ratio="level"), "ratio"),
        (dataclasses.replace(_spec(), upper=2.0**40, cohorts=CohortOptions(1 << 20)), "overflow"),
        (dataclasses.replace(_spec(), kind=Kind.SUM, bins=()), "cohorts options"),
    ]
    for spec, message in cases:
        if message is None:
            spec.check(4)
            continue
        with pytest.raises(InvalidInput, match=message):
            spec.check(4)
    with pytest.raises(InvalidInput, match="at least 3 parties"):
        _spec(min_cell=3).check(2)
    central = Privacy(Mechanism.DISCRETE_GAUSSIAN, Placement.CENTRAL, rho=1.0)
    with pytest.raises(InvalidInput, match="distributed"):
        _spec(central, min_cell=3).check(4)


def test_conformance_refuses_another_layout_bound_or_suppression() -> None:
    decl = _decl(min_cell=5)
    conform(decl, _spec(min_cell=5))
    other = CohortLayout((Group("gender", ("m", "f")), Group("level", ("1", "2", "3"))))
    cases = [
        (dataclasses.replace(_spec(min_cell=5), bins=other.labels), "spec.bins"),
        (dataclasses.replace(_spec(), cohorts=CohortOptions(MAX_RECORDS + 1, 5)), "max_records"),
        (_spec(min_cell=2), "min_cell"),
        (dataclasses.replace(_spec(min_cell=5), upper=300.0), "spec.upper"),
        (dataclasses.replace(_spec(), kind=Kind.SUM, cohorts=CohortOptions()), "kind sum"),
    ]
    for spec, message in cases:
        with pytest.raises(PreconditionFailed, match=message) as refused:
            conform(decl, spec)
        assert decl.describe() in refused.value.message  # the declaration, never a value


# --- the published table ------------------------------------------------------------------


def test_an_exact_table_keeps_integers_and_derives_means_and_the_ratio() -> None:
    records = [(0, 100.0), (0, 120.0), (3, 150.0), (3, 170.0), (1, 90.0)]
    spec = _spec(ratio="gender=f/m")
    table = dict(cohort_outputs(spec, _vector(records), 4))
    assert table["count"].dtype == np.int64 and table["count"][0] == 2
    assert table["sum"][3] == 320 and table["mean"][0] == 110.0
    assert table["std"][0] == pytest.approx(10.0)
    assert np.isnan(table["mean"][2])  # an empty cohort has no mean
    assert ratio_labels(spec) == ["level=1", "level=2", "level=3"]
    assert table["ratio"][0] == pytest.approx(110 / 160)
    assert table["gap"][0] == pytest.approx(1 - 110 / 160)


def test_noisy_tables_are_clamped_to_what_the_bounds_allow() -> None:
    spec = _spec(Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0, unit=Unit.RECORD))
    step = record_step(LOWER, UPPER, 0)
    total = np.zeros(3 * LAYOUT.size, dtype=np.int64)
    total[0] = -3 * step * step  # a noisy count below zero
    total[1], total[7] = 2 * step * step, 10_000 * step  # a mean far above the bound
    table = dict(cohort_outputs(spec, total, 4))
    assert table["count"][0] == 0 and table["count_unclamped"][0] == -3
    assert table["mean"][1] <= UPPER


@pytest.mark.parametrize("n", [3, 4, 5])
def test_small_cells_are_suppressed_inside_mpc_and_the_rest_opened(n: int) -> None:
    spec = _spec(min_cell=3)
    rng = np.random.default_rng(n)
    per_party = [
        [(int(rng.integers(0, 6)), float(rng.integers(0, 200))) for _ in range(int(k))]
        for k in rng.integers(0, 3, size=n)
    ]
    for records in per_party:  # one cohort surely kept
        records.extend([(4, 50.0)] * 3)
    vectors = [_vector(r) for r in per_party]
    participants = [f"p{i}" for i in range(n)]
    program = program_for(spec, n)
    opened = simulate(program, [v.tolist() for v in vectors], SeededSource).opened
    table = dict(published_arrays(spec, participants, opened))
    clear = sum(vectors)
    left_out = (n - 1) // 2 + 1
    for c in range(LAYOUT.size):
        held = sorted(int(v[c]) for v in vectors)
        small = sum(held[: n - left_out]) < 3  # the t + 1 largest holders do not count
        assert table["suppressed"][c] == small
        if small:
            assert np.isnan(table["count"][c]) and np.isnan(table["mean"][c])
        else:
            assert table["count"][c] == clear[c] and table["sum"][c] == clear[6 + c]


@pytest.mark.parametrize(("n", "top"), [(3, 1), (4, 1), (5, 2)])
def test_dominance_per_cohort_and_small_cells_suppress_together(n: int, top: int) -> None:
    """A cohort is withheld when small, or when its top contributors dominate its sum; only
    the one bit 'suppressed' is opened for it, never which rule."""
    lower_zero = dataclasses.replace(_spec(min_cell=3), lower=0.0)
    spec = dataclasses.replace(
        lower_zero,
        comparison=ComparisonOptions(suppress_dominant=Fraction(7, 10), dominant_top=top),
    )
    spec.check(n)
    rng = np.random.default_rng(100 + n)
    per_party = [
        [(int(rng.integers(0, 6)), float(rng.integers(0, 200))) for _ in range(int(k))]
        for k in rng.integers(1, 4, size=n)
    ]
    per_party[0] += [(2, 200.0)] * 6  # cohort 2: one party holds most of the sum
    per_party[1] += [(2, 1.0)] * 3
    for records in per_party:  # cohort 5: spread evenly, never dominated
        records.extend([(5, 100.0)] * 3)
    vectors = [_vector(r, 0, 0.0) for r in per_party]
    program = program_for(spec, n)
    opened = simulate(program, [v.tolist() for v in vectors], SeededSource).opened
    table = dict(published_arrays(spec, [f"p{i}" for i in range(n)], opened))
    size = LAYOUT.size
    t = (n - 1) // 2
    for c in range(size):
        held = sorted(int(v[c]) for v in vectors)
        sums = sorted(int(v[size + c]) for v in vectors)
        base = sum(sums) - sum(sums[n - top - t : n - top])  # without the next t below the top
        dominated = 10 * sum(sums[-top:]) > 7 * base
        assert table["suppressed"][c] == (sum(held[: n - t - 1]) < 3 or dominated), c
    assert table["suppressed"][2] == 1 and table["suppressed"][5] == 0
    assert "largest" in revealed(spec, n) and "fewer than 3" in revealed(spec, n)


@pytest.mark.parametrize("n", [3, 5])
def test_padding_a_cell_with_ones_own_rows_does_not_lift_its_suppression(n: int) -> None:
    """The attack: t colluding participants add min_cell rows of 0 to every cohort, hoping no
    cell is suppressed and the others' exact totals come out once their own are subtracted.
    The threshold leaves out the t + 1 largest holders of each cell, so it does not, even
    where one honest party alone holds min_cell records."""
    spec = _spec(min_cell=5)
    t = (n - 1) // 2
    honest = [[(0, 120.0)], [(0, 80.0), (1, 60.0)]] + [[(2, 10.0)] * 5 for _ in range(n - 2 - t)]
    honest[0] += [(3, 70.0)] * 6  # cohort 3: one honest party alone, above min_cell
    padding = [[(c, 0.0) for c in range(LAYOUT.size) for _ in range(5)] for _ in range(t)]
    vectors = [_vector(r) for r in honest + padding]
    program = program_for(spec, n)
    opened = simulate(program, [v.tolist() for v in vectors], SeededSource).opened
    table = dict(published_arrays(spec, [f"p{i}" for i in range(n)], opened))
    assert table["suppressed"][0] == 1 and table["suppressed"][1] == 1  # 2 and 1 honest rows
    assert table["suppressed"][3] == 1  # one honest party's cell is never isolated
    assert np.isnan(table["sum"][0]) and np.isnan(table["sum"][1])


def test_copying_a_leaders_sum_does_not_dilute_the_dominance_rule() -> None:
    """The attack: a colluder puts the dominant party's sum into the same cell, so that the
    leader holds only half of the total; the rule measures the leader against the total
    without the next t holders, so the cell stays withheld."""
    lower_zero = dataclasses.replace(_spec(), lower=0.0)
    spec = dataclasses.replace(
        lower_zero, comparison=ComparisonOptions(suppress_dominant=Fraction(7, 10))
    )
    honest = [[(0, 150.0)] * 6, [(0, 10.0)] * 2]
    colluder = [(0, 150.0)] * 6  # the same sum as the leader's
    vectors = [_vector(r, 0, 0.0) for r in [*honest, colluder]]
    opened = simulate(program_for(spec, 3), [v.tolist() for v in vectors], SeededSource).opened
    table = dict(published_arrays(spec, ["a", "b", "c"], opened))
    assert table["suppressed"][0] == 1 and np.isnan(table["sum"][0])


def test_a_noisy_table_with_small_cells_compares_the_noisy_total() -> None:
    """With noise the weighted blocks go through the MPC program; the count compared is the
    total (no per-party ranking), and the table comes back in value units."""
    privacy = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0, unit=Unit.RECORD)
    spec = _spec(privacy, min_cell=3)
    spec.check(4)
    records = [[(0, 100.0), (0, 50.0)], [(0, 30.0)], [(1, 20.0)], [(5, 10.0)] * 3]
    step = record_step(LOWER, UPPER, 0)
    # Noise shares of zero (a possible draw) keep the expected table exact.
    vectors = [weighted(_vector(r), LOWER, UPPER, 0, True) for r in records]
    program = program_for(spec, 4)
    assert program.exclude_top == 0 and program.at_least == 3 * step * step
    opened = simulate(program, [v.tolist() for v in vectors], SeededSource).opened
    table = dict(published_arrays(spec, ["a", "b", "c", "d"], opened))
    assert table["suppressed"].tolist() == [0, 1, 1, 1, 1, 0]
    assert table["count"][0] == 3 and table["sum"][0] == pytest.approx(180)
    assert table["mean"][5] == pytest.approx(10)
