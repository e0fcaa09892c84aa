"""Daemons refuse to start with their data or key open to others, and keep their files private.

Each test sets up its own federation (certificates and configs) and starts single daemons as
real processes, the way an operator would: a refusal must reach them as one readable line
with the `chmod` to run, not as a traceback.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mpcnode.errors import Unavailable
from mpcnode.federation import LocalFederation
from mpcnode.seal_keys import create_seal_key

pytestmark = pytest.mark.integration

PARTIES = ("alice", "bob")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _refusal(fed: LocalFederation, name: str) -> str:
    """Start one daemon that must refuse to start; return its log."""
    fed.start_daemon(name)
    with pytest.raises(Unavailable, match=f"{name} did not start"):
        fed.wait_ready(name)
    assert fed.processes[name].wait(10) != 0
    fed.processes.pop(name)
    return (fed.root / "logs" / f"{name}.log").read_text()


def _assert_one_clear_line(log: str, path: Path, mode: str, command: str) -> None:
    """The last start's refusal is one line naming path, mode and fix (logs are appended)."""
    assert "Traceback" not in log, log
    line = [line for line in log.splitlines() if "FAILED_PRECONDITION" in line][-1]
    assert line.startswith("Error: FAILED_PRECONDITION: ")
    assert str(path) in line
    assert f"mode {mode}" in line
    assert f"`{command} {path}`" in line


def test_node_with_a_data_directory_open_to_others_does_not_start(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    data = tmp_path / "alice" / "data"
    data.mkdir()
    data.chmod(0o755)
    log = _refusal(fed, "alice")
    _assert_one_clear_line(log, data, "0755", "chmod 700")
    assert not (data / "node.sqlite3").exists()  # refused before the store was opened


def test_node_with_a_readable_key_does_not_start(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    key = tmp_path / "alice" / "alice.key"
    key.chmod(0o644)
    log = _refusal(fed, "alice")
    _assert_one_clear_line(log, key, "0644", "chmod 600")


def test_coordinator_with_open_data_or_key_does_not_start(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    key = tmp_path / "coordinator" / "coordinator.key"
    key.chmod(0o640)
    _assert_one_clear_line(_refusal(fed, "coordinator"), key, "0640", "chmod 600")
    key.chmod(0o600)
    data = tmp_path / "coordinator" / "data"  # the refused start created it, 0700
    assert _mode(data) == 0o700
    data.chmod(0o750)
    _assert_one_clear_line(_refusal(fed, "coordinator"), data, "0750", "chmod 700")


def test_after_the_chmod_the_daemons_start_and_keep_their_files_private(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    key = tmp_path / "alice" / "alice.key"
    key.chmod(0o644)
    _refusal(fed, "alice")
    key.chmod(0o600)  # what the message said to run
    with fed:
        fed.start()
        for name, db in (("alice", "node.sqlite3"), ("coordinator", "coordinator.sqlite3")):
            data = tmp_path / name / "data"
            assert _mode(data) == 0o700
            files = {p.name: _mode(p) for p in data.iterdir() if p.name.startswith(db)}
            assert db in files
            assert set(files.values()) == {0o600}, files


def test_the_coordinator_pin_is_written_and_its_absence_is_a_warning(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    config = tmp_path / "bob" / "node.toml"
    assert 'pin = "sha256:' in config.read_text().split("[coordinator]", 1)[1]
    # node.toml holds no other pin (the parties' pins are in roster.toml)
    unpinned = [line for line in config.read_text().splitlines() if not line.startswith("pin =")]
    config.write_text("\n".join(unpinned) + "\n")
    with fed:
        fed.start()
        logs = {p: (tmp_path / "logs" / f"{p}.log").read_text() for p in PARTIES}
    assert "WARNING" in logs["bob"] and "no coordinator.pin is set" in logs["bob"]
    assert "no coordinator.pin is set" not in logs["alice"]


def test_node_with_a_readable_seal_key_does_not_start(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, PARTIES).setup()
    key = tmp_path / "alice" / "alice.seal.key"
    assert _mode(key) == 0o600  # born private
    key.chmod(0o640)
    log = _refusal(fed, "alice")
    _assert_one_clear_line(log, key, "0640", "chmod 600")


def test_node_whose_seal_key_is_not_the_rosters_does_not_start(tmp_path: Path) -> None:
    """Every seed for alice is sealed to the roster's key: with another, she could open none."""
    fed = LocalFederation(tmp_path, PARTIES).setup()
    create_seal_key(tmp_path / "alice" / "alice.seal.key", force=True)
    log = _refusal(fed, "alice")
    assert "Traceback" not in log, log
    line = [line for line in log.splitlines() if "FAILED_PRECONDITION" in line][-1]
    assert "seal_key is not the key roster" in line
    assert "mpcnode pki seal-key" in line
