"""A party's container dies mid-round in the compose simulation; the federation carries on.

Five real containers (the coordinator and four nodes) talking mutual TLS on their private
network, started from docker-compose.yml. bob's container dies in the share phase of a
round (a failpoint, bob-dies-at-share.yml: the share step lasts milliseconds, too short for
`docker kill` to hit): the round must abort with a reason that names bob, and the
coordinator's retry without him must publish the right sum over alice, carlos and david,
with no partial of the aborted round released anywhere.

Inputs are vectors of 4,000,000 elements. Skipped unless MPCNODE_CONTAINER_TESTS=1 and docker
is there; `.ci/run` runs it
(through scripts/compose_ci.sh, which names the compose project with MPCNODE_FAULT_PROJECT).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from compose_helpers import Compose, why_not_runnable

from mpcnode.client import CoordinatorClient, Progress
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import free_port
from mpcnode.tls import TlsFiles

_SKIP = why_not_runnable()
pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(_SKIP is not None, reason=_SKIP or ""),
    pytest.mark.timeout(900),
]

PARTIES = ("alice", "bob", "carlos", "david")
SURVIVORS = ("alice", "carlos", "david")
BIG = 4_000_000
DATASET = "fault-test"
WATCH_TIMEOUT = 300.0

# Run inside the `hr` tool container, which holds every organization's client key: each party's
# own systems hand its node a vector through its local API. The test computes the same values.
SUBMIT = """
import sys
from pathlib import Path
import numpy as np
from mpcnode.client import LocalClient
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.tls import TlsFiles

dataset, length, parties = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
declared = Declaration(dataset, Shape.VECTOR, 0, 4000, length=length)
for i, party in enumerate(parties):
    hr = Path(f"/pki/{party}-hr")
    files = TlsFiles(hr / f"{party}-hr.crt", hr / f"{party}-hr.key", hr / "ca.crt")
    with LocalClient(f"{party}:7001", party, files) as node:
        node.submit(dataset, np.arange(length, dtype=np.int64) % 1000 + 1000 * i, declared)
"""

# Run inside the `analyst` container: prints the analyst's certificate, key and the CA, so the
# test can call the coordinator's published port from the host as an analyst would.
DUMP_ANALYST = """
import json, pathlib
print(json.dumps({p.name: p.read_text() for p in pathlib.Path("/pki/analyst").iterdir()}))
"""


def _expected(parties: tuple[str, ...]) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    base = np.arange(BIG, dtype=np.int64) % 1000
    return sum((base + 1000 * PARTIES.index(p) for p in parties), np.zeros(BIG, dtype=np.int64))


@pytest.fixture(scope="module")
def compose() -> Iterator[Compose]:
    """The simulation's coordinator and nodes, up and healthy; everything removed afterwards."""
    name = os.environ.get("MPCNODE_FAULT_PROJECT", f"mpcnode-fault-{os.getpid()}")
    project = Compose(
        name, free_port(), overrides=(Path(__file__).with_name("bob-dies-at-share.yml"),)
    )
    if not project.image_exists():
        pytest.fail(f"no image {project.image}: run deploy/offline/build.sh all first")
    try:
        project.run("up", "-d", "--no-build", "coordinator", *PARTIES)
        project.wait_healthy(("coordinator", *PARTIES))
        yield project
    finally:
        # Shown by pytest when the test failed: what the daemons said.
        print(project.run("logs", "--no-color", "--tail", "60", check=False).stdout)
        project.run("down", "-v", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def analyst_tls(compose: Compose, tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """The analyst's certificate, key and CA, copied out of its volume (key mode 0600)."""
    out = compose.run(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", "analyst", "-c", DUMP_ANALYST
    ).stdout
    files = json.loads(out)
    folder = tmp_path_factory.mktemp("analyst")
    for name, text in files.items():
        path = folder / name
        path.touch(mode=0o600)
        path.write_text(text)
    return TlsFiles(folder / "analyst.crt", folder / "analyst.key", folder / "ca.crt")


def test_party_container_killed_mid_round_is_named_and_the_retry_publishes(
    compose: Compose, analyst_tls: TlsFiles
) -> None:
    compose.run(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", "hr", "-c", SUBMIT,
        DATASET, str(BIG), *PARTIES,
    )  # fmt: skip
    spec = ComputationSpec(
        name="survives a dead container",
        kind=Kind.SUM,
        dataset=DATASET,
        lower=0,
        upper=4000,
        length=BIG,
        min_parties=3,
    )
    events: list[Progress] = []
    address = f"127.0.0.1:{compose.coordinator_port}"
    with CoordinatorClient(address, analyst_tls, timeout=120) as analyst:
        cid = analyst.create(spec)
        events.extend(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        info = analyst.status(cid)
        result = analyst.result(cid)

    messages = [f"[{e.phase}] {e.message}" for e in events]
    print("\n".join(messages))
    aborted = [e for e in events if e.phase == "aborted"]
    assert aborted, messages
    assert aborted[0].attempt == 1, messages
    assert aborted[0].party == "bob", messages
    assert "bob" in aborted[0].message, messages
    assert "aborted in phase share" in aborted[0].message, messages
    assert info.state == "published", (info.reason, messages)
    assert info.attempts == 2, messages
    assert result.participants == SURVIVORS
    np.testing.assert_array_equal(result.outputs["sum"], _expected(SURVIVORS))

    running = compose.run("ps", "--services", "--filter", "status=running").stdout.split()
    assert "bob" not in running and set(SURVIVORS) <= set(running), running

    # alice's input went into exactly one released partial: the published round's.
    releases = compose.run(
        "run", "--rm", "--no-deps", "-T", "hr", "alice", "releases",
        "--dataset", DATASET, "--json",
    ).stdout  # fmt: skip
    rows = json.loads(releases)
    assert [(r["round_id"], tuple(r["participants"])) for r in rows] == [
        (result.round_id, SURVIVORS)
    ]
