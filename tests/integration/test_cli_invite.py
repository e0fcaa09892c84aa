"""`mpc-coordinator run --invite`: the analyst names the parties to invite, unambiguously."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from integration_helpers import scalar, submit_all

from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration


def test_run_invites_exactly_the_named_parties(fed4: LocalFederation) -> None:
    submit_all(fed4, "invited", {"alice": 1, "bob": 2, "carlos": 3, "david": 4}, scalar("invited"))
    analyst = fed4.root / "analyst"
    command = [
        sys.executable, "-m", "coordinator", "run",
        "--coordinator", f"127.0.0.1:{fed4.ports['coordinator']}",
        "--cert", str(analyst / "analyst.crt"), "--key", str(analyst / "analyst.key"),
        "--ca", str(analyst / "ca.crt"),
        "--kind", "sum", "--dataset", "invited", "--upper", "10000",
        "--invite", "alice", "--invite", "bob", "--invite", "carlos", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["participants"] == ["alice", "bob", "carlos"]
    assert result["outputs"]["sum"] == [6]
