"""Keys and data at rest: the start-up permission check, and files born private."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpcnode.at_rest import check_daemon_at_rest, check_private, ensure_private_dir
from mpcnode.errors import PreconditionFailed
from mpcnode.pki import Identity, Role, create_ca, issue
from mpcnode.sqlite import Database

MIGRATIONS = ["CREATE TABLE t (x INTEGER)"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0 for one test: whatever is created private is so by its own mode, not the umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _dir(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    path.chmod(mode)
    return path


def _key(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "alice.key"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    path.chmod(mode)
    return path


# --- what passes ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o700, 0o500, 0o300])
def test_a_directory_only_its_owner_may_use_passes(tmp_path: Path, mode: int) -> None:
    check_private(_dir(tmp_path, mode), "data directory")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_only_its_owner_may_use_passes(tmp_path: Path, mode: int) -> None:
    check_private(_key(tmp_path, mode), "private key")


def test_a_symlinked_key_is_judged_by_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.key"
    link.symlink_to(_key(tmp_path, 0o600))
    check_private(link, "private key")
    (tmp_path / "alice.key").chmod(0o644)
    with pytest.raises(PreconditionFailed, match="0644"):
        check_private(link, "private key")


# --- what is refused, with the chmod that fixes it --------------------------------------------
@pytest.mark.parametrize("mode", [0o755, 0o750, 0o710, 0o701, 0o770, 0o777, 0o702])
def test_a_directory_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _dir(tmp_path, mode)
    with pytest.raises(PreconditionFailed) as caught:
        check_private(path, "data directory")
    message = caught.value.message
    assert str(path) in message
    assert f"mode {mode:04o}" in message
    assert f"`chmod 700 {path}`" in message
    assert caught.value.status == "FAILED_PRECONDITION"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610])
def test_a_key_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key(tmp_path, mode)
    with pytest.raises(PreconditionFailed) as caught:
        check_private(path, "private key")
    message = caught.value.message
    assert str(path) in message
    assert f"mode {mode:04o}" in message
    assert f"`chmod 600 {path}`" in message


def test_the_chmod_command_quotes_a_path_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / "my keys" / "alice.key"
    path.parent.mkdir()
    path.write_bytes(b"")
    path.chmod(0o644)
    with pytest.raises(PreconditionFailed) as caught:
        check_private(path, "private key")
    assert f"`chmod 600 '{path}'`" in caught.value.message


def test_a_missing_path_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(PreconditionFailed, match=r"private key .*nope\.key does not exist"):
        check_private(tmp_path / "nope.key", "private key")


def test_the_wrong_kind_of_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PreconditionFailed, match="is not a directory"):
        check_private(_key(tmp_path, 0o600), "data directory")
    with pytest.raises(PreconditionFailed, match="is not a regular file"):
        check_private(_dir(tmp_path, 0o700), "private key")


# --- created private ----------------------------------------------------------------------------
def test_a_missing_data_directory_is_created_0700(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "var" / "data"
    ensure_private_dir(path)
    assert _mode(path) == 0o700


def test_an_existing_open_data_directory_is_refused_not_fixed(tmp_path: Path) -> None:
    path = _dir(tmp_path, 0o755)
    with pytest.raises(PreconditionFailed, match="chmod 700"):
        ensure_private_dir(path)
    assert _mode(path) == 0o755  # the operator decides; the daemon never changes it behind them


def test_the_daemon_check_covers_directory_and_key(tmp_path: Path) -> None:
    key = _key(tmp_path, 0o600)
    check_daemon_at_rest(tmp_path / "fresh", key)
    assert _mode(tmp_path / "fresh") == 0o700
    key.chmod(0o640)
    with pytest.raises(PreconditionFailed, match="chmod 600"):
        check_daemon_at_rest(tmp_path / "fresh", key)


def test_sqlite_files_are_born_0600_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    db = Database(tmp_path / "data" / "node.sqlite3", MIGRATIONS)
    try:
        with db.transaction("write") as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        files = sorted((tmp_path / "data").iterdir())
        assert [f.name for f in files] == ["node.sqlite3", "node.sqlite3-shm", "node.sqlite3-wal"]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(tmp_path / "data") == 0o700
    finally:
        db.close()


def test_sqlite_files_left_open_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    first = Database(tmp_path / "node.sqlite3", MIGRATIONS)
    first.close()
    path = tmp_path / "node.sqlite3"
    stale = tmp_path / "node.sqlite3-wal"
    stale.write_bytes(b"")
    path.chmod(0o644)
    stale.chmod(0o666)
    again = Database(path, MIGRATIONS)
    try:
        assert _mode(path) == 0o600
        assert _mode(stale) == 0o600
    finally:
        again.close()


def test_pki_writes_private_keys_0600_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    create_ca(tmp_path / "ca", "test")
    files = issue(tmp_path / "ca", tmp_path / "alice", Identity(Role.PARTY, "alice"), ())
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600
    assert _mode(files.key) == 0o600
    check_private(files.key, "private key")
