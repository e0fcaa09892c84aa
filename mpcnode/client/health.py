"""Client of the standard gRPC health service (grpc.health.v1) that both daemons serve.

The health service sits on the daemon's one mutual-TLS port like every other service, so a
probe needs a certificate of the federation CA, as any caller does (DESIGN 4.3: no plaintext
port, not even for health). The service does not look at the caller's role: a daemon's own
certificate is enough, which is what a container's health check uses.
"""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc

from mpcnode.client.channel import ChannelClient, call
from mpcnode.pki import Identity
from mpcnode.tls import TlsFiles

SERVING = "SERVING"


class HealthClient(ChannelClient):
    """Asks one daemon (`server`, the identity its certificate must carry) how it is."""

    def __init__(self, address: str, server: Identity, tls: TlsFiles) -> None:
        super().__init__(address, server, tls)
        self._stub = health_pb2_grpc.HealthStub(self._channel)
        self._what = self.target(f"{server} at {address}")

    def check(self, service: str = "", timeout: float = 3.0) -> str:
        """The serving status of `service` ("" = the whole server): SERVING, NOT_SERVING, ...

        A daemon that is down or refuses our certificate raises Unavailable; an unknown
        service name raises NotFound.
        """
        request = health_pb2.HealthCheckRequest(service=service)
        reply = call(self._what, lambda: self._stub.Check(request, timeout=timeout))
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
