"""The seal of a dataset-period: the values its first exact release used (DESIGN 4.5).

Two exact sums of one function over one participant set, of different values, reveal the
change. So the first exact release of a period records the hash of the values it used;
resubmitting those values is harmless, other values are refused at submit, and every later
exact release is checked against it. Called inside the release's transaction.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3

import numpy as np

from mpcnode.core.declaration import Values
from mpcnode.errors import PreconditionFailed, shown
from mpcnode.node.ledger import ReleaseRecord

log = logging.getLogger(__name__)


def values_hash_of(values: Values) -> str:
    """SHA-256 of the dtype and little-endian bytes of a dataset's values."""
    digest = hashlib.sha256(values.dtype.name.encode() + b":")
    little = np.ascontiguousarray(values.astype(values.dtype.newbyteorder("<"), copy=False))
    digest.update(little.data)  # no copy of a 10^7-element vector
    return digest.hexdigest()


def seal(conn: sqlite3.Connection, entry: ReleaseRecord, values_hash: str) -> None:
    """Seal the period's input with the values its first exact release used.

    A later exact release of other values is refused: the owner may have resubmitted
    between a round's Prepare and its release, and two exact sums of one function over
    one participant set, of different values, would reveal the change.
    """
    row = conn.execute(
        "SELECT sealed, period FROM datasets WHERE dataset = ?", (entry.dataset,)
    ).fetchone()
    if row is None or row[1] != entry.period:
        raise PreconditionFailed(
            f"dataset {shown(entry.dataset)} moved to a new period during this round; "
            "its release is refused"
        )
    if row[0] is not None and row[0] != values_hash:
        raise PreconditionFailed(
            f"exact release refused: the values of dataset {shown(entry.dataset)} changed "
            f"since period {entry.period}'s first exact release, and releasing them exactly "
            "would reveal the change; only its owner can start a new period"
        )
    if row[0] is not None:
        return
    conn.execute("UPDATE datasets SET sealed = ? WHERE dataset = ?", (values_hash, entry.dataset))
    # The owner may have replaced the input since this round read it: other values could
    # never be released exactly in this period, so they go, whatever they are.
    stale = conn.execute(
        "DELETE FROM inputs WHERE dataset = ? AND hash != ?", (entry.dataset, values_hash)
    ).rowcount
    if stale:
        log.warning(
            "dataset %r: the input submitted during the period's first exact round was "
            "dropped; the period is sealed with the values that round released",
            entry.dataset,
        )
