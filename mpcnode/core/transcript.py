"""The round transcript hash and round ids (DESIGN 4.1, 4.4).

Every share and every round message carries `transcript_hash(round_id, spec, participants,
deadline)`. A node releases its partial sum only when all the shares it holds carry the
hash it computed itself from its Prepare, so a coordinator that tells different nodes
different stories (another spec, another participant set, another deadline) is caught
when the shares meet.

Byte layout, so any implementation can reproduce the hash (u64be(x) = x as 8-byte
big-endian unsigned, i64be(x) = 8-byte big-endian two's complement):

    SHA-256(
        b"mpc.v1/transcript\\x00"                     # 18-byte domain-separation tag
        || u64be(len(M)) || M                        # M = SHARE_MODE, how shares travel
        || u64be(len(round_id)) || round_id          # 16 bytes
        || u64be(len(S)) || S                        # S = spec.canonical_bytes()
        || u64be(k)                                  # k = number of participants
        || for each id p, sorted by its UTF-8 bytes: u64be(len(P)) || P   # P = UTF-8 of p
        || i64be(deadline_unix_ms)                   # fixed width, so no length prefix
    )

Every variable-length field is length-prefixed and the participant list is counted, so two
different transcripts never produce the same byte string (the encoding is injective).
Sorting makes the hash independent of the order in which participants are listed. The share
mode is hashed in so that two nodes can never agree on a transcript while one expects shares
in another form (there is one mode today: sealed seeds relayed by the coordinator, DESIGN 4.2).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence

from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import InvalidInput, shown

TRANSCRIPT_TAG = b"mpc.v1/transcript\x00"
SHARE_MODE = b"sealed-seeds/hpke-x25519-hkdf-sha256-aes128gcm/prg-aes256-ctr"
ROUND_ID_BYTES = 16
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def new_round_id() -> bytes:
    """Return a fresh 128-bit round id from the OS CSPRNG.

    Random rather than sequential so ids from different coordinators (or restarts) never
    collide, and so a party cannot predict the id of a round it was not told about.
    """
    return os.urandom(ROUND_ID_BYTES)


def transcript_hash(
    round_id: bytes,
    spec: ComputationSpec,
    participants: Sequence[str],
    deadline_unix_ms: int,
) -> bytes:
    """Return the 32-byte SHA-256 transcript hash of one round (layout in the module doc).

    Raises InvalidInput if the round id is not 16 bytes, a participant id is empty, not
    encodable as UTF-8 or listed twice, or the deadline does not fit a signed 64-bit integer.
    """
    if not isinstance(round_id, bytes) or len(round_id) != ROUND_ID_BYTES:
        raise InvalidInput(f"a round id must be {ROUND_ID_BYTES} bytes")
    if not _INT64_MIN <= deadline_unix_ms <= _INT64_MAX:
        raise InvalidInput("the deadline must fit a signed 64-bit count of milliseconds")
    ids = _encode_participants(participants)
    h = hashlib.sha256(TRANSCRIPT_TAG)
    _put(h, SHARE_MODE)
    _put(h, round_id)
    _put(h, spec.canonical_bytes())
    h.update(len(ids).to_bytes(8, "big"))
    for pid in ids:
        _put(h, pid)
    h.update(deadline_unix_ms.to_bytes(8, "big", signed=True))
    return h.digest()


def _encode_participants(participants: Sequence[str]) -> list[bytes]:
    encoded: list[bytes] = []
    for pid in participants:
        if not isinstance(pid, str) or not pid:
            raise InvalidInput("participant ids must be non-empty strings")
        try:
            encoded.append(pid.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidInput("participant ids must be valid Unicode text") from None
    if len(set(encoded)) != len(encoded):
        dupes = sorted(pid for pid, times in Counter(participants).items() if times > 1)
        shown_dupes = ", ".join(shown(d) for d in dupes[:5])
        raise InvalidInput(f"participants must be distinct; listed more than once: {shown_dupes}")
    return sorted(encoded)


def _put(h: hashlib._Hash, field: bytes) -> None:
    h.update(len(field).to_bytes(8, "big"))
    h.update(field)
