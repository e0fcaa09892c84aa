"""The coordinator's metrics (see `mpcnode.metrics` for what may and may not be exported)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mpcnode.metrics import describe_build

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class CoordinatorMetrics:
    """Counters and gauges the sequencer and the node gateway keep up to date."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        describe_build(self.registry, "mpc-coordinator")
        reg = self.registry
        self.rounds = Counter(
            "mpc_rounds", "Rounds by how they ended and the phase they ended in",
            ["outcome", "phase"], registry=reg,
        )  # fmt: skip
        self.computations = Counter(
            "mpc_computations", "Computations by outcome", ["outcome"], registry=reg
        )
        self.in_flight = Gauge(
            "mpc_computations_in_flight", "Computations being driven now", registry=reg
        )
        self.phase_seconds = Histogram(
            "mpc_phase_seconds", "Time spent in each phase of a round", ["phase"],
            buckets=_BUCKETS, registry=reg,
        )  # fmt: skip
        self.peer_up = Gauge(
            "mpc_peer_up", "1 when the node's last call was answered, 0 when it was unreachable",
            ["peer"], registry=reg,
        )  # fmt: skip
        self.peers_reachable = Gauge(
            "mpc_peers_reachable", "Roster nodes whose last call was answered", registry=reg
        )
        self.bytes_sent = Counter(
            "mpc_bytes_sent", "Request bytes sent to each node", ["peer"], registry=reg
        )
        self.calls_per_message = Histogram(
            "mpc_round_calls_per_message",
            "Round calls each message to a node carried: 1 alone, more in a Batch",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=reg,
        )  # fmt: skip
        self._up: dict[str, bool] = {}

    def peer_answered(self, peer: str, up: bool) -> None:
        """Record whether `peer` answered its last call."""
        self.peer_up.labels(peer).set(1 if up else 0)
        self._up[peer] = up
        self.peers_reachable.set(sum(self._up.values()))

    def phases(self, clock: Callable[[], float] = time.monotonic) -> PhaseTimer:
        """A timer of one round's phases."""
        return PhaseTimer(self, clock)


class PhaseTimer:
    """Observes how long each phase of one round took, as the round moves on."""

    def __init__(self, metrics: CoordinatorMetrics, clock: Callable[[], float]) -> None:
        self._metrics, self._clock = metrics, clock
        self._phase, self._since = "", clock()

    def enter(self, phase: str) -> None:
        """The round moves to `phase` (the previous phase's time is observed)."""
        now = self._clock()
        if self._phase:
            self._metrics.phase_seconds.labels(self._phase).observe(now - self._since)
        self._phase, self._since = phase, now

    def end(self, outcome: str) -> None:
        """The round ended (`published` or `aborted`) in its current phase."""
        phase = self._phase
        self.enter("")
        self._metrics.rounds.labels(outcome, phase or "prepare").inc()
