"""ComputationSpec between its proto form (mpc.v1) and the typed domain object.

The only place the spec's proto enums are interpreted. Version 1 speaks no differential
privacy: a spec asking for a mechanism other than NONE is refused here, with a message.
"""

from __future__ import annotations

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.spec import BoundsPolicy, ComputationSpec, Kind
from mpcnode.errors import InvalidInput

_KINDS = {
    pb.KIND_SUM: Kind.SUM,
    pb.KIND_MEAN: Kind.MEAN,
    pb.KIND_COUNT: Kind.COUNT,
    pb.KIND_HISTOGRAM: Kind.HISTOGRAM,
}
_POLICIES = {
    pb.BOUNDS_POLICY_REJECT: BoundsPolicy.REJECT,
    pb.BOUNDS_POLICY_CLIP: BoundsPolicy.CLIP,
}
_NO_PRIVACY = (pb.Privacy.MECHANISM_UNSPECIFIED, pb.Privacy.MECHANISM_NONE)


def spec_from_proto(msg: pb.ComputationSpec) -> ComputationSpec:
    """Decode and type a spec; InvalidInput names a missing or unknown enum value.

    Field checks that need no data (bounds, shape, overflow) are `ComputationSpec.check`.
    """
    kind = _KINDS.get(msg.kind)
    if kind is None:
        raise InvalidInput("spec.kind must be one of sum, mean, count, histogram")
    policy = _POLICIES.get(msg.on_out_of_bounds)
    if policy is None:
        raise InvalidInput("spec.on_out_of_bounds must be reject or clip")
    if msg.HasField("privacy") and msg.privacy.mechanism not in _NO_PRIVACY:
        raise InvalidInput(
            "spec.privacy asks for differential privacy, which this version does not offer "
            "yet; leave spec.privacy empty for an exact aggregate"
        )
    return ComputationSpec(
        name=msg.name,
        kind=kind,
        dataset=msg.dataset,
        lower=msg.lower,
        upper=msg.upper,
        length=msg.length,
        fractional_bits=msg.encoding.fractional_bits,
        on_out_of_bounds=policy,
        bins=tuple(msg.bins),
        min_parties=msg.min_parties,
        readers=tuple(msg.readers),
    )


def spec_to_proto(spec: ComputationSpec) -> pb.ComputationSpec:
    """Encode a typed spec as its mpc.v1 message."""
    return pb.ComputationSpec(
        name=spec.name,
        kind=next(k for k, v in _KINDS.items() if v is spec.kind),
        dataset=spec.dataset,
        encoding=pb.Encoding(fractional_bits=spec.fractional_bits),
        lower=spec.lower,
        upper=spec.upper,
        on_out_of_bounds=next(k for k, v in _POLICIES.items() if v is spec.on_out_of_bounds),
        length=spec.length,
        bins=list(spec.bins),
        min_parties=spec.min_parties,
        readers=list(spec.readers),
    )
