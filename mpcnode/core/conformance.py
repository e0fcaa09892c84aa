"""Conformance: whether an analyst's spec matches its owner's declaration (DESIGN 1, 3).

The one place of the value-blind rule's main check at Prepare. It reads the spec and the
declaration, never a stored value, so a refusal cannot be an oracle: whatever the stored
values, the same spec gets the same answer, byte for byte (tests/test_value_blind.py). The
refusal names the declaration (its public description), which analysts need to conform.

Also the node-side function of a spec, the ledger's notion of "the same computation".
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mpcnode.core.accounting import Cost
from mpcnode.core.declaration import SHAPE_KINDS, Declaration, Shape
from mpcnode.core.privacy import Mechanism, Placement, Unit, exact_decimal
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import PreconditionFailed, shown


def conform(decl: Declaration, spec: ComputationSpec) -> None:
    """Refuse a spec that does not match `decl`, looking at nothing else (no stored value).

    The message names the declaration (its public description), never a stored value.
    """
    problem = (
        _shape_mismatch(decl, spec) or _privacy_mismatch(decl, spec) or _policy_refusal(decl, spec)
    )
    if problem:
        raise PreconditionFailed(
            f"the spec does not conform to dataset {shown(decl.dataset)} as its owner "
            f"declared it ({decl.describe()}): {problem}",
            reason="SPEC_NOT_CONFORMING",
        )


def _shape_mismatch(decl: Declaration, spec: ComputationSpec) -> str:
    if spec.kind not in SHAPE_KINDS[decl.shape] and not (
        spec.kind is Kind.HISTOGRAM and decl.shape is Shape.VECTOR and decl.bins
    ):
        allowed = ", ".join(k.value for k in SHAPE_KINDS[decl.shape])
        return f"kind {spec.kind.value} is not one of {allowed}"
    checks: list[tuple[str, Any, Any]] = [
        ("length", spec.length, decl.contribution_length),
        ("fractional_bits", spec.fractional_bits, decl.fractional_bits),
        ("lower", float(spec.lower), float(0 if decl.shape is Shape.POLL else decl.lower)),
        ("upper", float(spec.upper), float(decl.upper)),
        ("bins", spec.bins, decl.bins if spec.kind is Kind.HISTOGRAM else ()),
    ]
    if decl.shape is Shape.COHORTS:
        checks[-1] = ("bins", spec.bins, decl.layout.labels)
        checks.append(("cohorts.max_records", spec.cohorts.max_records, decl.max_records))
        if spec.cohorts.min_cell < decl.min_cell:
            return (
                f"spec.cohorts.min_cell is {spec.cohorts.min_cell}; its owner requires cohorts "
                f"of fewer than {decl.min_cell} records to be suppressed (min_cell >= "
                f"{decl.min_cell})"
            )
    for name, got, want in checks:
        if got != want:
            return f"spec.{name} is {shown(got)}, the declaration says {shown(want)}"
    return ""


def _privacy_mismatch(decl: Declaration, spec: ComputationSpec) -> str:
    privacy = spec.privacy
    if privacy.enabled and privacy.unit is Unit.RECORD:
        if decl.unit is not Unit.RECORD:
            return "unit=record needs a dataset declared with a per-record bound"
        if spec.kind is Kind.HISTOGRAM and decl.shape is not Shape.POLL:
            # Sized as "one record moves between two bins", which only a poll's node
            # enforces (one 0/1 answer per record); a vector's record may touch every bin.
            return "a record-level histogram is for polls; ask for a record-level sum"
        declared = 1.0 if decl.shape is Shape.POLL else decl.record_bound
        if decl.shape is Shape.COHORTS:
            pass  # the node clips every record: the bound follows from lower and upper
        elif float(privacy.record_bound or 1.0) != declared and not (
            decl.shape is Shape.POLL and privacy.record_bound in (0.0, 1.0)
        ):
            return (
                f"spec.privacy.record_bound is {privacy.record_bound:g}, the declaration "
                f"says {declared:g}"
            )
    randomized = privacy.mechanism is Mechanism.RANDOMIZED_RESPONSE
    if randomized and decl.shape is not Shape.POLL:
        return "randomized response is for datasets declared as polls"
    if decl.shape is Shape.POLL and privacy.enabled and not randomized:
        # A poll's node holds answers, not counts: it releases them exact or randomized.
        return "a poll takes an exact count or randomized response"
    return ""


def _policy_refusal(decl: Declaration, spec: ComputationSpec) -> str:
    policy, privacy = decl.policy, spec.privacy
    exact_to_coordinator = not privacy.enabled or privacy.placement is Placement.CENTRAL
    if exact_to_coordinator and not policy.allow_exact:
        return (
            "its owner allows no exact release (central noise is exact to the "
            "coordinator); ask for distributed or local noise"
        )
    if not privacy.enabled and policy.require_dp:
        return "its owner requires differential privacy"
    if policy.max_epsilon and privacy.epsilon > policy.max_epsilon:
        return f"epsilon {privacy.epsilon:g} is above the per-release {policy.max_epsilon:g}"
    if policy.max_rho and privacy.rho > policy.max_rho:
        return f"rho {privacy.rho:g} is above the per-release {policy.max_rho:g}"
    if policy.min_parties and spec.min_parties < policy.min_parties:
        return (
            f"spec.min_parties {spec.min_parties} is below the dataset's "
            f"min_parties {policy.min_parties}"
        )
    return ""


def check_ceilings(decl: Declaration, spec: ComputationSpec, costs: dict[str, Cost]) -> None:
    """Refuse a release whose charged cost passes the owner's per-release ceiling.

    The charge, not the analyst's epsilon: a release under add-remove neighbouring, say, is
    charged what it costs at replace-one, and that is what the ceiling bounds.
    """
    policy = decl.policy
    charged = costs.get(spec.privacy.unit.value, Cost())
    for name, ceiling, amount in (
        ("epsilon", policy.max_epsilon, charged.epsilon),
        ("rho", policy.max_rho, charged.rho),
    ):
        if ceiling and amount > exact_decimal(ceiling):
            raise PreconditionFailed(
                f"the spec does not conform to dataset {shown(decl.dataset)} as its owner "
                f"declared it ({decl.describe()}): this release would be charged {name} "
                f"{float(amount):.6g}, above the per-release {ceiling:g}",
                reason="PER_RELEASE_CEILING",
            )


def node_function(spec: ComputationSpec) -> str:
    """The function a node computes for `spec`: its fingerprint without name and post-steps.

    Sum, mean and count (and a histogram, a per-bin sum) over the same dataset, shape and
    encoding are one function: each node releases a share of the same encoded sum, and the
    coordinator only post-processes. Each comparison kind with its options is a function of
    its own. The name, readers, min_parties and privacy settings are left out (privacy is
    recorded as placement and cost beside it).
    """
    doc: dict[str, object] = {  # bins label elements: a histogram of a binned vector is its sum
        "dataset": spec.dataset,
        "fractional_bits": spec.fractional_bits,
        "length": spec.length,
        "lower": float(spec.lower).hex(),
        "sum": "encoded-sum-v1",
        "upper": float(spec.upper).hex(),
    }
    if spec.multi_step:
        # A max, an auction, a threshold at T or a dominance-checked sum each reveal a
        # different function of the inputs: two thresholds at different T over the same
        # parties, say, would bisect their sum. So each is its own function.
        del doc["sum"]
        doc["comparison"] = {"kind": spec.kind.value, **spec.comparison.canonical()}
        if spec.kind is Kind.COHORTS:  # which cells are withheld is part of what is revealed
            doc["cohorts"] = spec.cohorts.canonical()
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()
