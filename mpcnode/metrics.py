"""Prometheus metrics of a daemon (`prometheus-client`): a registry of its own, loopback only.

What a daemon exports is its activity and its ledger, never a value: rounds by outcome and
phase, phase latencies, request bytes per peer, which peers answer, computations in flight,
each dataset's remaining budget (numbers of the ledger: epsilon and rho left, not anything
computed from an input), and build info. Label values are phases, outcomes, gRPC status
names, party ids and dataset names, all public to the federation.

The endpoint is plain HTTP, so it listens on a loopback address only (`[metrics] listen =
"127.0.0.1:9464"`): a Prometheus agent or sidecar on the same host scrapes it. Anything else
is refused at start-up, naming the key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Info, start_http_server

from mpcnode.errors import InvalidInput, shown

DEFAULT_LISTEN = "127.0.0.1:9464"


def package_version() -> str:
    """mpcnode's installed version ("unknown" when run from a tree that is not installed)."""
    try:
        return version("mpcnode")
    except PackageNotFoundError:
        return "unknown"


def loopback_address(listen: str) -> tuple[str, int]:
    """(host, port) of `[metrics] listen`, InvalidInput unless the host is a loopback one."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        number = int(port)
    except ValueError:
        loopback, number = False, -1
    if not sep or not loopback or not 0 < number < 65536:
        raise InvalidInput(
            f"[metrics] listen = {shown(listen)}: the metrics endpoint is plain HTTP and "
            f"serves on a loopback address only, such as {DEFAULT_LISTEN!r}; scrape it from "
            "the same host (or a sidecar)"
        )
    return host, number


def describe_build(registry: CollectorRegistry, daemon: str) -> None:
    """The `mpc_build` info metric: which daemon, which version."""
    info = Info("mpc_build", "The daemon and mpcnode version serving", registry=registry)
    info.info({"daemon": daemon, "version": package_version()})


def serve_metrics(registry: CollectorRegistry, listen: str) -> Callable[[], None]:
    """Serve `registry` on `listen` (loopback) in a background thread; returns its stop."""
    host, port = loopback_address(listen)
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise InvalidInput(
            f"[metrics] listen = {shown(listen)}: cannot listen there ({exc.strerror}); "
            "pick a free port"
        ) from None

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return stop
