"""A partner's client in another language: examples/node-client (Node.js, @grpc/grpc-js with
the .proto files alone) submits inputs to real nodes and reads a sum from the coordinator.

Needs node and npm (`.ci/run` installs them when missing); `npm ci` fetches the two packages
of its lock file once. Skipped on a machine without node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from integration_helpers import running_federation

from mpcnode.federation import LocalFederation

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]
CLIENT = Path(__file__).resolve().parents[2] / "examples" / "node-client"
PARTIES = ("alice", "bob", "carlos")
VALUES = {"alice": 3800, "bob": 2514, "carlos": 2982}


@pytest.fixture(scope="module")
def installed() -> Path:
    if not (CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, timeout=300,
            capture_output=True,
        )  # fmt: skip
    return CLIENT / "client.js"


def _node(client: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(client), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _tls(fed: LocalFederation, folder: str, stem: str) -> list[str]:
    files = fed.tls(folder, stem)
    return ["--cert", str(files.cert), "--key", str(files.key), "--ca", str(files.ca)]


def test_a_nodejs_client_submits_and_reads_a_sum(installed: Path, tmp_path: Path) -> None:
    with running_federation(tmp_path / "fed", PARTIES) as fed:
        for party, value in VALUES.items():
            done = _node(
                installed, "submit", "--node", f"127.0.0.1:{fed.ports[party]}", "--party", party,
                *_tls(fed, party, f"{party}-hr"), "--dataset", "js-raises", "--upper", "10000",
                "--value", str(value),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["dataset"] == "js-raises"
        done = _node(
            installed, "sum", "--coordinator", f"127.0.0.1:{fed.ports['coordinator']}",
            *_tls(fed, "analyst", "analyst"), "--dataset", "js-raises", "--upper", "10000",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["outputs"] == {"sum": [sum(VALUES.values())]}
        assert sorted(result["participants"]) == sorted(PARTIES)
        # A value outside the declared domain: the node's refusal reaches the partner's code.
        refused = _node(
            installed, "submit", "--node", f"127.0.0.1:{fed.ports['alice']}", "--party", "alice",
            *_tls(fed, "alice", "alice-hr"), "--dataset", "js-other", "--upper", "10",
            "--value", "11",
        )  # fmt: skip
        assert refused.returncode == 1
        assert "INVALID_ARGUMENT" in refused.stderr or " 3 " in refused.stderr
        assert "google.rpc.Status" in refused.stderr
