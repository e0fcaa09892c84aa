"""Start-up checks of a daemon's own identity and instance, before it serves anything.

- **Its own identity.** A node serves under the party id of its config; its certificate must
  say so (role party, that name), and a coordinator's must say coordinator. Otherwise the
  daemon would log "mpcnode bob serving" while presenting alice's certificate.
- **Its own seal key.** The roster carries every party's public seal key; a node whose
  private key is another one could open no seed sealed to it, so it refuses to start.
- **One instance per data directory.** Two copies of one node would split traffic between
  them and share one SQLite ledger: `serve` takes an exclusive lock on its data directory
  (a `daemon.lock` file holding its PID) and a second copy fails at once, naming the first.
  The lock is released by the kernel when the process exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode.config import Roster
from mpcnode.core.sealing import format_seal_key
from mpcnode.errors import PreconditionFailed
from mpcnode.pki import Identity, Role, identity_from_cert

LOCK_FILE = "daemon.lock"


def check_own_identity(cert_path: Path, role: Role, name: str | None, config_key: str) -> None:
    """Refuse to serve when the certificate at `cert_path` is not `role` (named `name`)."""
    try:
        ident: Identity = identity_from_cert(cert_path.read_bytes())
    except OSError as exc:
        raise PreconditionFailed(f"tls.cert {cert_path}: cannot read it: {exc.strerror}") from None
    if ident.role is not role or (name is not None and ident.name != name):
        wanted = f"{role.value} {name!r}" if name is not None else f"a {role.value}"
        raise PreconditionFailed(
            f"tls.cert {cert_path} is the certificate of {ident.role.value} {ident.name!r}, "
            f"but {config_key} says this daemon is {wanted}; use the daemon's own "
            "certificate (and key), or fix the config"
        )


def check_own_seal_key(
    key: x25519.X25519PrivateKey, roster: Roster, party_id: str, roster_file: Path
) -> None:
    """Refuse to serve unless the roster lists `party_id` with this seal key's public half."""
    entry = roster.get(party_id)
    if entry is None:
        raise PreconditionFailed(
            f"party {party_id} is not on its roster {roster_file}; add a [[party]] entry with "
            "its id, address and seal_key"
        )
    public = format_seal_key(key.public_key())
    if entry.seal_key != public:
        raise PreconditionFailed(
            f"seal_key is not the key roster {roster_file} lists for {party_id}: the roster "
            f"says {entry.seal_key}, this node's key is {public}; put the roster's key file in "
            "seal_key, or update the roster everywhere (`mpcnode pki seal-key FILE` prints it)"
        )


def hold_instance_lock(data_dir: Path, what: str) -> IO[str]:
    """Lock `data_dir` for this process, or refuse naming the process that holds it.

    Keep the returned file open for as long as the daemon runs.
    """
    path = data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    os.chmod(path, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise PreconditionFailed(
            f"another {what} (pid {holder}) is already serving from data_dir {data_dir}; "
            "stop it first, or give this copy its own config and data_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
