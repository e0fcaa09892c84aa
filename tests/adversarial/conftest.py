"""Fixtures of the adversarial tests: a real federation that hostile callers poke at.

Like the integration tests (tests/integration/conftest.py), the daemons run as separate
processes on loopback with freshly issued certificates; the tests play callers that hold a
genuine federation certificate but send what no honest client would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mpcnode.federation import LocalFederation
from mpcnode.node.store import NodeStore


@pytest.fixture(scope="session")
def fed2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """alice, bob and a coordinator, with the default node policy, stopped at the end."""
    fed = LocalFederation(tmp_path_factory.mktemp("adversarial"), ("alice", "bob")).setup()
    try:
        fed.start()
        yield fed
    finally:
        fed.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NodeStore]:
    """alice's node store for the in-process attacks (in_process.py), closed at the end."""
    node = NodeStore(tmp_path / "alice")
    try:
        yield node
    finally:
        node.close()
