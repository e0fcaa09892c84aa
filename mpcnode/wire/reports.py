"""A result's privacy statement between the domain (`ResultPrivacy`) and mpc.v1."""

from __future__ import annotations

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.privacy import Mechanism, Placement, Unit
from mpcnode.core.result_privacy import ResultPrivacy
from mpcnode.wire.specs import MECHANISMS, NEIGHBOURS, PLACEMENTS, UNITS, key_of


def report_to_proto(report: ResultPrivacy) -> pb.PrivacyReport:
    """Encode the statement published with a result."""
    return pb.PrivacyReport(
        mechanism=key_of(MECHANISMS, report.mechanism),
        placement=key_of(PLACEMENTS, report.placement),
        epsilon=report.epsilon,
        delta=report.delta,
        rho=report.rho,
        noise_scale=report.noise_scale,
        ci95_halfwidth=report.ci95_halfwidth,
        contributors=report.contributors,
        threshold=report.threshold,
        sampler=report.sampler,
        epsilon_at_delta=report.epsilon_at_delta,
        unit=key_of(UNITS, report.unit),
        neighbouring=key_of(NEIGHBOURS, report.neighbouring),
    )


def report_from_proto(msg: pb.PrivacyReport) -> ResultPrivacy:
    """Decode a result's privacy statement (unset enums read as their defaults)."""
    return ResultPrivacy(
        mechanism=MECHANISMS.get(msg.mechanism, Mechanism.NONE),
        placement=PLACEMENTS.get(msg.placement, Placement.DISTRIBUTED),
        epsilon=msg.epsilon,
        delta=msg.delta,
        rho=msg.rho,
        noise_scale=msg.noise_scale,
        ci95_halfwidth=msg.ci95_halfwidth,
        contributors=msg.contributors,
        threshold=msg.threshold,
        sampler=msg.sampler,
        epsilon_at_delta=msg.epsilon_at_delta,
        unit=UNITS.get(msg.unit, Unit.ORGANIZATION),
        neighbouring=NEIGHBOURS.get(msg.neighbouring, ResultPrivacy().neighbouring),
    )
