"""The end-to-end seal of a multi-step round's messages between two nodes (pure).

The coordinator carries every message of a multi-step round (DESIGN 9) but must read none.
Each ordered pair of nodes already shares a secret the coordinator cannot open: the seed
s_ij that node i sealed to node j's seal key in Prepare (`mpcnode.core.sealing`). A step's
messages from i to j are sealed with AES-256-GCM under

    key_ij = HKDF-SHA256(ikm = s_ij, salt = none, info = "mpc.v1/step-key\\0" || context)

with context = the seal context (transcript hash, sender, recipient), so a key belongs to one
round and one direction, and the nonce is the step number (12 bytes, big-endian): each key
seals one message per step, so no nonce repeats. A message replayed into another step,
round or direction fails to open.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mpcnode.errors import PreconditionFailed

_KEY_INFO = b"mpc.v1/step-key\0"
TAG_BYTES = 16


def step_key(seed: bytes, context: bytes) -> AESGCM:
    """The AEAD of one direction of one round, from the seed sealed for that direction."""
    key = HKDF(hashes.SHA256(), 32, salt=None, info=_KEY_INFO + context).derive(seed)
    return AESGCM(key)


def _nonce(step: int) -> bytes:
    return step.to_bytes(12, "big")


def seal_step(aead: AESGCM, step: int, payload: bytes) -> bytes:
    """Seal one step's payload (ciphertext || 16-byte tag)."""
    return aead.encrypt(_nonce(step), payload, None)


def open_step(aead: AESGCM, step: int, sealed: bytes, sender: str) -> bytes:
    """Open one step's message; PreconditionFailed naming the sender if it does not open."""
    try:
        return aead.decrypt(_nonce(step), sealed, None)
    except InvalidTag:
        raise PreconditionFailed(
            f"the step {step} message from {sender} does not open under the key of this "
            "round and direction: it was altered, replayed or sealed for another round"
        ) from None
