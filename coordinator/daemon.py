"""The coordinator daemon: wire store, node gateway, sequencer and servicer, then serve."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc.aio

from coordinator.config import CoordinatorConfig
from coordinator.metrics import CoordinatorMetrics
from coordinator.nodes import NodeGateway
from coordinator.sequencer import Sequencer
from coordinator.service import CoordinatorService
from coordinator.store import CoordinatorStore
from mpcnode.api.v1 import coordinator_pb2, coordinator_pb2_grpc
from mpcnode.at_rest import check_daemon_at_rest
from mpcnode.config import load_roster
from mpcnode.metrics import serve_metrics
from mpcnode.pki import Role
from mpcnode.preflight import refuse_bad_certificate
from mpcnode.rpc.server import serve
from mpcnode.startup import check_own_identity, hold_instance_lock
from mpcnode.tls import TlsFiles

log = logging.getLogger(__name__)
PRUNE_INTERVAL_S = 3600.0


async def run_coordinator(config: CoordinatorConfig, ready_file: Path | None = None) -> None:
    """Run the coordinator until SIGTERM; interrupted rounds are aborted and resumed at start.

    Refuses to start (PreconditionFailed) when data_dir or the TLS key is open to group or
    others, when its certificate is not a coordinator's, or when another copy serves from
    the same data_dir.
    """
    check_daemon_at_rest(config.data_dir, config.tls.key)
    check_own_identity(config.tls.cert, Role.COORDINATOR, None, "its role")
    tls = TlsFiles(config.tls.cert, config.tls.key, config.tls.ca)
    for warning in refuse_bad_certificate(tls, Role.COORDINATOR, None, "its role"):
        log.warning("%s: %s; %s", warning.check, warning.detail, warning.fix)
    lock = hold_instance_lock(config.data_dir, "mpc-coordinator serve")
    roster = load_roster(config.roster_file)
    store = CoordinatorStore(config.data_dir)
    metrics = CoordinatorMetrics()
    gateway = NodeGateway(roster, tls, metrics, batch=config.rounds.batch_calls)
    sequencer = Sequencer(store, gateway, roster, config.rounds, metrics=metrics)
    stop_metrics = (
        serve_metrics(metrics.registry, config.metrics.listen) if config.metrics.listen else None
    )

    def register(server: grpc.aio.Server) -> list[str]:
        coordinator_pb2_grpc.add_CoordinatorServicer_to_server(
            CoordinatorService(sequencer, store, config.access), server
        )
        return [s.full_name for s in coordinator_pb2.DESCRIPTOR.services_by_name.values()]

    async def prune_hourly() -> None:
        while config.retention.days:
            cutoff = int((time.time() - config.retention.days * 86400) * 1000)
            events, rounds = await asyncio.to_thread(store.prune, cutoff)
            if events or rounds:
                log.info("retention: pruned %d events and %d round rows", events, rounds)
            await asyncio.sleep(PRUNE_INTERVAL_S)

    async def background() -> None:
        # Warm channels to every node while interrupted computations resume: the first
        # round then pays no TLS handshakes.
        await asyncio.gather(gateway.warm(), sequencer.recover(), prune_hourly())

    try:
        await serve("mpc-coordinator", config.listen, tls, register, ready_file, background)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        await sequencer.close()
        await gateway.close()
        store.close()
        lock.close()
