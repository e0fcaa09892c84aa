"""Seeds sealed to their recipient's roster key, and the receipt that proves they were opened.

A seed s_ij from party i to party j (DESIGN 4.2) travels sealed to j's *seal key*: a
dedicated X25519 key pair per party whose public half the roster carries in full
(`seal_key = "x25519:<base64>"`). Sealing is HPKE (RFC 9180) in base mode with the suite
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, single-shot, as the `cryptography`
package implements it. The HPKE `info` is the seal context: the round's transcript hash, the
sender and the recipient, so a sealed seed opens only in the round, from the sender and for
the recipient it was made for (RFC 9180 section 8.1 puts such context in `info` for
single-shot use). A sealed seed is 32 (encapsulated key) + 32 + 16 (tag) = 80 bytes.

Why a dedicated key and not the TLS key: the TLS key is an ECDSA signing key that renews with
its certificate every year, and the roster pins only its hash; the seal key does one job
(key encapsulation), sits in the roster in full so a sender needs nothing from the network to
seal, and survives certificate renewals. Whoever answers at a party's address, with whatever
CA-issued certificate, receives only ciphertexts that the roster's key opens.

The receipt. The recipient answers each opened seed with SHA-256(tag || context || seed);
the sender computed the same value when it sealed, and the coordinator, which relays the
sealed seeds, compares the two. It thereby learns, every round and whatever TLS connection
carried the round, that the node answering for j holds j's seal key, while learning nothing
about the seed (a 256-bit secret behind a hash).

Pure: no I/O, no gRPC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from mpcnode.core.prg import SEED_BYTES
from mpcnode.errors import InvalidInput, PreconditionFailed

SEAL_KEY_PREFIX = "x25519:"
SEALED_BYTES = 80
RECEIPT_BYTES = 32
SUITE_NAME = "HPKE base DHKEM(X25519,HKDF-SHA256) HKDF-SHA256 AES-128-GCM"
_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
_CONTEXT_TAG = b"mpc.v1/sealed-seed\x00"
_RECEIPT_TAG = b"mpc.v1/seed-receipt\x00"


def format_seal_key(public: x25519.X25519PublicKey) -> str:
    """The roster form of a public seal key: `x25519:` and the base64 of its 32 raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SEAL_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_seal_key(text: str) -> x25519.X25519PublicKey:
    """Read a roster's `seal_key`; InvalidInput saying what the form should be."""
    if not isinstance(text, str) or not text.startswith(SEAL_KEY_PREFIX):
        raise InvalidInput(
            "a seal key is written x25519:<base64 of 32 bytes> (`mpcnode pki seal-key` prints it)"
        )
    try:
        raw = base64.b64decode(text[len(SEAL_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput("a seal key's base64 must decode to exactly 32 bytes")
    return x25519.X25519PublicKey.from_public_bytes(raw)


def seal_context(transcript: bytes, sender: str, recipient: str) -> bytes:
    """The bytes a sealed seed is bound to (injective: every field is length-prefixed)."""
    parts = [transcript, sender.encode("utf-8"), recipient.encode("utf-8")]
    return _CONTEXT_TAG + b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def seal(seed: bytes, recipient: x25519.X25519PublicKey, context: bytes) -> bytes:
    """Seal a seed to `recipient` under `context` (fresh ephemeral key each call)."""
    if len(seed) != SEED_BYTES:
        raise InvalidInput(f"a seed is {SEED_BYTES} bytes")
    return _SUITE.encrypt(seed, recipient, info=context)


def open_sealed(sealed: bytes, own: x25519.X25519PrivateKey, context: bytes) -> bytes:
    """Open a seed sealed to this party; PreconditionFailed if it was not made for `context`.

    The failure says only that the seed does not open: sealed to another key, bound to another
    round, sender or recipient, or altered on the way; the ciphertext holds nothing else.
    """
    if len(sealed) != SEALED_BYTES:
        raise InvalidInput(f"a sealed seed is {SEALED_BYTES} bytes, not {len(sealed)}")
    try:
        seed = _SUITE.decrypt(sealed, own, info=context)
    except (InvalidTag, ValueError):
        raise PreconditionFailed(
            "a sealed seed does not open under this node's seal key for this round, sender "
            "and recipient"
        ) from None
    if len(seed) != SEED_BYTES:  # only a sender that sealed something else can cause this
        raise PreconditionFailed(f"a sealed seed must hold {SEED_BYTES} bytes")
    return seed


def receipt(seed: bytes, context: bytes) -> bytes:
    """What the recipient returns for an opened seed, and the sender predicts."""
    return hashlib.sha256(_RECEIPT_TAG + context + seed).digest()
