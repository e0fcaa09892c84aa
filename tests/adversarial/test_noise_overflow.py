"""Privacy settings whose noise overflows the numbers: INVALID_ARGUMENT at the coordinator.

An analyst may send any double: an epsilon of 5e-324, a rho of 1e-300, a record bound of
1e300, a Skellam spec too wide for the vectorized sampler. Planning the noise must refuse
each with INVALID_ARGUMENT naming the parameter, never fail with INTERNAL (an OverflowError
or ZeroDivisionError inside the daemon), and the coordinator must keep serving. The nodes
run the same `plan_noise` at Prepare (tests/test_noise_planning.py checks it never raises
anything but InvalidInput).
"""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc
from mpcnode.core.privacy import Mechanism, Placement, Privacy, Unit
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation
from mpcnode.pki import Identity, Role
from mpcnode.tls import channel_credentials, channel_options
from mpcnode.wire.specs import spec_to_proto

pytestmark = pytest.mark.integration

BASE = ComputationSpec(name="wide", kind=Kind.SUM, dataset="wide", lower=0, upper=10, min_parties=2)
SKELLAM = Privacy(Mechanism.SKELLAM, rho=1.0)
CASES = {
    "epsilon-subnormal": (
        dataclasses.replace(BASE, privacy=Privacy(Mechanism.DISCRETE_LAPLACE, epsilon=5e-324)),
        "spec.privacy.epsilon",
    ),
    "rho-1e-300": (
        dataclasses.replace(BASE, privacy=Privacy(Mechanism.SKELLAM, rho=1e-300)),
        "spec.privacy.rho",
    ),
    "gaussian-record-bound-1e300": (
        dataclasses.replace(
            BASE,
            privacy=Privacy(
                Mechanism.DISCRETE_GAUSSIAN,
                placement=Placement.CENTRAL,
                rho=1.0,
                unit=Unit.RECORD,
                record_bound=1e300,
            ),
        ),
        "spec.privacy.record_bound",
    ),
    "delta-subnormal": (
        dataclasses.replace(BASE, privacy=dataclasses.replace(SKELLAM, delta=5e-324)),
        "spec.privacy.delta",
    ),
    "skellam-beyond-the-vectorized-sampler": (
        dataclasses.replace(
            BASE, lower=-1.0, upper=1.0, fractional_bits=20, length=600, privacy=SKELLAM
        ),
        "2^48",
    ),
}


def _create(fed: LocalFederation, spec: ComputationSpec) -> None:
    tls = fed.tls("analyst", "analyst")
    channel = grpc.secure_channel(
        f"127.0.0.1:{fed.ports['coordinator']}",
        channel_credentials(tls),
        options=channel_options(Identity(Role.COORDINATOR, "coordinator")),
    )
    with channel:
        coordinator_pb2_grpc.CoordinatorStub(channel).CreateComputation(
            coordinator_pb2.CreateComputationRequest(spec=spec_to_proto(spec)), timeout=20.0
        )


@pytest.mark.parametrize(("spec", "named"), CASES.values(), ids=CASES.keys())
def test_noise_beyond_the_numbers_is_invalid_argument(
    fed2: LocalFederation, spec: ComputationSpec, named: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _create(fed2, spec)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert named in (caught.value.details() or "")


def test_the_coordinator_logs_no_incident_for_them(fed2: LocalFederation) -> None:
    for spec, _ in CASES.values():
        with pytest.raises(grpc.RpcError):
            _create(fed2, spec)
    log = (fed2.root / "logs" / "coordinator.log").read_text()
    assert "internal error" not in log and "Traceback" not in log
