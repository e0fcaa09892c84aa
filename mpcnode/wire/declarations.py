"""Dataset declarations between their proto form (mpc.v1) and the typed domain object."""

from __future__ import annotations

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.cohorts import Group
from mpcnode.core.declaration import Declaration, ReleasePolicy, Shape
from mpcnode.core.privacy import Unit
from mpcnode.errors import InvalidInput
from mpcnode.wire.specs import UNITS, key_of

SHAPES = {
    pb.DatasetDeclaration.SHAPE_SCALAR: Shape.SCALAR,
    pb.DatasetDeclaration.SHAPE_VECTOR: Shape.VECTOR,
    pb.DatasetDeclaration.SHAPE_VOTE: Shape.VOTE,
    pb.DatasetDeclaration.SHAPE_POLL: Shape.POLL,
    pb.DatasetDeclaration.SHAPE_COHORTS: Shape.COHORTS,
}


def _optional(msg: pb.ReleasePolicy, name: str) -> float | None:
    # proto3 `optional`: unset means "the node's policy decides", distinct from 0.
    return float(getattr(msg, name)) if msg.HasField(name) else None  # type: ignore[arg-type]


def declaration_from_proto(msg: pb.DatasetDeclaration) -> Declaration:
    """Decode and check a declaration; InvalidInput names what is wrong (to the owner)."""
    shape = SHAPES.get(msg.shape)
    if shape is None:
        raise InvalidInput("declaration.shape must be scalar, vector, vote, poll or cohorts")
    if len(msg.groups) > 4 or any(len(g.categories) > 10_000 for g in msg.groups):
        raise InvalidInput("declaration.groups: at most 4 groups of at most 10000 categories")
    if msg.unit and msg.unit not in UNITS:
        raise InvalidInput(f"declaration.unit {msg.unit} is unknown")
    p = msg.policy
    policy = ReleasePolicy(
        allow_exact=p.allow_exact if p.HasField("allow_exact") else True,
        require_dp=p.require_dp,
        min_parties=p.min_parties,
        max_epsilon=p.max_epsilon,
        max_rho=p.max_rho,
        epsilon_cap=_optional(p, "epsilon_cap"),
        rho_cap=_optional(p, "rho_cap"),
        organization_epsilon_cap=_optional(p, "organization_epsilon_cap"),
        organization_rho_cap=_optional(p, "organization_rho_cap"),
    )
    decl = Declaration(
        dataset=msg.dataset,
        shape=shape,
        lower=msg.lower,
        upper=msg.upper,
        length=msg.length or 1,
        fractional_bits=msg.encoding.fractional_bits,
        bins=tuple(msg.bins),
        unit=UNITS.get(msg.unit, Unit.ORGANIZATION),
        record_bound=msg.record_bound,
        policy=policy,
        groups=tuple(Group(g.column, tuple(g.categories)) for g in msg.groups),
        max_records=msg.max_records,
        min_cell=msg.min_cell,
    )
    decl.check()
    return decl


def declaration_to_proto(decl: Declaration) -> pb.DatasetDeclaration:
    """Encode a declaration as its mpc.v1 message."""
    p = decl.policy
    policy = pb.ReleasePolicy(
        allow_exact=p.allow_exact,
        require_dp=p.require_dp,
        min_parties=p.min_parties,
        max_epsilon=p.max_epsilon,
        max_rho=p.max_rho,
    )
    for name in ("epsilon_cap", "rho_cap", "organization_epsilon_cap", "organization_rho_cap"):
        value = getattr(p, name)
        if value is not None:
            setattr(policy, name, value)
    return pb.DatasetDeclaration(
        dataset=decl.dataset,
        shape=key_of(SHAPES, decl.shape),
        length=decl.length,
        lower=decl.lower,
        upper=decl.upper,
        encoding=pb.Encoding(fractional_bits=decl.fractional_bits),
        bins=list(decl.bins),
        unit=key_of(UNITS, decl.unit),
        record_bound=decl.record_bound,
        policy=policy,
        groups=[
            pb.CohortGroup(column=g.column, categories=list(g.categories)) for g in decl.groups
        ],
        max_records=decl.max_records,
        min_cell=decl.min_cell,
    )
