"""A noisy result is clamped to its domain (post-processing) and the raw value kept beside it."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coordinator.outputs import outputs_for
from mpcnode.client.analyst import Result
from mpcnode.commands.render import result_json, result_table
from mpcnode.core.privacy import Mechanism, Privacy
from mpcnode.core.result_privacy import ResultPrivacy
from mpcnode.core.spec import ComputationSpec, Kind

NOISY = Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=1.0)


def _ring(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64).view(np.uint64).copy()


def test_a_noisy_mean_of_non_negative_values_is_never_negative() -> None:
    spec = ComputationSpec("m", Kind.MEAN, "d", 0, 100, min_parties=3, privacy=NOISY)
    out = {o.name: o.values.tolist() for o in outputs_for(spec, _ring([-50]), 4)}
    assert out == {"sum": [0], "mean": [0.0], "sum_unclamped": [-50], "mean_unclamped": [-12.5]}


def test_an_exact_result_is_published_as_is() -> None:
    spec = ComputationSpec("s", Kind.SUM, "d", 0, 100, min_parties=3)
    out = {o.name: o.values.tolist() for o in outputs_for(spec, _ring([250]), 4)}
    assert out == {"sum": [250]}


def test_a_noisy_histogram_has_no_negative_count_and_keeps_its_noisy_winner() -> None:
    spec = ComputationSpec(
        "h", Kind.HISTOGRAM, "v", 0, 1, length=3, bins=("a", "b", "c"), min_parties=3,
        privacy=NOISY,
    )  # fmt: skip
    out = {o.name: o.values.tolist() for o in outputs_for(spec, _ring([-2, 9, 3]), 4)}
    assert out["counts"] == [0, 4, 3] and out["counts_unclamped"] == [-2, 9, 3]
    assert out["winner"] == [1]


@given(
    n=st.integers(2, 10),
    truth=st.data(),
    noise=st.integers(-(10**6), 10**6),
)
def test_clamping_never_moves_a_value_further_from_the_truth(
    n: int, truth: st.DataObject, noise: int
) -> None:
    """The exact sum lies in n x [lower, upper]: clamping to it can only get closer."""
    spec = ComputationSpec("s", Kind.SUM, "d", -50, 100, min_parties=2, privacy=NOISY)
    exact = truth.draw(st.integers(-50 * n, 100 * n))
    out = {o.name: int(o.values[0]) for o in outputs_for(spec, _ring([exact + noise]), n)}
    assert abs(out["sum"] - exact) <= abs(out["sum_unclamped"] - exact)
    assert -50 * n <= out["sum"] <= 100 * n


def test_the_table_shows_clamped_values_and_the_raw_ones_on_request() -> None:
    spec = ComputationSpec("m", Kind.MEAN, "d", 0, 100, min_parties=3, privacy=NOISY)
    outputs = {o.name: o.values for o in outputs_for(spec, _ring([-50]), 4)}
    result = Result("c", spec, "ab" * 16, ("a", "b", "c", "d"), outputs, ResultPrivacy(), 0)
    table = result_table(result)
    assert "mean   0" in table and "-12.5" not in table and "--unclamped" in table
    raw = result_table(result, unclamped=True)
    assert "mean   -12.5" in raw and "sum    -50" in raw
    assert result_json(result)["outputs"]["mean_unclamped"] == [-12.5]
