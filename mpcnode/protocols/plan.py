"""From a computation spec to its program, each node's input, and the published outputs.

The one place that knows which program computes which kind, how a stored value enters
(encoded, and shifted to start at 0 for the kinds that rank values), and what opening the
outputs publishes, in numbers and in words (`threat_model`, `revealed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from mpcnode.core.cohort_table import Table, cohort_outputs
from mpcnode.core.cohorts import block_weights, record_step
from mpcnode.core.comparison_options import value_bits
from mpcnode.core.field import ELEMENT_BYTES
from mpcnode.core.mechanisms import OVERFLOW_MISS, plan_noise, total_noise_law
from mpcnode.core.noise_bounds import tail_halfwidth
from mpcnode.core.shamir import honest_majority_threshold
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput
from mpcnode.protocols.cohort_cells import CohortCells
from mpcnode.protocols.engine import KAPPA
from mpcnode.protocols.programs import (
    Dominance,
    Extreme,
    NoisyArgmax,
    Program,
    Ranked,
    Threshold,
)


def _offset(spec: ComputationSpec) -> int:
    return round(Fraction(spec.lower) * (1 << spec.fractional_bits))


def _bits(spec: ComputationSpec) -> int:
    return value_bits(spec.lower, spec.upper, spec.fractional_bits)


def quantile_rank(q: Fraction, n: int) -> int:
    """The nearest-rank position (0-based, ascending) of quantile q among n values."""
    return min(n - 1, max(0, math.ceil(q * n) - 1))


def program_for(spec: ComputationSpec, n: int) -> Program:
    """The program every participant runs for `spec` among n parties."""
    options, bits = spec.comparison, _bits(spec)
    ranked: dict[Kind, Program] = {
        Kind.MAX: Extreme(bits, largest=True),
        Kind.MIN: Extreme(bits, largest=False),
        Kind.AUCTION: (
            Extreme(bits, largest=True)
            if options.price == "first"
            else Ranked(bits, (n - 2,), winner=True)
        ),
        Kind.QUANTILE: Ranked(bits, (quantile_rank(options.quantile, n),)),
    }
    if spec.kind in ranked:
        return ranked[spec.kind]
    scale = 1 << spec.fractional_bits
    largest = math.ceil(max(abs(Fraction(spec.lower)), abs(Fraction(spec.upper))) * scale)
    noise = _noise_margin(spec, n)
    if spec.kind is Kind.COHORTS:
        step = record_step(spec.lower, spec.upper, spec.fractional_bits)
        weight = block_weights(step, spec.privacy.enabled)[0]
        most = n * spec.cohorts.max_records * weight + noise
        options, records = spec.comparison, spec.cohorts.max_records
        # Exact: the threshold leaves out the t + 1 largest holders of each cell (t colluding
        # parties may pad it, and the rest must not be one honest party alone). With noise
        # the count compared is the noisy total, and the protection is the noise itself:
        # per-party counts are not noisy enough to rank.
        exclude = 0 if spec.privacy.enabled else honest_majority_threshold(n) + 1
        return CohortCells(
            len(spec.bins),
            spec.cohorts.min_cell * weight,
            most,
            options.suppress_dominant,
            options.dominant_top,
            max(1, (records * step).bit_length()),
            exclude,
            max(1, (records * weight).bit_length()),
        )
    if spec.kind is Kind.THRESHOLD:
        if options.at_least is None:  # spec.check refuses it; a programming error here
            raise ValueError("a threshold needs at_least")
        at_least = options.at_least * scale * (n if options.of_participants else 1)
        return Threshold(at_least, largest + -(-noise // n))
    if options.winner_only:
        return NoisyArgmax(spec.length, n * largest + noise)
    # Dominance compares the values themselves (not shifted to start at 0): its operands are
    # bounded by the domain's top, not its width.
    return Dominance(max(1, largest.bit_length()), options.suppress_dominant, options.dominant_top)


def _noise_margin(spec: ComputationSpec, n: int) -> int:
    """A bound on |total noise| of one element that fails with probability below 2^-40."""
    plan = plan_noise(spec, n)
    if plan is None:
        return 0
    return math.ceil(tail_halfwidth(total_noise_law(plan, n), OVERFLOW_MISS)) + 1


def node_input(spec: ComputationSpec, encoded: Sequence[int]) -> list[int]:
    """A node's input as its program takes it (its noise share already added, if any):
    the ranked kinds count from the domain's lower end."""
    if spec.kind in (Kind.MAX, Kind.MIN, Kind.AUCTION, Kind.QUANTILE):
        return [e - _offset(spec) for e in encoded]
    return list(encoded)


