"""The node's privacy-budget ledger: exact composition, refusal at the cap, exactly-once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from mpcnode.core.accounting import Cost
from mpcnode.errors import AlreadyExists, PreconditionFailed
from mpcnode.node.ledger import Charge
from mpcnode.node.store import NodeStore, ReleaseRecord

CAP = Cost(Fraction(1), Fraction(1, 2))


def _charge(n: int, epsilon: Fraction = Fraction(3, 10), unit: str = "organization") -> Charge:
    return Charge(
        n.to_bytes(16, "big"),
        "raises",
        unit,
        Cost(epsilon=epsilon),
        "discrete_laplace",
        "exact",
        "c",
    )


def _release(store: NodeStore, charge: Charge) -> None:
    record = ReleaseRecord(
        charge.round_id, b"t" * 32, charge.dataset, "input", "c", ("a", "b", "c"), 0, charge
    )
    store.record_release(record, "once", CAP)


def _row(store: NodeStore, unit: str = "organization") -> tuple[Cost, Cost, int]:
    (row,) = [b for b in store.budgets({}, CAP) if b.unit == unit]
    return row.spent, row.held, row.releases


def test_spends_compose_exactly_and_the_cap_refuses_with_what_remains(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    for n in range(3):
        store.hold_budget(_charge(n), CAP)
        _release(store, _charge(n))
    assert _row(store) == (Cost(epsilon=Fraction(9, 10)), Cost(), 3)
    with pytest.raises(PreconditionFailed, match=r"only epsilon 0\.1 and rho 0\.5 remain"):
        store.hold_budget(_charge(3), CAP)
    store.hold_budget(_charge(4, Fraction(1, 10)), CAP)  # exactly the rest fits
    _release(store, _charge(4, Fraction(1, 10)))
    assert _row(store)[0] == Cost(epsilon=Fraction(1))


def test_an_ended_round_gives_its_hold_back(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.hold_budget(_charge(1, Fraction(1)), CAP)
    with pytest.raises(PreconditionFailed):
        store.hold_budget(_charge(2), CAP)
    store.drop_hold(_charge(1).round_id)
    store.hold_budget(_charge(2), CAP)
    assert _row(store)[1] == Cost(epsilon=Fraction(3, 10))


def test_organization_releases_also_count_against_the_record_budget(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.hold_budget(_charge(1, Fraction(1, 2)), CAP)
    _release(store, _charge(1, Fraction(1, 2)))
    store.hold_budget(_charge(2, Fraction(1, 4), "record"), CAP)
    _release(store, _charge(2, Fraction(1, 4), "record"))
    assert _row(store, "organization")[0] == Cost(epsilon=Fraction(1, 2))
    assert _row(store, "record")[0] == Cost(epsilon=Fraction(3, 4))


def test_a_round_spends_once_even_when_asked_twice(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.hold_budget(_charge(1), CAP)
    _release(store, _charge(1))
    with pytest.raises(AlreadyExists):
        _release(store, _charge(1))
    assert _row(store)[0] == Cost(epsilon=Fraction(3, 10))


def test_a_crash_between_spend_and_send_leaves_exactly_one_spend(tmp_path: Path) -> None:
    """The process dies right after the spend commits, before anything else happens."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from test_ledger import _charge, _release, CAP
        from mpcnode.node.store import NodeStore
        store = NodeStore(Path({str(tmp_path)!r}))
        store.hold_budget(_charge(7), CAP)
        _release(store, _charge(7))
        os._exit(9)  # power loss: no close, no cleanup
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == 9
    store = NodeStore(tmp_path)
    assert store.drop_all_holds() == 0  # the hold became the spend in the same transaction
    assert _row(store) == (Cost(epsilon=Fraction(3, 10)), Cost(), 1)
    with pytest.raises(AlreadyExists):  # a replayed release of that round spends nothing
        _release(store, _charge(7))
    assert _row(store)[0] == Cost(epsilon=Fraction(3, 10))


def test_concurrent_rounds_on_one_dataset_never_overspend(tmp_path: Path) -> None:
    NodeStore(tmp_path).close()  # migrate once
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def one_round(n: int) -> None:
        store = NodeStore(tmp_path)  # its own connection, as a second process would have
        start.wait()
        try:
            store.hold_budget(_charge(n), CAP)
            _release(store, _charge(n))
            result = "spent"
        except PreconditionFailed:
            result = "refused"
        with lock:
            outcomes.append(result)
        store.close()

    threads = [threading.Thread(target=one_round, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["refused"] * 9 + ["spent"] * 3
    assert _row(NodeStore(tmp_path))[0] == Cost(epsilon=Fraction(9, 10))
