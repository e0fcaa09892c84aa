"""The transcript hash: documented byte layout, order independence, and every field bound."""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import pytest

from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.core.transcript import (
    ROUND_ID_BYTES,
    TRANSCRIPT_TAG,
    new_round_id,
    transcript_hash,
)
from mpcnode.errors import InvalidInput

ROUND = bytes(range(16))
SPEC = ComputationSpec(name="raises-2024", kind=Kind.SUM, dataset="raises", lower=0, upper=10_000)
PARTIES = ("carol", "alice", "bob", "dave")
DEADLINE = 1_700_000_000_000


def _by_the_book(
    round_id: bytes, spec: ComputationSpec, parties: list[str], deadline: int
) -> bytes:
    """The layout of the module docstring, written out independently with struct."""

    def lp(b: bytes) -> bytes:
        return struct.pack(">Q", len(b)) + b

    ids = sorted(p.encode() for p in parties)
    mode = b"sealed-seeds/hpke-x25519-hkdf-sha256-aes128gcm/prg-aes256-ctr"
    body = lp(mode) + lp(round_id) + lp(spec.canonical_bytes()) + struct.pack(">Q", len(ids))
    body += b"".join(lp(p) for p in ids) + struct.pack(">q", deadline)
    return hashlib.sha256(b"mpc.v1/transcript\x00" + body).digest()


def test_matches_the_documented_layout() -> None:
    assert TRANSCRIPT_TAG == b"mpc.v1/transcript\x00"
    got = transcript_hash(ROUND, SPEC, PARTIES, DEADLINE)
    assert len(got) == 32
    assert got == _by_the_book(ROUND, SPEC, list(PARTIES), DEADLINE)
    assert transcript_hash(ROUND, SPEC, ["b", "a"], -1) == _by_the_book(ROUND, SPEC, ["a", "b"], -1)


def test_known_answer() -> None:
    """Pinned: a change here is a wire-protocol change that breaks other implementations.

    Changed deliberately twice: when on_out_of_bounds left the spec (values are checked
    against their owner's declaration at submit time, never clipped at round time), and when
    the share mode (sealed seeds) entered the hash.
    """
    assert transcript_hash(ROUND, SPEC, PARTIES, DEADLINE).hex() == (
        "a688914beb5efa0992d9962992768bd93b00d6a4b5e55bba65c9f7867a32d7a9"
    )


def test_participant_order_does_not_matter() -> None:
    assert transcript_hash(ROUND, SPEC, PARTIES, DEADLINE) == transcript_hash(
        ROUND, SPEC, sorted(PARTIES), DEADLINE
    )


@pytest.mark.parametrize(
    "change",
    [
        {"round_id": bytes(16)},
        {"spec": dataclasses.replace(SPEC, upper=10_001)},
        {"spec": dataclasses.replace(SPEC, min_parties=3)},
        {"participants": ("alice", "bob", "carol")},
        {"participants": (*PARTIES, "erin")},
        {"deadline_unix_ms": DEADLINE + 1},
    ],
)
def test_every_field_changes_the_hash(change: dict[str, object]) -> None:
    args: dict[str, object] = {
        "round_id": ROUND,
        "spec": SPEC,
        "participants": PARTIES,
        "deadline_unix_ms": DEADLINE,
    }
    assert transcript_hash(**args) != transcript_hash(**(args | change))  # type: ignore[arg-type]


def test_length_prefixes_keep_participant_boundaries() -> None:
    """Without prefixes ["ab", "c"] and ["a", "bc"] would hash the same bytes."""
    assert transcript_hash(ROUND, SPEC, ["ab", "c"], 0) != transcript_hash(
        ROUND, SPEC, ["a", "bc"], 0
    )


@pytest.mark.parametrize(
    ("participants", "message"),
    [
        (["alice", "bob", "alice"], r"distinct; listed more than once: 'alice'"),
        (["alice", ""], "non-empty"),
        (["alice", "\ud800"], "valid Unicode"),
    ],
)
def test_bad_participants_are_refused(participants: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        transcript_hash(ROUND, SPEC, participants, DEADLINE)


@pytest.mark.parametrize("round_id", [b"", bytes(15), bytes(17), "0" * 16])
def test_round_id_must_be_16_bytes(round_id: bytes) -> None:
    with pytest.raises(InvalidInput, match="16 bytes"):
        transcript_hash(round_id, SPEC, PARTIES, DEADLINE)


@pytest.mark.parametrize("deadline", [2**63, -(2**63) - 1])
def test_deadline_must_fit_int64(deadline: int) -> None:
    with pytest.raises(InvalidInput, match="signed 64-bit"):
        transcript_hash(ROUND, SPEC, PARTIES, deadline)
    transcript_hash(ROUND, SPEC, PARTIES, deadline - (1 if deadline > 0 else -1))


def test_new_round_ids_are_fresh_16_bytes() -> None:
    ids = {new_round_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == ROUND_ID_BYTES for i in ids)
