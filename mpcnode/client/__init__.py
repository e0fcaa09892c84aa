"""Python client library for partner firms: the node's local API and the coordinator's API.

    from mpcnode.client import LocalClient, CoordinatorClient
    from mpcnode.core.spec import ComputationSpec, Kind
    from mpcnode.tls import TlsFiles

    hr = TlsFiles(cert="alice-hr.crt", key="alice-hr.key", ca="ca.crt")
    with LocalClient("node.alice.example:7001", "alice", hr) as node:
        node.submit("raises", [3800])

    me = TlsFiles(cert="ana.crt", key="ana.key", ca="ca.crt")
    with CoordinatorClient("coordinator.example:7000", me) as coord:
        spec = ComputationSpec(name="avg raise", kind=Kind.MEAN, dataset="raises",
                               lower=0, upper=10000, min_parties=3)
        result = coord.run(spec)
        print(result.outputs["mean"][0])

Every failure is raised as an `mpcnode.errors.MpcError` subclass carrying the server's
message (e.g. `PreconditionFailed` when a computation failed, with its reason).
"""

from mpcnode.client.analyst import ComputationInfo, CoordinatorClient, Progress, Result
from mpcnode.client.local import InputSummary, LocalClient, ReleaseSummary

__all__ = [
    "ComputationInfo",
    "CoordinatorClient",
    "InputSummary",
    "LocalClient",
    "Progress",
    "ReleaseSummary",
    "Result",
]
