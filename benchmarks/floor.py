"""The insecure floor of benchmarks/secure_sum.py: plain vectors summed by one aggregator.

Run by the benchmark as separate processes: `floor.py _aggregator cert key ca` serves a
generic gRPC method over raw bytes on the coordinator's certificate; `floor.py _party address
cert key ca` streams its party's plain vector to it over the same mutual TLS the daemons
use. Each answers one line per command on stdout (see `processes.Child`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from mpcnode.errors import MpcError
from mpcnode.pki import Identity, Role
from mpcnode.tls import (
    TlsFiles,
    caller_identity,
    channel_credentials,
    channel_options,
    server_credentials,
    server_options,
)
from mpcnode.wire.tensors import CHUNK_ELEMENTS

CHUNK_BYTES = CHUNK_ELEMENTS * 8  # the daemons' chunk size, well under 1 MiB
PUSH = "/floor.v1.Aggregator/Push"
AGGREGATOR = Identity(Role.COORDINATOR, "coordinator")  # the floor serves on this certificate
READY_TIMEOUT_S = 600.0  # 64 daemons starting at once on 2 cores take a while
ROUND_TIMEOUT_S = 600.0


# -- the floor: aggregator process ------------------------------------------------------------
@dataclass
class _Sum:
    parties: int
    total: npt.NDArray[np.float64]
    senders: set[str] = field(default_factory=set)


def _meta(context: grpc.aio.ServicerContext[bytes, bytes]) -> dict[str, str]:
    pairs = context.invocation_metadata() or ()
    return {str(k): v if isinstance(v, str) else v.decode() for k, v in pairs}


async def _aggregate(tls: TlsFiles) -> None:
    """Serve Push over mutual TLS; print `ready <round> <t> <sum>` once all parties pushed."""
    rounds: dict[str, _Sum] = {}

    async def push(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        try:
            sender = caller_identity(context).identity
        except MpcError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.message)
        meta = _meta(context)
        length = int(meta["length"])
        state = rounds.setdefault(
            meta["round"], _Sum(int(meta["parties"]), np.zeros(length, dtype=np.float64))
        )
        offset = 0
        async for chunk in requests:
            part = np.frombuffer(chunk, dtype="<f8")
            state.total[offset : offset + part.shape[0]] += part
            offset += part.shape[0]
        if sender.role is not Role.PARTY or sender.name in state.senders or offset != length:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad push from {sender}")
        state.senders.add(sender.name)
        if len(state.senders) == state.parties:
            ready = time.monotonic()
            print(f"ready {meta['round']} {ready!r} {float(state.total.sum())!r}", flush=True)
            del rounds[meta["round"]]
        return b""

    server = grpc.aio.server(options=server_options())
    handler = grpc.stream_unary_rpc_method_handler(push)  # no (de)serializers: raw bytes
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("floor.v1.Aggregator", {"Push": handler})]
    )
    port = server.add_secure_port("127.0.0.1:0", server_credentials(tls))
    await server.start()
    print(f"listening {port}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the driver closes our stdin
    await server.stop(0)


# -- the floor: one sender process per party ---------------------------------------------------
def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK_BYTES):
        yield bytes(view[offset : offset + CHUNK_BYTES])


def _send_loop(address: str, tls: TlsFiles) -> None:
    """Keep one warm channel to the aggregator; `load <npy>`, then `send <round> <n>`."""
    channel = grpc.secure_channel(address, channel_credentials(tls), channel_options(AGGREGATOR))
    grpc.channel_ready_future(channel).result(timeout=READY_TIMEOUT_S)  # TLS handshake done
    push = channel.stream_unary(PUSH, request_serializer=None, response_deserializer=None)
    print("ready", flush=True)
    data = b""
    for line in sys.stdin:
        command, *args = line.split()
        if command == "load":
            data = np.load(args[0], allow_pickle=False).astype("<f8").tobytes()
            print("loaded", flush=True)
        elif command == "send":
            meta = (("round", args[0]), ("parties", args[1]), ("length", str(len(data) // 8)))
            started = time.monotonic()
            push(_chunks(data), metadata=meta, timeout=ROUND_TIMEOUT_S)
            print(f"sent {started!r}", flush=True)
    channel.close()


def child_main(role: str, args: Sequence[str]) -> None:
    """The floor's processes: `_aggregator cert key ca` or `_party address cert key ca`."""
    if role == "_aggregator":
        asyncio.run(_aggregate(TlsFiles(Path(args[0]), Path(args[1]), Path(args[2]))))
    else:
        _send_loop(args[0], TlsFiles(Path(args[1]), Path(args[2]), Path(args[3])))


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2:])