def check_fits(spec: ComputationSpec, n: int) -> None:
    """InvalidInput when the spec's comparisons would not fit the field for n parties, or a
    step's messages would not fit one gRPC message. Both follow from the spec and n alone,
    so the refusal comes before any release is recorded."""
    program = program_for(spec, n)
    widest = program.widest(n)
    if widest + KAPPA + n.bit_length() + 3 > 126:
        raise InvalidInput(
            f"this {spec.kind.value} compares {widest}-bit values among {n} parties, too wide "
            "for the comparison's field (GF(2^127 - 1)) with 40 bits of statistical "
            "security: narrow the bounds, use fewer fractional bits, or a simpler threshold"
        )
    vector = spec.comparison.winner_only or spec.kind is Kind.COHORTS
    largest = largest_step_reply(program, n, spec.length if vector else 1)
    if largest > MAX_STEP_REPLY_BYTES:
        raise InvalidInput(
            f"this {spec.kind.value} among {n} parties would send {largest / 2**20:.1f} MiB "
            f"in one step, above the {MAX_STEP_REPLY_BYTES / 2**20:.1f} MiB a step carries: "
            "invite fewer parties, narrow the bounds or use fewer bins"
        )


MAX_STEP_REPLY_BYTES = (4 << 20) - (64 << 10)
"""One Step reply or request: the wire's message limit (mpcnode.tls.MAX_MESSAGE_BYTES) less
room for the framing."""


def largest_step_reply(program: Program, n: int, inputs: int) -> int:
    """An upper bound on the bytes of any step's reply (or request) for `program` among n.

    The largest message is step 1's from a dealer: its inputs and, per random bit, a share
    of the bit's element and of a sharing of zero, plus the masks and output zeros; every
    later step sends fewer elements than there are bits (an opening of the squares, then
    batches of comparisons). Each of the n - 1 messages adds its AEAD tag and framing.
    """
    needs = program.needs(n)
    elements = inputs + 2 * needs.bits + needs.masks + needs.outputs
    return (n - 1) * (elements * ELEMENT_BYTES + 16 + 128)


def published(
    spec: ComputationSpec, participants: Sequence[str], opened: Sequence[int]
) -> list[tuple[str, int | float]]:
    """The outputs as published, by name, from the opened field elements.

    Values are decoded (int for integer specs, float for fixed point). A party output
    (argmax, argmin, an auction's winner) is an index into `participants` in the order
    given; the program itself indexes the sorted participant list. threshold -> "yes"
    (1 or 0); a dominance-checked sum -> "suppressed" (1 or 0) and, only when 0, "sum" (and
    "mean").
    """
    n = len(participants)
    order = sorted(participants)
    decoded = program_for(spec, n).decode(opened, n)
    scale = 1 << spec.fractional_bits

    def value(encoded: int) -> int | float:
        v = Fraction(encoded + _offset(spec), scale)
        return int(v) if spec.is_integer else float(v)

    def party(index: int) -> int:
        return list(participants).index(order[index])

    kind = spec.kind
    if kind in (Kind.MAX, Kind.MIN):
        holder = "argmax" if kind is Kind.MAX else "argmin"
        return [(kind.value, value(decoded["value"])), (holder, party(decoded["index"]))]
    if kind is Kind.AUCTION:
        first = spec.comparison.price == "first"
        price = decoded["value"] if first else decoded[f"rank{n - 2}"]
        return [("winner", party(decoded["index"])), ("price", value(price))]
    if kind is Kind.QUANTILE:
        return [("quantile", value(decoded[f"rank{quantile_rank(spec.comparison.quantile, n)}"]))]
    if kind is Kind.THRESHOLD:
        return [("yes", decoded["yes"])]
    return _sum_outputs(spec, decoded, n)


