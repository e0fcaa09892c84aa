"""Seeds sealed to a recipient's seal key: what opens where, and what the receipt binds."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given
from hypothesis import strategies as st

from mpcnode.core.sealing import (
    SEALED_BYTES,
    format_seal_key,
    open_sealed,
    parse_seal_key,
    receipt,
    seal,
    seal_context,
)
from mpcnode.errors import InvalidInput, PreconditionFailed

BOB = x25519.X25519PrivateKey.generate()
TRANSCRIPT = os.urandom(32)


def test_a_sealed_seed_opens_for_its_recipient_round_and_sender_only() -> None:
    seed = os.urandom(32)
    ctx = seal_context(TRANSCRIPT, "alice", "bob")
    sealed = seal(seed, BOB.public_key(), ctx)
    assert len(sealed) == SEALED_BYTES
    assert open_sealed(sealed, BOB, ctx) == seed
    assert seal(seed, BOB.public_key(), ctx) != sealed  # a fresh ephemeral key every time
    others = {
        "another round": seal_context(os.urandom(32), "alice", "bob"),
        "another sender": seal_context(TRANSCRIPT, "carlos", "bob"),
        "another recipient": seal_context(TRANSCRIPT, "alice", "carlos"),
    }
    for context in others.values():
        with pytest.raises(PreconditionFailed, match="does not open"):
            open_sealed(sealed, BOB, context)
    with pytest.raises(PreconditionFailed, match="does not open"):
        open_sealed(sealed, x25519.X25519PrivateKey.generate(), ctx)  # an impostor's key
    tampered = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(PreconditionFailed, match="does not open"):
        open_sealed(tampered, BOB, ctx)
    with pytest.raises(InvalidInput, match="80 bytes"):
        open_sealed(sealed[:-1], BOB, ctx)


@given(
    a=st.tuples(st.binary(max_size=40), st.text(max_size=8), st.text(max_size=8)),
    b=st.tuples(st.binary(max_size=40), st.text(max_size=8), st.text(max_size=8)),
)
def test_the_seal_context_is_injective(
    a: tuple[bytes, str, str], b: tuple[bytes, str, str]
) -> None:
    """Length prefixes: ("ab", "c") and ("a", "bc") never bind the same bytes."""
    assert (seal_context(*a) == seal_context(*b)) == (a == b)


def test_the_receipt_binds_the_seed_and_its_context() -> None:
    seed = os.urandom(32)
    ctx = seal_context(TRANSCRIPT, "alice", "bob")
    assert receipt(seed, ctx) == receipt(seed, ctx)
    assert receipt(seed, ctx) != receipt(os.urandom(32), ctx)
    assert receipt(seed, ctx) != receipt(seed, seal_context(TRANSCRIPT, "carlos", "bob"))
    assert seed not in receipt(seed, ctx)


def test_the_roster_form_of_a_seal_key_round_trips() -> None:
    text = format_seal_key(BOB.public_key())
    assert text.startswith("x25519:") and len(text) == 7 + 44
    assert parse_seal_key(text) == BOB.public_key()
