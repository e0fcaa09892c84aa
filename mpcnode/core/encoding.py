"""Fixed-point encoding of inputs into the ring Z_(2^64) and decoding of sums (DESIGN 2).

A value v of a dataset declared with `f` fractional bits is encoded as round(v * 2^f), an
int64 written in two's complement as a uint64 ring element. Adding encodings mod 2^64 and viewing
the total as int64 gives the exact sum of the rounded values, provided the sum stays in the
signed 64-bit range, which `ComputationSpec.check` guarantees for in-domain inputs
(`check_overflow`). Decoding divides by 2^f.

Values are checked against their owner's declaration when they are submitted
(`mpcnode.core.declaration`), never here: encoding at round time cannot fail for a reason
that depends on a value, so it cannot be an oracle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.errors import InvalidInput

_Numbers = npt.NDArray[np.number[Any]]


def encode(values: _Numbers, fractional_bits: int) -> npt.NDArray[np.uint64]:
    """Encode values already checked against their declaration as round(v * 2^f) mod 2^64.

    The caller guarantees what `Declaration.validate` checks at submit time: a 1-D int64 or
    float64 array of finite values whose scaled magnitude stays below 2^62. Integer
    declarations (f = 0) encode int64 input exactly, with no float round trip. Rounding is
    half-to-even (`np.rint`); multiplying a double by 2^f is exact, so the only error is that
    rounding: |encoded (as int64) - v * 2^f| <= 1/2.
    """
    if not 0 <= fractional_bits <= 62:
        raise InvalidInput(f"fractional_bits is {fractional_bits}; it must be 0 to 62")
    if fractional_bits == 0:
        return np.asarray(values).astype(np.int64).view(np.uint64)
    scaled = np.ldexp(np.asarray(values, dtype=np.float64), fractional_bits)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.int64).view(np.uint64)


def decode(
    total: npt.NDArray[np.uint64], fractional_bits: int
) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """Read a ring total back as numbers: int64 exactly when f = 0, else float64 = int64 / 2^f.

    The total is interpreted in two's complement, so a negative sum comes back negative. For
    f > 0 the conversion to float64 rounds sums beyond 2^53 in magnitude to the nearest double
    (relative error below 2^-53); the division by 2^f itself is exact.
    """
    if not 0 <= fractional_bits <= 63:
        raise InvalidInput(f"fractional_bits is {fractional_bits}; it must be 0 to 63")
    if total.dtype != np.uint64 or total.ndim != 1:
        raise InvalidInput(
            f"a ring total must be a 1-D uint64 array, not {total.ndim}-D {total.dtype}"
        )
    signed = total.view(np.int64)
    if fractional_bits == 0:
        return signed.copy()
    return np.ldexp(signed.astype(np.float64), -fractional_bits)