def _sum_outputs(
    spec: ComputationSpec, decoded: dict[str, int], n: int
) -> list[tuple[str, int | float]]:
    """A noisy histogram's winner (a bin of spec.bins), or a dominance-checked sum."""
    if spec.comparison.winner_only:
        return [("winner", decoded["index"])]
    if decoded["suppressed"]:
        return [("suppressed", 1)]
    total = Fraction(decoded["sum"], 1 << spec.fractional_bits)
    as_number = int(total) if spec.is_integer else float(total)
    mean = [("mean", float(total / n))] if spec.kind is Kind.MEAN else []
    return [("suppressed", 0), ("sum", as_number), *mean]


def published_arrays(
    spec: ComputationSpec, participants: Sequence[str], opened: Sequence[int]
) -> Table:
    """The outputs as published, each as an array: `published`'s scalars as one element,
    and a cohorts table (small cells suppressed inside MPC) as one element per cohort."""
    if spec.kind is Kind.COHORTS:
        n, size = len(participants), len(spec.bins)
        decoded = program_for(spec, n).decode(opened, n)
        small = np.array([decoded[f"suppressed:{c}"] for c in range(size)], dtype=np.int64)
        total = np.array([decoded[f"total:{e}"] for e in range(3 * size)], dtype=np.int64)
        return cohort_outputs(spec, total, n, suppressed=small)
    table: Table = []
    for name, value in published(spec, participants, opened):
        dtype = np.float64 if isinstance(value, float) else np.int64
        table.append((name, np.array([value], dtype=dtype)))
    return table


PARTY_OUTPUTS = ("argmax", "argmin", "winner")
"""Outputs that are an index into the result's participants (when the kind compares)."""


def threat_model(spec: ComputationSpec, n: int) -> str:
    """The threat model a result of `spec` over n parties was computed under."""
    if spec.multi_step:
        t = honest_majority_threshold(n)
        return (
            f"honest majority, passive, t = {t} of {n} parties (Shamir over GF(2^127-1); "
            "masked openings statistically hidden to 2^-40); the coordinator sees only "
            "sealed messages and the outputs"
        )
    return (
        f"passive, any {n - 1} of {n} parties colluding (additive shares over Z_2^64); "
        "the coordinator sees only the partial sums"
    )


def revealed(spec: ComputationSpec, n: int) -> str:
    """In words, exactly what a result of `spec` over n parties reveals."""
    kind, options = spec.kind, spec.comparison
    if kind is Kind.COHORTS:
        noisy = "noisy " if spec.privacy.enabled else ""
        small, options = spec.cohorts.min_cell, spec.comparison
        step = record_step(spec.lower, spec.upper, spec.fractional_bits)
        times = step / (1 << spec.fractional_bits)
        noise = f" (the noise stated is a count's; a sum's is {times:g} times it)" if noisy else ""
        left_out = honest_majority_threshold(n) + 1
        besides = "" if noisy else f" besides its {left_out} largest holders'"
        rules = [f"with fewer than {small} {noisy}records{besides}"] if small else []
        if options.dominance:
            top, share = options.dominant_top, f"{float(options.suppress_dominant):.4g}"
            who = f"{top} largest contributors exceed" if top > 1 else "largest contributor exceeds"
            rest = f" without the next {left_out - 1}"
            rules.append(f"whose {who} {share} of its sum{rest}")
        withheld = f"; for a cohort {' or '.join(rules)}, only that it is suppressed"
        return f"each cohort's {noisy}count, sum, mean and standard deviation{noise}" + (
            withheld if rules else ""
        )
    nothing_else = "; nothing else: no other value, no comparison outcome"
    if options.dominance:
        top = options.dominant_top
        which = f"{top} largest contributions exceed" if top > 1 else "largest contribution exceeds"
        share = f"{float(options.suppress_dominant):.4g}"
        return f"whether the {which} {share} of the total, and the total only if not"
    if options.winner_only:
        return "the bin with the largest noisy count (report-noisy-max); no count, noisy or not"
    if kind is Kind.AUCTION and options.price == "second":
        return "the winner and the second-highest bid (not the winner's own bid)" + nothing_else
    texts = {
        Kind.MAX: "the maximum value and the party that holds it" + nothing_else,
        Kind.MIN: "the minimum value and the party that holds it" + nothing_else,
        Kind.AUCTION: "the winner and the winning bid" + nothing_else,
        Kind.QUANTILE: f"the value at quantile {options.quantile} (not who holds it)"
        + nothing_else,
        Kind.THRESHOLD: "YES or NO for the sum reaching the threshold; not the sum",
    }
    return texts.get(kind, "the aggregate, as published")
