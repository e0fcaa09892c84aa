"""Fixtures of the integration tests: real daemons as processes on loopback.

Starting a federation takes about a second, so the ordinary four-party federation is shared
by the whole session; tests keep out of each other's way by using their own dataset names
(each node keeps one release ledger per dataset-period, so a test that uses a dataset of its
own starts from an empty ledger). Tests that kill or restart a daemon, or need another
roster or node policy, start their own federation in their module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration_helpers import running_federation

from mpcnode.federation import LocalFederation


@pytest.fixture(scope="session")
def fed4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """alice, bob, carlos, david and a coordinator, with the default node policy."""
    with running_federation(tmp_path_factory.mktemp("fed4")) as fed:
        yield fed


@pytest.fixture(scope="session")
def fed5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """alice, bob, carlos, david, erin and a coordinator, with the default node policy."""
    parties = ("alice", "bob", "carlos", "david", "erin")
    with running_federation(tmp_path_factory.mktemp("fed5"), parties) as fed:
        yield fed
