"""A daemon serves only as itself, and only once: a wrong certificate or a second copy fails.

Real processes, as an operator would start them: each refusal reaches the operator as one
readable line, and the first copy keeps serving.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mpcnode.federation import LocalFederation
from mpcnode.startup import LOCK_FILE

pytestmark = pytest.mark.integration

PARTIES = ("alice", "bob")


def _serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    """Run `mpcnode serve` in the foreground; it must exit by itself (refused)."""
    return subprocess.run(
        [sys.executable, "-m", "mpcnode", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")][-1]


def test_a_second_copy_of_a_node_fails_naming_the_first(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    try:
        fed.start_daemon("alice")
        fed.wait_ready("alice")
        first = fed.processes["alice"].pid
        line = _error_line(_serve_once(tmp_path / "alice" / "node.toml"))
        assert f"another mpcnode serve (pid {first}) is already serving" in line
        assert (tmp_path / "alice" / "data" / LOCK_FILE).read_text().strip() == str(first)
        assert fed.processes["alice"].poll() is None  # the first copy serves on
    finally:
        fed.stop()


def test_a_second_copy_on_the_same_port_does_not_share_it(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    other = tmp_path / "alice" / "copy.toml"
    text = (tmp_path / "alice" / "node.toml").read_text()
    other.write_text(text.replace('data_dir = "data"', 'data_dir = "data-copy"'))
    try:
        fed.start_daemon("alice")
        fed.wait_ready("alice")
        line = _error_line(_serve_once(other))
        assert "could not listen on" in line and "address is in use" in line
    finally:
        fed.stop()


def test_a_node_does_not_serve_under_another_partys_certificate(tmp_path: Path) -> None:
    LocalFederation(tmp_path, PARTIES).setup()
    config = tmp_path / "alice" / "node.toml"
    text = config.read_text()
    config.write_text(text.replace('party_id = "alice"', 'party_id = "bob"'))
    line = _error_line(_serve_once(config))
    assert "is the certificate of party 'alice'" in line
    assert "party_id says this daemon is party 'bob'" in line
    assert not (tmp_path / "alice" / "data" / "node.sqlite3").exists()
