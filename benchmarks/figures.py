"""The cases of benchmarks/secure_sum.py, what each measured, and how it is printed."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind

FRACTIONAL_BITS = 20
DOMAIN = 100.0  # vector elements are reals in [-DOMAIN, DOMAIN]
SCALAR_UPPER = 10_000  # scalar inputs are whole numbers in [0, SCALAR_UPPER]


@dataclass(frozen=True)
class Case:
    """Vectors of `length` reals (1: a scalar round over whole numbers) from `parties`."""

    length: int
    parties: int

    @property
    def label(self) -> str:
        """`L=1e6 n=4`, or `scalar n=16`."""
        if self.length == 1:
            return f"scalar n={self.parties}"
        return f"L=1e{round(math.log10(self.length))} n={self.parties}"

    @property
    def dataset(self) -> str:
        """A dataset per case: another participant set on one dataset would be refused."""
        return f"bench-L{self.length}-n{self.parties}"

    def declaration(self) -> Declaration:
        """What each party declares for the case's dataset."""
        if self.length == 1:
            return Declaration(self.dataset, Shape.SCALAR, 0, SCALAR_UPPER)
        return Declaration(
            self.dataset,
            Shape.VECTOR,
            -DOMAIN,
            DOMAIN,
            length=self.length,
            fractional_bits=FRACTIONAL_BITS,
        )

    def spec(self) -> ComputationSpec:
        """The exact sum the analyst asks for, conforming to the declaration."""
        d = self.declaration()
        return ComputationSpec(
            f"bench {self.label}",
            Kind.SUM,
            self.dataset,
            d.lower,
            d.upper,
            length=d.length,
            fractional_bits=d.fractional_bits,
            min_parties=3,
        )

    def values(self, rng: np.random.Generator) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        """One party's input (benchmark data: a seeded generator is fine here)."""
        if self.length == 1:
            return rng.integers(0, SCALAR_UPPER + 1, size=1)
        return rng.uniform(-DOMAIN, DOMAIN, self.length)


@dataclass
class Figures:
    """What one case measured."""

    case: Case
    secure: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    first: tuple[float, float] = (math.nan, math.nan)
    secure_wire: list[float] = field(default_factory=list)  # mean bytes per party per round
    floor_wire: list[float] = field(default_factory=list)
    coordinator_wire: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    start_rss: tuple[float, float] = (math.nan, math.nan)  # node (largest), coordinator


# -- printing -----------------------------------------------------------------------------------
def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _size(values: list[float]) -> str:
    if not values:
        return "n/a (no ss)"
    value = statistics.median(values)
    return f"{value / 1e6:.3g} MB" if value >= 1e5 else f"{value / 1e3:.3g} kB"


def summary_line(f: Figures) -> str:
    """`L=1e6 n=4: mpcnode 0.89 s, floor 0.084 s, ratio 10.6x (min 9.8, max 11.2); ...`."""
    ratios = [s / fl for s, fl in zip(f.secure, f.floor, strict=True)]
    return (
        f"{f.case.label}: mpcnode {_seconds(statistics.median(f.secure))}, "
        f"floor {_seconds(statistics.median(f.floor))}, "
        f"ratio {statistics.median(ratios):.1f}x (min {min(ratios):.1f}, max {max(ratios):.1f}); "
        f"wire per party: mpcnode {_size(f.secure_wire)}, floor {_size(f.floor_wire)}; "
        f"peak RSS node {f.peaks['node']:.0f} MiB, coordinator {f.peaks['coordinator']:.0f} MiB"
    )


def detail_line(f: Figures) -> str:
    """The repetitions, the first rounds, the coordinator's traffic and the floor's memory."""
    secure = ", ".join(f"{t:.3g}" for t in f.secure)
    floor = ", ".join(f"{t:.3g}" for t in f.floor)
    return (
        f"    reps mpcnode [{secure}] s, floor [{floor}] s; first round mpcnode "
        f"{_seconds(f.first[0])}, floor {_seconds(f.first[1])}; coordinator sent "
        f"{_size(f.coordinator_wire)}/round; peak RSS floor aggregator "
        f"{f.peaks['floor aggregator']:.0f} MiB, floor sender {f.peaks['floor sender']:.0f} MiB; "
        f"RSS at the case's start node {f.start_rss[0]:.0f} MiB, "
        f"coordinator {f.start_rss[1]:.0f} MiB"
    )


# -- the targets of issue 9 ---------------------------------------------------------------------
VECTOR_MIB = 8 / 2**20  # MiB per element of a uint64 / float64 vector


def target_lines(results: list[Figures]) -> list[str]:
    """One line per target the run can judge: `met` or `GAP`, with the measured figure."""
    by_label = {f.case.label: f for f in results}
    lines = []

    def judge(name: str, value: float, limit: float, unit: str) -> None:
        verdict = "met" if value <= limit else "GAP"
        lines.append(f"  [{verdict}] {name}: {value:.3g}{unit} (target <= {limit:.3g}{unit})")

    if (f := by_label.get("L=1e6 n=4")) is not None:
        ratios = [s / fl for s, fl in zip(f.secure, f.floor, strict=True)]
        judge("secure sum 4 x 1e6 / floor, median", statistics.median(ratios), 1.5, "x")
    if (f := by_label.get("scalar n=4")) is not None:
        judge("scalar round 4 parties, p50", statistics.median(f.secure) * 1000, 10, " ms")
    if (f := by_label.get("scalar n=64")) is not None:
        judge("scalar round 64 parties, p50", statistics.median(f.secure), 0.5, " s")
    for f in results:
        if not math.isnan(f.first[0]) and f.secure:
            ratio = f.first[0] / statistics.median(f.secure)
            judge(f"{f.case.label} first round / warm p50", ratio, 2.0, "x")
    if (f := by_label.get("L=1e7 n=4")) is not None:
        vector = f.case.length * VECTOR_MIB
        judge("node peak RSS at 1e7", f.peaks["node"], 3 * vector + 100, " MiB")
        judge("coordinator peak RSS at 1e7", f.peaks["coordinator"], 2 * vector + 100, " MiB")
    return lines
