"""The value-blind rule (DESIGN 1): a node's answer to Prepare never depends on its values.

Property: for two nodes that differ only in their stored values (both inside the declared
domain), every Prepare of a fuzzed spec gets the same answer, byte for byte: the same
status, the same message, the same blamed party, and therefore the same failure reason at
the coordinator. The fuzzing covers the oracle of the old design (a binary search over
spec.upper), the other spec fields, privacy settings, participant sets, and a ledger with
an exact release or a spent budget behind it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seeded import roster_with_seal_keys, sealed_seeds_for

from coordinator.reasons import failure_reason
from coordinator.round_failure import RoundFailure
from mpcnode.config import EVERY_KIND, NodePolicy
from mpcnode.core.cohorts import CohortOptions, Group
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.spec import COMPARISON_KINDS, ComputationSpec, Kind
from mpcnode.core.transcript import new_round_id, transcript_hash
from mpcnode.errors import MpcError
from mpcnode.node.rounds import NodeRound, RoundBook
from mpcnode.node.store import NodeStore

PARTIES = ("alice", "bob", "carlos", "david", "erin")
ROSTER, SEAL_KEYS = roster_with_seal_keys(PARTIES)
DECLARATIONS = {
    "raises": Declaration("raises", Shape.SCALAR, 0, 10_000),
    "salaries": Declaration(
        "salaries", Shape.VECTOR, -1000, 1e6, length=4, fractional_bits=8,
        unit=Unit.RECORD, record_bound=2000, policy=ReleasePolicy(max_epsilon=2),
    ),
    "lunch": Declaration("lunch", Shape.VOTE, 0, 1, length=3, bins=("pizza", "sushi", "tacos")),
    "poll": Declaration(
        "poll", Shape.POLL, 0, 50, length=2, bins=("no", "yes"), unit=Unit.RECORD,
        record_bound=1, policy=ReleasePolicy(organization_epsilon_cap=100),
    ),
    "spent": Declaration("spent", Shape.SCALAR, 0, 100, policy=ReleasePolicy(epsilon_cap=0.5)),
    "payroll": Declaration(
        "payroll", Shape.COHORTS, 0, 1000, length=4, unit=Unit.RECORD, max_records=20,
        min_cell=2, groups=(Group("gender", ("f", "m")), Group("level", ("1", "2"))),
        policy=ReleasePolicy(organization_epsilon_cap=1000),
    ),
}  # fmt: skip
# Two organizations' values for every dataset: as different as the domains allow.
VALUES = (
    {"raises": [3800], "salaries": [-1000.0, 0.5, 1e6, 77.25], "lunch": [1, 0, 0],
     "poll": [1, 1, 0], "spent": [0],
     "payroll": [1, 0, 0, 0, 1000, 0, 0, 0, 1000**2, 0, 0, 0]},
    {"raises": [9000], "salaries": [999_999.0, -3.5, 0.0, 12.0], "lunch": [0, 0, 1],
     "poll": [0] * 50, "spent": [100],
     "payroll": [5, 5, 5, 5, 10, 20, 30, 4000, 20, 80, 180, 4_000_000]},
)  # fmt: skip


def _world(root: Path, values: dict[str, list[float]]) -> RoundBook:
    store = NodeStore(root)
    for name, decl in DECLARATIONS.items():
        dtype = np.float64 if decl.fractional_bits else np.int64
        snapshot = "test rows" if decl.shape is Shape.COHORTS else ""
        store.put_input(name, np.array(values[name], dtype=dtype), decl, snapshot=snapshot)
    policy = NodePolicy(min_parties=3, allowed_kinds=EVERY_KIND)
    book = RoundBook("alice", store, policy, ROSTER, SystemRandomSource(), SEAL_KEYS["alice"])
    return book


def _history(book: RoundBook) -> None:
    """The same ledger behind both worlds: an exact release of raises, a spent budget."""
    for spec, participants in (
        (ComputationSpec("s", Kind.SUM, "raises", 0, 10_000, min_parties=3), PARTIES[:4]),
        (
            ComputationSpec(
                "n", Kind.SUM, "spent", 0, 100, min_parties=3,
                privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5),
            ),
            PARTIES[:3],
        ),
    ):  # fmt: skip
        outcome = _prepare(book, spec, participants, keep=True)
        assert outcome == ("OK", "", ""), outcome
        state = next(iter(book._rounds.values()))
        asyncio.run(book.accept_seeds(state.round_id, state.transcript, seeds_for(state)))
        asyncio.run(book.release_partial(state.round_id, state.transcript))
        book.end(state.round_id, "published")


def seeds_for(state: NodeRound, to: str = "alice") -> dict[str, bytes]:
    """What an honest relay hands `to`: a fresh seed from every other participant, sealed."""
    return sealed_seeds_for(state.transcript, state.participants, SEAL_KEYS, to)


def _prepare(
    book: RoundBook, spec: ComputationSpec, participants: tuple[str, ...], keep: bool = False
) -> tuple[str, str, str]:
    """What the coordinator would see of one Prepare: status, message, blamed party."""
    round_id = new_round_id()
    deadline = int((time.time() + 60) * 1000)
    transcript = transcript_hash(round_id, spec, participants, deadline)
    try:
        asyncio.run(book.prepare(round_id, transcript, spec, participants, deadline))
    except MpcError as err:
        # Round ids differ between worlds by construction; everything else must not.
        return err.status, err.message.replace(round_id.hex(), "<round>"), err.party + err.reason
    finally:
        if not keep:
            book.end(round_id, "aborted: probe")
    return "OK", "", ""


finite = st.floats(-2e6, 2e6, allow_nan=False).map(lambda v: round(v, 2))
_SANE = [
    Privacy(),
    Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.1),
    Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=50.0),
    Privacy(Mechanism.DISCRETE_LAPLACE, Placement.CENTRAL, epsilon=0.2),
    Privacy(Mechanism.SKELLAM, rho=0.05),
    Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5, unit=Unit.RECORD, record_bound=2000.0),
    Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5, unit=Unit.RECORD, record_bound=1e-5),
    Privacy(Mechanism.RANDOMIZED_RESPONSE, Placement.LOCAL, epsilon=1.0, unit=Unit.RECORD),
]
privacies = st.one_of(
    st.sampled_from(_SANE),
    st.sampled_from(_SANE),
    st.sampled_from(_SANE),
    st.builds(
        Privacy,
        mechanism=st.sampled_from([Mechanism.DISCRETE_LAPLACE, Mechanism.SKELLAM]),
        placement=st.sampled_from([Placement.DISTRIBUTED, Placement.CENTRAL]),
        epsilon=st.sampled_from([0.0, 0.1, 1.0, 50.0]),
        rho=st.sampled_from([0.0, 0.05, 1.0]),
        unit=st.sampled_from(list(Unit)),
        record_bound=st.sampled_from([0.0, 1e-5, 1.0, 2000.0]),
        threshold=st.sampled_from([0, 3, 4]),
    ),
)


@st.composite
def specs(draw: st.DrawFn) -> tuple[ComputationSpec, tuple[str, ...]]:
    """A spec close to a declaration with some fields moved: the old oracle's probes."""
    name = draw(st.sampled_from([*DECLARATIONS, "undeclared"]))
    decl = DECLARATIONS.get(name, DECLARATIONS["raises"])
    kinds = [Kind.HISTOGRAM] if decl.bins else [Kind.SUM, Kind.MEAN, *COMPARISON_KINDS]
    if decl.shape is Shape.COHORTS:
        kinds = [Kind.COHORTS, Kind.COHORTS, Kind.SUM]
    kind = draw(st.sampled_from(kinds))
    comparison = draw(
        st.sampled_from(
            {
                Kind.AUCTION: [ComparisonOptions(price="first"), ComparisonOptions(price="second")],
                Kind.QUANTILE: [ComparisonOptions(quantile=Fraction(1, 2))],
                Kind.THRESHOLD: [
                    ComparisonOptions(at_least=Fraction(5000)),
                    ComparisonOptions(at_least=Fraction(1, 2), of_participants=True),
                ],
                Kind.SUM: [
                    ComparisonOptions(),
                    ComparisonOptions(suppress_dominant=Fraction(4, 5)),
                ],
            }.get(kind, [ComparisonOptions()])
        )
    )
    spec = ComputationSpec(
        name=draw(st.sampled_from(["probe", "sum of raises"])),
        kind=kind,
        dataset=name,
        lower=0.0 if decl.shape is Shape.POLL else float(decl.lower),
        upper=float(decl.upper),
        length=decl.contribution_length,
        fractional_bits=decl.fractional_bits,
        bins=decl.layout.labels if kind is Kind.COHORTS else decl.bins,
        min_parties=draw(st.integers(2, 5)),
        privacy=draw(privacies),
        comparison=comparison,
        cohorts=CohortOptions(draw(st.sampled_from([20, 19])), draw(st.sampled_from([0, 2, 5])), "")
        if kind is Kind.COHORTS
        else CohortOptions(),
    )
    # Half the probes move one field away from the declaration, as the old oracle did.
    field = draw(st.sampled_from(["none", "none", "none", "lower", "upper", "bits", "length"]))
    if field in ("lower", "upper"):
        spec = dataclasses.replace(spec, **{field: draw(finite)})
    elif field == "bits":
        spec = dataclasses.replace(spec, fractional_bits=draw(st.sampled_from([0, 8, 20])))
    elif field == "length" and not spec.bins:
        spec = dataclasses.replace(spec, length=draw(st.sampled_from([1, 3, 4])))
    if spec.fractional_bits == 0:
        spec = dataclasses.replace(spec, lower=float(int(spec.lower)), upper=float(int(spec.upper)))
    if spec.lower > spec.upper:
        spec = dataclasses.replace(spec, lower=spec.upper, upper=spec.lower)
    others = draw(st.lists(st.sampled_from(PARTIES[1:]), min_size=1, max_size=4, unique=True))
    return spec, ("alice", *others)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=specs())
