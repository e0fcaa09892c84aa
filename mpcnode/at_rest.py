"""Keys and data at rest: a daemon refuses to start when others could read or change them.

A daemon's data directory holds its ledger, budgets and private inputs (the node) or every
result (the coordinator); its TLS private key is its identity in the federation. Like ssh
with `~/.ssh/id_*`, a daemon checks at start-up that neither is readable or writable by
group or others, and refuses to start otherwise, with the exact `chmod` that fixes it: a
loose mode is an operator's mistake best caught before the first round, not after a breach.

Only the permission bits are checked (mode & 0o077 must be 0); ownership is left to the
operating system (a file the daemon's user cannot read fails when it is read). The checks
follow symlinks, so a linked key is judged by the file it points to. Files the daemon
writes itself are born private: `mpcnode.pki` creates keys 0600, `mpcnode.sqlite` creates
its database 0600, which SQLite copies to the -wal and -shm files.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path
from typing import Literal

from mpcnode.errors import PreconditionFailed

Kind = Literal["data directory", "private key"]
_WANTED = {"data directory": 0o700, "private key": 0o600}
_LOOSE = 0o077  # any group or other permission bit


def check_private(path: Path, kind: Kind) -> None:
    """Refuse `path` unless only its owner may read or write it; PreconditionFailed if not.

    `kind` says what the path is: a data directory must be a directory, a private key a
    regular file, and the message names the path, its mode and the `chmod` to run.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise PreconditionFailed(f"{kind} {path} does not exist") from None
    except OSError as exc:
        raise PreconditionFailed(f"{kind} {path}: cannot inspect it: {exc.strerror}") from None
    is_dir = stat.S_ISDIR(info.st_mode)
    if kind == "data directory" and not is_dir:
        raise PreconditionFailed(f"{kind} {path} is not a directory")
    if kind == "private key" and not stat.S_ISREG(info.st_mode):
        raise PreconditionFailed(f"{kind} {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & _LOOSE:
        wanted = _WANTED[kind]
        raise PreconditionFailed(
            f"{kind} {path} has mode {mode:04o}, open to group or others; run "
            f"`chmod {wanted:o} {shlex.quote(str(path))}` so that only its owner may use it"
        )


def ensure_private_dir(path: Path) -> None:
    """Create the data directory 0700 if it is missing, then `check_private` it.

    mkdir's mode is masked by the umask, which can only remove bits, so a new directory is
    never more open than 0700; an existing one is judged as it is, never silently fixed.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        reason = exc.strerror
        raise PreconditionFailed(f"data directory {path}: cannot create it: {reason}") from None
    check_private(path, "data directory")


def check_daemon_at_rest(data_dir: Path, *keys: Path) -> None:
    """The start-up check of both daemons: the data directory (created if missing) and keys."""
    ensure_private_dir(data_dir)
    for key in keys:
        check_private(key, "private key")
