"""Fixed-point encoding of inputs into the ring Z_(2^64) and decoding of sums (DESIGN 2).

A value v of a spec with `f = spec.fractional_bits` is encoded as round(v * 2^f), an int64
written in two's complement as a uint64 ring element. Adding encodings mod 2^64 and viewing
the total as int64 gives the exact sum of the rounded values, provided the sum stays in the
signed 64-bit range, which `ComputationSpec.check` guarantees for in-bounds inputs
(`check_overflow`). Decoding divides by 2^f.

Security assumption: the error messages of this module travel to remote parties (the
coordinator, through it analysts), so they describe *how many* values are wrong, *which*
rule they break and *where the first one is*, and never contain an input value.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.core.spec import BoundsPolicy, ComputationSpec
from mpcnode.errors import InvalidInput

_INT64_LIMIT = Fraction(1 << 63)
_Numbers = npt.NDArray[np.number[Any]]
_ACCEPTED = (np.dtype(np.int64), np.dtype(np.float64))


def validate_input(values: _Numbers, spec: ComputationSpec) -> _Numbers:
    """Check one party's input against `spec` and return it ready to encode.

    Accepts a 1-D int64 or float64 array of `spec.length` elements. Returns a new array:
    int64 when `spec.fractional_bits == 0` (integral float input is converted exactly),
    float64 otherwise (int64 input to a fixed-point spec is converted to float64, exact up to
    2^53 in magnitude). NaN and infinities are always refused; an integer spec refuses
    non-integral values; values outside [lower, upper] are clipped or refused as
    `spec.on_out_of_bounds` says. Raises InvalidInput with a message free of input values.
    """
    _check_bounds_fit(spec)
    arr = _check_shape(values, spec)
    validate_finite(arr, spec.dataset)
    if arr.dtype == np.float64 and spec.is_integer:
        _check_integral(arr, spec)
    if spec.is_integer and arr.dtype == np.int64:
        # Python ints compare exactly with int64 arrays, so values near 2^63 are never rounded.
        return _apply_bounds(arr.copy(), int(spec.lower), int(spec.upper), spec)
    result = _apply_bounds(arr.astype(np.float64), float(spec.lower), float(spec.upper), spec)
    # In-bounds integral doubles convert to int64 exactly: _check_bounds_fit keeps them < 2^63.
    return result.astype(np.int64) if spec.is_integer else result


def encode(values: _Numbers, spec: ComputationSpec) -> npt.NDArray[np.uint64]:
    """Validate `values` and encode them as ring elements round(v * 2^f) mod 2^64.

    Invariant: for in-bounds values, |encoded (as int64) - v * 2^f| <= 1/2, and integer specs
    (f = 0) encode int64 input exactly, with no float round trip. Rounding is half-to-even
    (`np.rint`); multiplying a double by 2^f is exact, so the only error is that rounding.
    """
    checked = validate_input(values, spec)
    if spec.is_integer:
        return checked.astype(np.int64, copy=False).view(np.uint64)
    scaled = np.ldexp(checked, spec.fractional_bits)
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


def validate_finite(values: _Numbers, dataset: str) -> None:
    """Refuse an int64/float64 1-D input holding NaN or an infinity, at submission time.

    The check every input needs whatever spec it later meets; `validate_input` repeats it
    with the spec's other rules. The message names the count and first index, never a value.
    """
    where = f"input for dataset {dataset!r}"
    if not isinstance(values, np.ndarray) or values.ndim != 1:
        raise InvalidInput(f"{where} must be a 1-D numpy array (a scalar is length 1)")
    if values.dtype not in _ACCEPTED:
        raise InvalidInput(f"{where} has dtype {values.dtype}; send int64 or float64 values")
    if values.dtype == np.int64:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        raise InvalidInput(
            f"{where} has {_count(bad)} not finite (NaN or infinity; first at index "
            f"{int(np.argmax(bad))}); every value must be a finite number"
        )


def _check_bounds_fit(spec: ComputationSpec) -> None:
    # Guards encode against a spec that skipped `check`: an in-bounds value must fit int64
    # after scaling, or the cast below would silently wrap.
    if not (math.isfinite(spec.lower) and math.isfinite(spec.upper)) or spec.lower > spec.upper:
        raise InvalidInput("spec.lower and spec.upper must be finite with lower <= upper")
    if not 0 <= spec.fractional_bits <= 62:
        raise InvalidInput(f"spec.fractional_bits is {spec.fractional_bits}; it must be 0 to 62")
    if spec.is_integer and not (float(spec.lower).is_integer() and float(spec.upper).is_integer()):
        raise InvalidInput("an integer spec (fractional_bits 0) needs integer bounds")
    largest = max(abs(Fraction(spec.lower)), abs(Fraction(spec.upper)))
    if largest * (1 << spec.fractional_bits) >= _INT64_LIMIT:
        raise InvalidInput(
            "spec bounds times 2^fractional_bits do not fit a signed 64-bit value; "
            "the spec must pass ComputationSpec.check before inputs are encoded"
        )


def _check_shape(values: _Numbers, spec: ComputationSpec) -> _Numbers:
    where = f"input for dataset {spec.dataset!r}"
    if not isinstance(values, np.ndarray):
        raise InvalidInput(f"{where} must be a numpy array, not {type(values).__name__}")
    if values.dtype not in _ACCEPTED:
        raise InvalidInput(f"{where} has dtype {values.dtype}; send int64 or float64 values")
    if values.ndim != 1:
        raise InvalidInput(
            f"{where} has shape {values.shape}; it must be a 1-D array (a scalar is length 1)"
        )
    if values.shape[0] != spec.length:
        raise InvalidInput(f"{where} has {values.shape[0]} values but spec.length is {spec.length}")
    return values


def _check_integral(arr: _Numbers, spec: ComputationSpec) -> None:
    bad = arr != np.trunc(arr)
    if bad.any():
        raise InvalidInput(
            f"input for dataset {spec.dataset!r} has {_count(bad)} with a fractional part "
            f"(first at index {int(np.argmax(bad))}) but the spec takes whole numbers "
            "(fractional_bits 0); round the input or ask for a spec with fractional_bits"
        )


def _apply_bounds(arr: _Numbers, lower: float, upper: float, spec: ComputationSpec) -> _Numbers:
    below = arr < lower
    above = arr > upper
    if not (below.any() or above.any()):
        return arr
    if spec.on_out_of_bounds is BoundsPolicy.CLIP:
        return np.clip(arr, lower, upper)
    faults = []
    if below.any():
        faults.append(
            f"{_count(below)} below spec.lower {_fmt(spec.lower)} "
            f"(first at index {int(np.argmax(below))})"
        )
    if above.any():
        faults.append(
            f"{_count(above)} above spec.upper {_fmt(spec.upper)} "
            f"(first at index {int(np.argmax(above))})"
        )
    raise InvalidInput(
        f"input for dataset {spec.dataset!r} has {' and '.join(faults)} and the spec's policy "
        f"is {BoundsPolicy.REJECT.value}; correct the input or ask for a spec with "
        f"{BoundsPolicy.CLIP.value}"
    )


def _count(mask: npt.NDArray[np.bool_]) -> str:
    n = int(np.count_nonzero(mask))
    return f"{n} value" if n == 1 else f"{n} values"


def _fmt(bound: float) -> str:
    # Bounds are public (they are in the spec); print integral ones without a trailing ".0".
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))
