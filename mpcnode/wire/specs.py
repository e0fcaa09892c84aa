"""ComputationSpec between its proto form (mpc.v1) and the typed domain object.

The only place the spec's proto enums (privacy ones included) are interpreted.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TypeVar

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.cohorts import CohortOptions
from mpcnode.core.comparison_options import ComparisonOptions, parse_fraction
from mpcnode.core.privacy import Mechanism, Neighbouring, Placement, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput

_KINDS = {
    pb.KIND_SUM: Kind.SUM,
    pb.KIND_MEAN: Kind.MEAN,
    pb.KIND_COUNT: Kind.COUNT,
    pb.KIND_HISTOGRAM: Kind.HISTOGRAM,
    pb.KIND_MAX: Kind.MAX,
    pb.KIND_MIN: Kind.MIN,
    pb.KIND_AUCTION: Kind.AUCTION,
    pb.KIND_QUANTILE: Kind.QUANTILE,
    pb.KIND_THRESHOLD: Kind.THRESHOLD,
    pb.KIND_COHORTS: Kind.COHORTS,
}
K = TypeVar("K")
V = TypeVar("V")

MECHANISMS = {
    pb.Privacy.MECHANISM_NONE: Mechanism.NONE,
    pb.Privacy.MECHANISM_DISCRETE_LAPLACE: Mechanism.DISCRETE_LAPLACE,
    pb.Privacy.MECHANISM_DISCRETE_GAUSSIAN: Mechanism.DISCRETE_GAUSSIAN,
    pb.Privacy.MECHANISM_SKELLAM: Mechanism.SKELLAM,
    pb.Privacy.MECHANISM_RANDOMIZED_RESPONSE: Mechanism.RANDOMIZED_RESPONSE,
}
PLACEMENTS = {
    pb.Privacy.PLACEMENT_DISTRIBUTED: Placement.DISTRIBUTED,
    pb.Privacy.PLACEMENT_CENTRAL: Placement.CENTRAL,
    pb.Privacy.PLACEMENT_LOCAL: Placement.LOCAL,
}
UNITS = {pb.Privacy.UNIT_ORGANIZATION: Unit.ORGANIZATION, pb.Privacy.UNIT_RECORD: Unit.RECORD}
NEIGHBOURS = {
    pb.Privacy.NEIGHBOURING_REPLACE_ONE: Neighbouring.REPLACE_ONE,
    pb.Privacy.NEIGHBOURING_ADD_REMOVE: Neighbouring.ADD_REMOVE,
}


def _lookup(table: dict[K, V], key: K, default: V) -> V:
    return default if key == 0 else table[key]


def privacy_from_proto(msg: pb.Privacy) -> Privacy:
    """Decode the privacy settings; unset enums take their documented defaults."""
    if msg.mechanism not in (0, *MECHANISMS):
        raise InvalidInput(f"spec.privacy.mechanism {msg.mechanism} is unknown")
    for name, table, value in (
        ("placement", PLACEMENTS, msg.placement),
        ("unit", UNITS, msg.unit),
        ("neighbouring", NEIGHBOURS, msg.neighbouring),
    ):
        if value and value not in table:
            raise InvalidInput(f"spec.privacy.{name} {value} is unknown")
    mechanism = _lookup(MECHANISMS, msg.mechanism, Mechanism.NONE)
    local = mechanism is Mechanism.RANDOMIZED_RESPONSE
    return Privacy(
        mechanism=mechanism,
        placement=_lookup(
            PLACEMENTS, msg.placement, Placement.LOCAL if local else Placement.DISTRIBUTED
        ),
        epsilon=msg.epsilon,
        delta=msg.delta,
        rho=msg.rho,
        unit=_lookup(UNITS, msg.unit, Unit.RECORD if local else Unit.ORGANIZATION),
        neighbouring=_lookup(NEIGHBOURS, msg.neighbouring, Neighbouring.REPLACE_ONE),
        record_bound=msg.record_bound,
        threshold=msg.threshold,
    )


def privacy_to_proto(privacy: Privacy) -> pb.Privacy:
    """Encode privacy settings as their mpc.v1 message."""
    return pb.Privacy(
        mechanism=key_of(MECHANISMS, privacy.mechanism),
        placement=key_of(PLACEMENTS, privacy.placement),
        epsilon=privacy.epsilon,
        delta=privacy.delta,
        rho=privacy.rho,
        unit=key_of(UNITS, privacy.unit),
        neighbouring=key_of(NEIGHBOURS, privacy.neighbouring),
        record_bound=privacy.record_bound,
        threshold=privacy.threshold,
    )


def key_of(table: dict[K, V], value: V) -> K:
    """The proto enum number of a domain enum value."""
    return next(k for k, v in table.items() if v is value)


def spec_from_proto(msg: pb.ComputationSpec) -> ComputationSpec:
    """Decode and type a spec; InvalidInput names a missing or unknown enum value.

    Field checks that need no data (bounds, shape, overflow) are `ComputationSpec.check`.
    """
    kind = _KINDS.get(msg.kind)
    if kind is None:
        raise InvalidInput(
            "spec.kind must be one of " + ", ".join(k.value for k in _KINDS.values())
        )
    if msg.on_out_of_bounds == pb.BOUNDS_POLICY_CLIP:
        raise InvalidInput(
            "spec.on_out_of_bounds = clip is gone: values are checked against their owner's "
            "declaration when submitted, never clipped at round time; leave the field unset"
        )
    return ComputationSpec(
        name=msg.name,
        kind=kind,
        dataset=msg.dataset,
        lower=msg.lower,
        upper=msg.upper,
        length=msg.length,
        fractional_bits=msg.encoding.fractional_bits,
        bins=tuple(msg.bins),
        min_parties=msg.min_parties,
        readers=tuple(msg.readers),
        privacy=privacy_from_proto(msg.privacy),
        comparison=comparison_from_proto(msg.comparison),
        cohorts=CohortOptions(
            max_records=msg.cohorts.max_records,
            min_cell=msg.cohorts.min_cell,
            ratio=_bounded(msg.cohorts.ratio, 200, "spec.cohorts.ratio"),
        ),
    )


def spec_to_proto(spec: ComputationSpec) -> pb.ComputationSpec:
    """Encode a typed spec as its mpc.v1 message."""
    return pb.ComputationSpec(
        name=spec.name,
        kind=key_of(_KINDS, spec.kind),
        dataset=spec.dataset,
        encoding=pb.Encoding(fractional_bits=spec.fractional_bits),
        lower=spec.lower,
        upper=spec.upper,
        length=spec.length,
        bins=list(spec.bins),
        min_parties=spec.min_parties,
        readers=list(spec.readers),
        privacy=privacy_to_proto(spec.privacy),
        comparison=comparison_to_proto(spec.comparison),
        cohorts=pb.CohortOptions(
            max_records=spec.cohorts.max_records,
            min_cell=spec.cohorts.min_cell,
            ratio=spec.cohorts.ratio,
        ),
    )


def _bounded(text: str, limit: int, what: str) -> str:
    if len(text) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return text


def comparison_from_proto(msg: pb.ComparisonOptions) -> ComparisonOptions:
    """Decode comparison options; fractions are parsed exactly (InvalidInput if not numbers)."""
    for name in ("price", "quantile", "at_least", "suppress_dominant"):
        if len(getattr(msg, name)) > 40:
            raise InvalidInput(f"spec.comparison.{name} is longer than 40 characters")

    def fraction(name: str) -> Fraction:
        text = getattr(msg, name)
        return parse_fraction(text, f"spec.comparison.{name}") if text else Fraction(0)

    return ComparisonOptions(
        price=msg.price,
        quantile=fraction("quantile"),
        at_least=fraction("at_least") if msg.at_least else None,
        of_participants=msg.of_participants,
        suppress_dominant=fraction("suppress_dominant"),
        dominant_top=msg.dominant_top or 1,
        winner_only=msg.winner_only,
    )


def comparison_to_proto(options: ComparisonOptions) -> pb.ComparisonOptions:
    """Encode comparison options (fractions as exact strings, defaults left unset)."""

    def text(value: Fraction) -> str:
        return str(value) if value else ""

    return pb.ComparisonOptions(
        price=options.price,
        quantile=text(options.quantile),
        at_least="" if options.at_least is None else str(options.at_least),
        of_participants=options.of_participants,
        suppress_dominant=text(options.suppress_dominant),
        dominant_top=options.dominant_top if options.dominance else 0,
        winner_only=options.winner_only,
    )
