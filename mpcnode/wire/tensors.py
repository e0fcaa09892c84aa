"""numpy arrays to and from the mpc.v1 `Tensor` and `TensorChunk` messages.

The one place where arrays meet bytes (STYLE 3). A Tensor is `length` elements of `dtype`
as raw little-endian bytes, exactly length * 8 bytes; nothing is ever unpickled or parsed
beyond that. Vectors over 1 MiB travel as a stream of `TensorChunk`s of at most
`CHUNK_ELEMENTS` elements, in order and without gaps, reassembled by `ChunkAssembler`.

Security assumption: every Tensor comes from another organization, so each is checked
(known dtype, the expected dtype and length, byte count) before numpy sees its bytes, and a
stream's announced length is capped by `MAX_LENGTH` before any memory is allocated.
Error messages name what was expected and what came, never the contents.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.api.v1 import types_pb2
from mpcnode.core.spec import MAX_LENGTH
from mpcnode.errors import InvalidInput

CHUNK_ELEMENTS = 65536
"""Elements per streamed chunk: 512 KiB of data, safely under the 1 MiB message rule."""

_ITEMSIZE = 8
# Wire dtype -> little-endian numpy dtype of the bytes. Arrays handed out are native order.
_WIRE_TO_NUMPY: dict[int, np.dtype[Any]] = {
    types_pb2.DTYPE_UINT64: np.dtype("<u8"),
    types_pb2.DTYPE_INT64: np.dtype("<i8"),
    types_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
}
_NUMPY_TO_WIRE: dict[str, types_pb2.DType.ValueType] = {
    "u": types_pb2.DTYPE_UINT64,
    "i": types_pb2.DTYPE_INT64,
    "f": types_pb2.DTYPE_FLOAT64,
}


def to_tensor(arr: npt.NDArray[Any]) -> types_pb2.Tensor:
    """Encode a 1-D uint64, int64 or float64 array as a Tensor (little-endian bytes).

    Raises InvalidInput for any other dtype or shape: the wire carries only these three.
    """
    wire = _wire_dtype(arr)
    data = arr.astype(_WIRE_TO_NUMPY[wire], copy=False).tobytes()
    return types_pb2.Tensor(dtype=wire, length=arr.shape[0], data=data)


def from_tensor(
    t: types_pb2.Tensor,
    expected_dtype: npt.DTypeLike | None = None,
    expected_length: int | None = None,
) -> npt.NDArray[Any]:
    """Decode a Tensor into a new, writable, native-order 1-D array.

    Checks that the dtype is one of the three the wire knows, that it matches
    `expected_dtype` and `length` matches `expected_length` when given, and that the byte
    count is exactly length * 8. Raises InvalidInput saying what was expected and what came.
    """
    if expected_dtype is not None:
        _check_dtype(t.dtype, _wire_dtype_of(np.dtype(expected_dtype)), "a tensor")
    if expected_length is not None and t.length != expected_length:
        raise InvalidInput(
            f"expected a tensor of {expected_length} elements but it says {t.length}"
        )
    return _view(t, "a tensor").astype(_native(t.dtype))


def iter_chunks(arr: npt.NDArray[Any]) -> Iterator[types_pb2.TensorChunk]:
    """Yield `arr` as in-order TensorChunks of at most CHUNK_ELEMENTS elements each.

    An empty array yields no chunk. Each chunk is encoded as it is yielded, so streaming a
    10^7-element vector holds one chunk's bytes at a time, not a second copy of the vector.
    """
    _wire_dtype(arr)
    for offset in range(0, arr.shape[0], CHUNK_ELEMENTS):
        part = to_tensor(arr[offset : offset + CHUNK_ELEMENTS])
        yield types_pb2.TensorChunk(offset=offset, part=part)


class ChunkAdder:
    """Adds a streamed uint64 vector into `total` (mod 2^64) chunk by chunk, as it arrives.

    The same checks as `ChunkAssembler` (in order, contiguous, uint64, never past the end),
    with no buffer of its own: the coordinator sums n partials into one array.
    """

    def __init__(self, total: npt.NDArray[np.uint64]) -> None:
        self._total = total
        self._filled = 0

    def add(self, chunk: types_pb2.TensorChunk) -> None:
        """Add one chunk into place; InvalidInput if it is out of order, mistyped or too long."""
        values = _take(chunk, self._filled, self._total.shape[0], types_pb2.DTYPE_UINT64)
        end = self._filled + values.shape[0]
        np.add(self._total[self._filled : end], values, out=self._total[self._filled : end])
        self._filled = end

    def finish(self) -> None:
        """InvalidInput unless every element arrived."""
        _check_complete(self._filled, self._total.shape[0])


class ChunkAssembler:
    """Reassembles a streamed vector of `total_length` elements of `dtype` from its chunks.

    Invariants: chunks are accepted only in order and contiguous (each offset equals the
    number of elements received so far), of the announced dtype, non-empty, and never past
    `total_length`; the array is preallocated once, after `total_length` was checked against
    `MAX_LENGTH`, so a peer cannot make the node allocate more than a spec allows.
    """

    def __init__(self, total_length: int, dtype: npt.DTypeLike) -> None:
        """Check the announced length and allocate the result; InvalidInput if too large."""
        if not 0 <= total_length <= MAX_LENGTH:
            raise InvalidInput(
                f"a streamed tensor announces {total_length} elements; it must be 0 to {MAX_LENGTH}"
            )
        self._wire = _wire_dtype_of(np.dtype(dtype))
        self._array: npt.NDArray[Any] = np.empty(total_length, dtype=_native(self._wire))
        self._filled = 0

    @property
    def received(self) -> int:
        """Number of elements received so far."""
        return self._filled

    def add(self, chunk: types_pb2.TensorChunk) -> None:
        """Copy one chunk into place; InvalidInput if it is out of order, mistyped or too long."""
        values = _take(chunk, self._filled, self._array.shape[0], self._wire)
        self._array[self._filled : self._filled + values.shape[0]] = values
        self._filled += values.shape[0]

    def result(self) -> npt.NDArray[Any]:
        """Return the assembled array; InvalidInput if elements are still missing."""
        _check_complete(self._filled, self._array.shape[0])
        return self._array


def _take(
    chunk: types_pb2.TensorChunk, filled: int, total: int, wire: types_pb2.DType.ValueType
) -> npt.NDArray[Any]:
    """The checked, read-only elements of the next chunk of a stream."""
    if chunk.offset != filled:
        raise InvalidInput(
            f"a chunk starts at element {chunk.offset} but {filled} of {total} "
            "elements have arrived; send chunks in order, each starting where the "
            "previous one ended"
        )
    part = chunk.part
    _check_dtype(part.dtype, wire, "a chunk")
    if part.length == 0:
        raise InvalidInput("a chunk carries no elements; every chunk must carry at least one")
    if part.length > total - filled:
        raise InvalidInput(
            f"a chunk of {part.length} elements at element {chunk.offset} overruns the "
            f"announced length {total}; the stream must not carry more than it announced"
        )
    return _view(part, "a chunk")


def _check_complete(filled: int, total: int) -> None:
    if filled != total:
        raise InvalidInput(
            f"the stream ended after {filled} of {total} announced elements; "
            "send the remaining chunks"
        )


def _wire_dtype(arr: npt.NDArray[Any]) -> types_pb2.DType.ValueType:
    if not isinstance(arr, np.ndarray) or arr.ndim != 1:
        raise InvalidInput("only 1-D numpy arrays travel as tensors (a scalar is length 1)")
    return _wire_dtype_of(arr.dtype)


def _wire_dtype_of(dtype: np.dtype[Any]) -> types_pb2.DType.ValueType:
    wire = _NUMPY_TO_WIRE.get(dtype.kind) if dtype.itemsize == _ITEMSIZE else None
    if wire is None:
        raise InvalidInput(f"tensors carry uint64, int64 or float64 elements, not {dtype}")
    return wire


def _check_dtype(got: int, want: types_pb2.DType.ValueType, what: str) -> None:
    if got != want:
        raise InvalidInput(f"expected {what} of dtype {_name(want)} but got {_name(got)}")


def _view(t: types_pb2.Tensor, what: str) -> npt.NDArray[Any]:
    # A read-only view over the message's bytes; callers copy it into their own array.
    wire_dtype = _WIRE_TO_NUMPY.get(t.dtype)
    if wire_dtype is None:
        raise InvalidInput(
            f"{what} has unknown dtype {_name(t.dtype)}; use DTYPE_UINT64, DTYPE_INT64 or "
            "DTYPE_FLOAT64"
        )
    if t.length > MAX_LENGTH:
        raise InvalidInput(f"{what} says {t.length} elements; at most {MAX_LENGTH} are allowed")
    if len(t.data) != t.length * _ITEMSIZE:
        raise InvalidInput(
            f"{what} says {t.length} elements, which is {t.length * _ITEMSIZE} bytes, but "
            f"its data has {len(t.data)} bytes"
        )
    return np.frombuffer(t.data, dtype=wire_dtype)


def _native(wire: int) -> np.dtype[Any]:
    return _WIRE_TO_NUMPY[wire].newbyteorder("=")


def _name(wire: int) -> str:
    try:
        return types_pb2.DType.Name(wire)  # type: ignore[arg-type]
    except ValueError:
        return f"{wire} (unknown)"
