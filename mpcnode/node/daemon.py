"""The node daemon: wire the store, round book and servicers, then serve."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc.aio

from mpcnode.api.v1 import node_pb2, node_pb2_grpc
from mpcnode.at_rest import check_daemon_at_rest
from mpcnode.config import NodeConfig, load_roster
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.metrics import serve_metrics
from mpcnode.node.access import NodeAccess
from mpcnode.node.local_service import LocalService
from mpcnode.node.metrics import NodeMetrics
from mpcnode.node.rounds import RoundBook
from mpcnode.node.service import RoundControlService
from mpcnode.node.store import NodeStore
from mpcnode.pki import Role
from mpcnode.preflight import refuse_bad_certificate
from mpcnode.rpc.server import serve
from mpcnode.seal_keys import load_seal_key
from mpcnode.startup import check_own_identity, check_own_seal_key, hold_instance_lock
from mpcnode.tls import TlsFiles

log = logging.getLogger(__name__)
_EXPIRY_INTERVAL_S = 5.0
_PRUNE_INTERVAL_S = 3600.0


async def run_node(config: NodeConfig, ready_file: Path | None = None) -> None:
    """Run one organization's node until SIGTERM; state outlives it in data_dir.

    Refuses to start (PreconditionFailed) when data_dir or a private key is open to group or
    others, when its certificate is not party `party_id`'s, when its seal key is not the one
    the roster carries for it, or when another copy serves from
    the same data_dir; warns when no coordinator pin is set (the deployment docs require one).
    """
    check_daemon_at_rest(config.data_dir, config.tls.key, config.seal_key)
    check_own_identity(config.tls.cert, Role.PARTY, config.party_id, "party_id")
    tls = TlsFiles(config.tls.cert, config.tls.key, config.tls.ca)
    for warning in refuse_bad_certificate(tls, Role.PARTY, config.party_id, "party_id"):
        log.warning("%s: %s; %s", warning.check, warning.detail, warning.fix)
    lock = hold_instance_lock(config.data_dir, "mpcnode serve")
    if config.coordinator.pin is None:
        log.warning(
            "no coordinator.pin is set: any certificate the CA issues for %r can drive rounds "
            "on this node; set coordinator.pin to the output of `mpcnode pki pin "
            "coordinator.crt`",
            config.coordinator.name,
        )
    roster = load_roster(config.roster_file)
    seal_key = load_seal_key(config.seal_key)
    check_own_seal_key(seal_key, roster, config.party_id, config.roster_file)
    store = NodeStore(
        config.data_dir,
        [(table.declaration(name), table.period) for name, table in config.datasets.items()],
    )
    dropped = store.drop_all_holds()
    if dropped:
        log.info("released %d budget holds of rounds that ended with the last run", dropped)
    metrics = NodeMetrics(lambda: store.budgets(config.policy.budget.caps_for))
    book = RoundBook(
        config.party_id, store, config.policy, roster, SystemRandomSource(), seal_key,
        on_release=lambda kind: metrics.releases.labels(kind).inc(),
    )  # fmt: skip
    access = NodeAccess(config.party_id, config.coordinator, roster)
    sources = {n: t.source for n, t in config.datasets.items() if t.source is not None}
    listen = config.metrics.listen
    stop_metrics = serve_metrics(metrics.registry, listen) if listen else None

    def register(server: grpc.aio.Server) -> list[str]:
        node_pb2_grpc.add_RoundControlServicer_to_server(
            RoundControlService(book, access, metrics), server
        )
        node_pb2_grpc.add_LocalServicer_to_server(
            LocalService(store, access, config.policy.budget, sources), server
        )
        return [s.full_name for s in node_pb2.DESCRIPTOR.services_by_name.values()]

    async def expire_rounds() -> None:
        next_prune = 0.0
        while True:
            await asyncio.sleep(_EXPIRY_INTERVAL_S)
            book.expire()
            days = config.retention.release_history_days
            if days and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_INTERVAL_S
                cutoff = int((time.time() - days * 86400) * 1000)
                pruned = await asyncio.to_thread(store.prune_history, cutoff)
                if pruned:
                    log.info("retention: pruned %d release records", pruned)

    try:
        await serve(
            f"mpcnode {config.party_id}", config.listen, tls, register, ready_file, expire_rounds
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
        store.close()
        lock.close()
