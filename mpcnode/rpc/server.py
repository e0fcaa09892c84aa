"""Serving a daemon: one mutual-TLS gRPC port, the health service, readiness, SIGTERM.

Shared by the node and the coordinator so both start, signal readiness and stop the same
way. There is no plaintext port: `add_secure_port` with client authentication required is
the only listener. Readiness is signalled by writing the bound port to a file (atomically),
so tests and supervisors wait for it instead of sleeping. Requests whose bytes do not
decode are refused as INVALID_ARGUMENT for every service (`mpcnode.rpc.malformed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from mpcnode.errors import PreconditionFailed
from mpcnode.rpc.malformed import MalformedRequests
from mpcnode.tls import TlsFiles, server_credentials, server_options

log = logging.getLogger(__name__)


async def serve(
    name: str,
    listen: str,
    tls: TlsFiles,
    register: Callable[[grpc.aio.Server], list[str]],
    ready_file: Path | None = None,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    grace_seconds: float = 5.0,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully (in-flight calls get `grace`).

    `register` adds the servicers and returns their full service names for the health
    service. `background` is a periodic task run alongside, cancelled at shutdown.
    """
    server = grpc.aio.server(options=server_options(), interceptors=[MalformedRequests()])
    services = register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    # Reflection describes the contract (public: proto/), over the same mutual TLS as all else.
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection([*services, health_name, reflection.SERVICE_NAME], server)
    try:
        port = server.add_secure_port(listen, server_credentials(tls))
    except RuntimeError:  # grpc's "Failed to bind to address"
        port = 0
    if port == 0:
        raise PreconditionFailed(
            f"{name}: could not listen on {listen} (listen): the address is in use, perhaps by "
            "another copy, or not an address of this machine"
        )
    await server.start()
    for service in ["", *services]:
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s serving mutual TLS on %s (port %d)", name, listen, port)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        os.replace(tmp, ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(background()) if background is not None else None
    await stop.wait()
    log.info("%s stopping (grace %.0f s)", name, grace_seconds)
    await health.enter_graceful_shutdown()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await server.stop(grace_seconds)
    log.info("%s stopped", name)
