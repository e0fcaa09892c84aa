"""The node's metrics (see `mpcnode.metrics` for what may and may not be exported)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mpcnode.core.accounting import BudgetStatus
from mpcnode.metrics import describe_build


class NodeMetrics:
    """Round-control calls by method and status, releases by kind, and the budgets."""

    def __init__(self, budgets: Callable[[], list[BudgetStatus]] | None = None) -> None:
        self.registry = CollectorRegistry()
        describe_build(self.registry, "mpcnode")
        self.calls = Counter(
            "mpcnode_round_calls", "Round-control calls by method and gRPC status",
            ["method", "status"], registry=self.registry,
        )  # fmt: skip
        self.releases = Counter(
            "mpcnode_releases", "Releases recorded in the ledger, by computation kind",
            ["kind"], registry=self.registry,
        )  # fmt: skip
        if budgets is not None:
            self.registry.register(_Budgets(budgets))


class _Budgets(Collector):
    """Each dataset-period's remaining budget, read from the ledger at scrape time."""

    def __init__(self, budgets: Callable[[], list[BudgetStatus]]) -> None:
        self._budgets = budgets

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["dataset", "unit"]
        epsilon = GaugeMetricFamily(
            "mpcnode_budget_remaining_epsilon",
            "Epsilon left in the current period's cap, once open rounds release",
            labels=labels,
        )
        rho = GaugeMetricFamily(
            "mpcnode_budget_remaining_rho",
            "Rho left in the current period's cap, once open rounds release",
            labels=labels,
        )
        for row in self._budgets():
            left = (row.spent + row.held).headroom(row.cap)
            epsilon.add_metric([row.dataset, row.unit], float(left.epsilon))
            rho.add_metric([row.dataset, row.unit], float(left.rho))
        yield epsilon
        yield rho
