"""`mpcnode check` and `mpc-coordinator check` as an operator runs them, before and after start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from integration_helpers import running_federation

from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration
PARTIES = ("alice", "bob", "carlos")


def _check(command: str, config: Path, *more: str) -> subprocess.CompletedProcess[str]:
    module = "coordinator" if command == "mpc-coordinator" else "mpcnode"
    return subprocess.run(
        [sys.executable, "-m", module, "check", "--config", str(config), *more],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_fresh_setup_passes_and_a_broken_one_fails_with_a_fix(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "fed", PARTIES).setup()
    node, coordinator = (
        fed.root / "alice" / "node.toml",
        fed.root / "coordinator" / "coordinator.toml",
    )
    good = _check("mpcnode", node)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[0].split()[:3] == ["CHECK", "RESULT", "DETAIL"]
    assert _check("mpc-coordinator", coordinator).returncode == 0
    # alice's node pointed at bob's key: the check names it, and serve refuses to start.
    (fed.root / "alice" / "alice.key").write_bytes((fed.root / "bob" / "bob.key").read_bytes())
    bad = _check("mpcnode", node)
    assert bad.returncode == 1
    row = next(line for line in bad.stdout.splitlines() if line.startswith("key matches"))
    assert "FAIL" in row and "tls.key" in row
    assert "1 check failed" in bad.stderr
    fed.start_daemon("alice")
    assert fed.processes["alice"].wait(30) != 0
    log = (fed.root / "logs" / "alice.log").read_text()
    assert "key matches certificate" in log and "Traceback" not in log


def test_peers_are_checked_when_asked(tmp_path: Path) -> None:
    with running_federation(tmp_path / "fed", PARTIES) as fed:
        node = fed.root / "alice" / "node.toml"
        up = _check("mpcnode", node, "--peers")
        # Its own port is taken by its own running node: that row fails, the peers pass.
        assert "peer bob" in up.stdout and "peer carlos" in up.stdout
        assert all("OK" in line for line in up.stdout.splitlines() if line.startswith("peer "))
        fed.stop_daemon("carlos")
        down = _check("mpc-coordinator", fed.root / "coordinator" / "coordinator.toml", "--peers")
        row = next(line for line in down.stdout.splitlines() if line.startswith("peer carlos"))
        assert "FAIL" in row and "unreachable" in row
        assert down.returncode == 1
