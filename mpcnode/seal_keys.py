"""A party's seal key on disk: the X25519 key its peers seal seeds to (DESIGN 4.2, 4.3).

`mpcnode pki issue --role party` writes `<name>.seal.key` beside the certificate (PKCS8
PEM, created 0600 like every private key); `mpcnode pki seal-key FILE` prints its public half
in the roster form (`seal_key = "x25519:..."`), and `mpcnode pki new-seal-key` makes a fresh
one for a rotation. The node's config names the file (`seal_key = "alice.seal.key"`), and at
start-up the node refuses to serve when its key is not the one the roster carries for it:
every seed sealed to it would then fail to open.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from mpcnode.core.sealing import format_seal_key
from mpcnode.errors import InvalidInput, PreconditionFailed

SEAL_KEY_SUFFIX = ".seal.key"


def seal_key_path(out_dir: Path, name: str) -> Path:
    """Where `pki issue` puts the seal key of party `name`."""
    return out_dir / f"{name}{SEAL_KEY_SUFFIX}"


def create_seal_key(path: Path, *, force: bool = False) -> str:
    """Write a fresh X25519 private key to `path` (0600, never over a file unless forced).

    Returns the public key in roster form.
    """
    key = x25519.X25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if force:
        path.unlink(missing_ok=True)
    try:  # O_EXCL: born 0600, no chmod window, never through a planted symlink
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise PreconditionFailed(f"refusing to overwrite {path} (use --force)") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return format_seal_key(key.public_key())


def load_seal_key(path: Path, config_key: str = "seal_key") -> x25519.X25519PrivateKey:
    """Read a seal private key; PreconditionFailed naming the config key when it is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PreconditionFailed(
            f"{config_key} = {path}: cannot read it ({exc.strerror}); issue one with "
            "`mpcnode pki new-seal-key`"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, x25519.X25519PrivateKey):
        raise InvalidInput(
            f"{config_key} = {path} is not an unencrypted X25519 private key (PKCS8 PEM) "
            "as `mpcnode pki` writes them"
        )
    return key


def public_seal_key(path: Path) -> str:
    """The roster form of the public half of the seal key at `path`."""
    return format_seal_key(load_seal_key(path, "the seal key").public_key())