def test_every_prepare_reply_is_the_same_whatever_the_values(
    case: tuple[ComputationSpec, tuple[str, ...]],
) -> None:
    spec, participants = case
    a, b = WORLDS
    left, right = _prepare(a, spec, participants), _prepare(b, spec, participants)
    assert left == right
    # The coordinator's failure reason is built from these answers alone.
    if left[0] != "OK":
        reasons = [
            failure_reason(
                [RoundFailure("prepare", {"alice": MpcError(r[1])}).reason("0000")], "refused"
            )
            for r in (left, right)
        ]
        assert reasons[0] == reasons[1]


def test_the_old_oracle_gets_one_answer_for_every_probe() -> None:
    """The binary search over spec.upper that recovered 3800 in 13 probes learns nothing."""
    a, b = WORLDS
    answers = set()
    for upper in (10_000, 5000, 2500, 3750, 3875, 3812, 3781, 3797, 3805, 3801, 3799, 3800):
        spec = ComputationSpec("probe", Kind.SUM, "raises", 0, upper, min_parties=3)
        outcome = _prepare(a, spec, PARTIES[:3])
        assert outcome == _prepare(b, spec, PARTIES[:3])
        answers.add(outcome[0])
    assert answers == {"FAILED_PRECONDITION"}


def _worlds() -> tuple[RoundBook, RoundBook]:
    import atexit  # noqa: PLC0415 - module-level state for hypothesis, made once
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    books = []
    for values in VALUES:
        folder = tempfile.mkdtemp(prefix="value-blind-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # no folder left in /tmp
        book = _world(Path(folder), values)
        _history(book)
        books.append(book)
    return books[0], books[1]


WORLDS = _worlds()


def test_a_records_dataset_answers_the_same_whatever_its_cohorts_hold() -> None:
    """A cohort of one, or none, in one world; five in the other: the same answers, OKs too."""
    decl = DECLARATIONS["payroll"]
    record_dp = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=0.5, unit=Unit.RECORD)
    outcomes = set()
    for min_cell, privacy, records in [
        (2, Privacy(), 20),
        (5, Privacy(), 20),
        (0, Privacy(), 20),
        (2, record_dp, 20),
        (0, record_dp, 20),
        (2, Privacy(), 19),
    ]:
        spec = ComputationSpec(
            "probe", Kind.COHORTS, "payroll", 0, 1000, length=12, bins=decl.layout.labels,
            min_parties=3, privacy=privacy, cohorts=CohortOptions(records, min_cell, ""),
        )  # fmt: skip
        a, b = WORLDS
        left = _prepare(a, spec, PARTIES[:4])
        assert left == _prepare(b, spec, PARTIES[:4])
        outcomes.add(left[0])
    assert outcomes == {"OK", "FAILED_PRECONDITION"}
