"""The array <-> bytes codec: round trips, chunked streams, and every refusal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.core.spec import MAX_LENGTH
from mpcnode.errors import InvalidInput
from mpcnode.wire.tensors import (
    CHUNK_ELEMENTS,
    ChunkAssembler,
    from_tensor,
    iter_chunks,
    to_tensor,
)

SAMPLES = {
    np.uint64: np.array([0, 1, 2**63 + 12345, 2**64 - 1], dtype=np.uint64),
    np.int64: np.array([0, -1, -(2**63), 2**63 - 1], dtype=np.int64),
    np.float64: np.array([0.0, -1.5, 1e300, 5e-324, -0.0]),
}


@pytest.mark.parametrize("dtype", list(SAMPLES))
def test_round_trip_each_dtype(dtype: Any) -> None:
    arr = SAMPLES[dtype]
    t = to_tensor(arr)
    assert t.length == arr.shape[0]
    assert len(t.data) == 8 * arr.shape[0]
    back = from_tensor(t, expected_dtype=dtype, expected_length=arr.shape[0])
    assert back.dtype == dtype
    assert back.tobytes() == arr.tobytes()  # bit-exact, including -0.0
    back[0] = 1  # a writable copy, not a view of the message's bytes


def test_bytes_are_little_endian_whatever_the_array_order() -> None:
    t = to_tensor(np.array([1, 2], dtype=">u8"))
    assert t.dtype == pb.DTYPE_UINT64
    assert t.data == (1).to_bytes(8, "little") + (2).to_bytes(8, "little")
    assert from_tensor(t).dtype == np.dtype(np.uint64)


@pytest.mark.parametrize(
    "arr",
    [
        np.array([1, 2], dtype=np.int32),
        np.array([1.0], dtype=np.float32),
        np.array([1 + 2j]),
        np.zeros((2, 2), dtype=np.uint64),
        np.uint64(3),
    ],
)
def test_other_dtypes_and_shapes_are_refused(arr: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        to_tensor(arr)


def test_from_tensor_says_what_was_expected_and_what_came() -> None:
    t = to_tensor(np.array([1, 2], dtype=np.int64))
    with pytest.raises(
        InvalidInput, match="expected a tensor of dtype DTYPE_UINT64 but got DTYPE_INT64"
    ):
        from_tensor(t, expected_dtype=np.uint64)
    with pytest.raises(InvalidInput, match="expected a tensor of 3 elements but it says 2"):
        from_tensor(t, expected_length=3)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            pb.Tensor(dtype=pb.DTYPE_UINT64, length=2, data=bytes(15)),
            "16 bytes, but its data has 15",
        ),
        (
            pb.Tensor(dtype=pb.DTYPE_UINT64, length=1, data=bytes(16)),
            "8 bytes, but its data has 16",
        ),
        (
            pb.Tensor(dtype=pb.DTYPE_UNSPECIFIED, length=1, data=bytes(8)),
            "unknown dtype DTYPE_UNSPECIFIED",
        ),
        (pb.Tensor(dtype=9, length=1, data=bytes(8)), r"unknown dtype 9 \(unknown\)"),  # type: ignore[arg-type]
        (pb.Tensor(dtype=pb.DTYPE_INT64, length=MAX_LENGTH + 1), "at most"),
    ],
)
def test_malformed_tensors_are_refused(tensor: pb.Tensor, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        from_tensor(tensor)


# --- chunked streams ----------------------------------------------------------------------


def _vector(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def test_200000_elements_stream_and_reassemble() -> None:
    arr = _vector(200_000)
    chunks = list(iter_chunks(arr))
    assert [c.offset for c in chunks] == [0, 65536, 131072, 196608]
    assert all(c.part.length <= CHUNK_ELEMENTS for c in chunks)
    assert all(c.ByteSize() < 1 << 20 for c in chunks), "every message stays under 1 MiB"
    assembler = ChunkAssembler(arr.shape[0], np.uint64)
    for chunk in chunks:
        assembler.add(chunk)
    assert assembler.received == arr.shape[0]
    assert np.array_equal(assembler.result(), arr)


@pytest.mark.parametrize("dtype", list(SAMPLES))
def test_small_streams_of_each_dtype(dtype: Any) -> None:
    arr = SAMPLES[dtype]
    assembler = ChunkAssembler(arr.shape[0], dtype)
    for chunk in iter_chunks(arr):
        assembler.add(chunk)
    assert assembler.result().tobytes() == arr.tobytes()


def test_an_empty_vector_is_an_empty_stream() -> None:
    assert list(iter_chunks(np.zeros(0, dtype=np.uint64))) == []
    assert ChunkAssembler(0, np.uint64).result().shape == (0,)


def _chunks(n: int) -> list[pb.TensorChunk]:
    return list(iter_chunks(_vector(n)))


def test_out_of_order_chunks_are_refused() -> None:
    first, _, third = _chunks(2 * CHUNK_ELEMENTS + 10)
    assembler = ChunkAssembler(2 * CHUNK_ELEMENTS + 10, np.uint64)
    assembler.add(first)
    with pytest.raises(InvalidInput, match="starts at element 131072 but 65536 of 131082"):
        assembler.add(third)
    with pytest.raises(InvalidInput, match="in order"):
        assembler.add(first)  # a repeat is out of order too


def test_overrun_is_refused() -> None:
    (chunk,) = _chunks(10)
    assembler = ChunkAssembler(9, np.uint64)
    with pytest.raises(InvalidInput, match="overruns the announced length 9"):
        assembler.add(chunk)
    complete = ChunkAssembler(10, np.uint64)
    complete.add(chunk)
    extra = pb.TensorChunk(offset=10, part=to_tensor(_vector(1)))
    with pytest.raises(InvalidInput, match="overruns"):
        complete.add(extra)


def test_a_short_stream_is_refused() -> None:
    first, _ = _chunks(CHUNK_ELEMENTS + 1)
    assembler = ChunkAssembler(CHUNK_ELEMENTS + 1, np.uint64)
    assembler.add(first)
    with pytest.raises(InvalidInput, match="ended after 65536 of 65537"):
        assembler.result()


def test_wrong_dtype_chunk_is_refused() -> None:
    assembler = ChunkAssembler(2, np.uint64)
    chunk = pb.TensorChunk(offset=0, part=to_tensor(np.array([1, 2], dtype=np.int64)))
    with pytest.raises(
        InvalidInput, match="expected a chunk of dtype DTYPE_UINT64 but got DTYPE_INT64"
    ):
        assembler.add(chunk)


def test_empty_and_malformed_chunks_are_refused() -> None:
    assembler = ChunkAssembler(2, np.uint64)
    with pytest.raises(InvalidInput, match="no elements"):
        assembler.add(pb.TensorChunk(offset=0, part=pb.Tensor(dtype=pb.DTYPE_UINT64)))
    lying = pb.TensorChunk(offset=0, part=pb.Tensor(dtype=pb.DTYPE_UINT64, length=2, data=bytes(8)))
    with pytest.raises(InvalidInput, match="its data has 8 bytes"):
        assembler.add(lying)
    assert assembler.received == 0, "a refused chunk leaves no trace"


@pytest.mark.parametrize("length", [MAX_LENGTH + 1, 2**64 - 1, -1])
def test_an_oversized_stream_is_refused_before_allocating(length: int) -> None:
    with pytest.raises(InvalidInput, match="announces"):
        ChunkAssembler(length, np.uint64)


def test_only_wire_dtypes_can_be_assembled() -> None:
    with pytest.raises(InvalidInput, match="not int32"):
        ChunkAssembler(1, np.int32)
