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
    out = signed.astype(np.float64)
    return np.ldexp(out, -fractional_bits, out=out)  # in place: one new vector, not two


def decode_in_place(
    total: npt.NDArray[np.uint64], fractional_bits: int
) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """`decode`, reusing the total's memory (which is then no longer the total).

    For a 10^7-element sum this keeps one vector in memory instead of two: the int64 result
    is a view, and the float64 one is converted slice by slice into the same buffer.
    """
    if not 0 <= fractional_bits <= 63:
        raise InvalidInput(f"fractional_bits is {fractional_bits}; it must be 0 to 63")
    if total.dtype != np.uint64 or total.ndim != 1 or not total.flags.c_contiguous:
        raise InvalidInput("a ring total must be a contiguous 1-D uint64 array")
    signed = total.view(np.int64)
    if fractional_bits == 0:
        return signed
    out = total.view(np.float64)
    step = 1 << 16
    for start in range(0, signed.shape[0], step):
        part = signed[start : start + step].astype(np.float64)  # read before overwrite
        out[start : start + step] = np.ldexp(part, -fractional_bits, out=part)
    return out


class EncodedSlices:
    """A contribution's ring elements, encoded slice by slice: encode(values) + noise.

    Holds the values (and the noise share, int64) and encodes only the slice asked for, so a
    node streaming a 10^7-element partial never holds a second full-size vector. Slices
    equal the matching slices of `encode(values, fractional_bits) + noise` exactly.
    """

    def __init__(
        self,
        values: npt.NDArray[np.int64] | npt.NDArray[np.float64],
        fractional_bits: int,
        noise: npt.NDArray[np.int64] | None = None,
    ) -> None:
        if values.ndim != 1 or (noise is not None and noise.shape != values.shape):
            raise InvalidInput("values and noise must be 1-D arrays of one length")
        if not 0 <= fractional_bits <= 62:
            raise InvalidInput(f"fractional_bits is {fractional_bits}; it must be 0 to 62")
        self._values = values
        self._f = fractional_bits
        self._noise = noise

    @property
    def length(self) -> int:
        """Elements of the contribution."""
        return int(self._values.shape[0])

    def chunk(self, start: int, count: int) -> npt.NDArray[np.uint64]:
        """Elements [start, start + count) as a new, writable uint64 array."""
        out = encode(self._values[start : start + count], self._f)  # always fresh memory
        if self._noise is not None:
            np.add(out, self._noise[start : start + count].view(np.uint64), out=out)
        return out
