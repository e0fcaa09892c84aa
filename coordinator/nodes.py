"""The coordinator's calls to nodes' RoundControl service (coordinator -> node, mutual TLS).

Each failure comes back as an MpcError whose `party` names who is at fault: the node the
call went to when it could not be reached, or the peer the node named (via the
`mpc-party` trailer) when a share could not be delivered or did not arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.config import Roster
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import MpcError
from mpcnode.rpc.channels import open_party_channel
from mpcnode.rpc.status import from_rpc_error
from mpcnode.tls import TlsFiles
from mpcnode.wire.specs import spec_to_proto
from mpcnode.wire.tensors import ChunkAssembler

log = logging.getLogger(__name__)
_UNREACHABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


class NodeGateway:
    """One channel per roster party; the round-control calls with errors that name parties."""

    def __init__(self, roster: Roster, tls: TlsFiles) -> None:
        self._roster = roster
        self._tls = tls
        self._stubs: dict[str, node_pb2_grpc.RoundControlAsyncStub] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._lock = asyncio.Lock()

    async def _stub(self, party: str) -> node_pb2_grpc.RoundControlAsyncStub:
        async with self._lock:
            if party not in self._stubs:
                entry = self._roster.get(party)
                if entry is None:
                    raise MpcError(f"{party} is not on the roster")
                channel = await open_party_channel(entry, self._tls, 10.0)
                self._channels.append(channel)
                self._stubs[party] = node_pb2_grpc.RoundControlStub(channel)
            return self._stubs[party]

    async def _call(self, party: str, step: str, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except grpc.RpcError as err:
            raise _blame(from_rpc_error(err, f"{party} ({step})"), party) from None

    async def prepare(
        self,
        party: str,
        header: types_pb2.RoundHeader,
        spec: ComputationSpec,
        participants: tuple[str, ...],
        deadline_ms: int,
        timeout: float,
    ) -> None:
        """Ask one node to prepare; raises the node's refusal or unreachability."""
        request = node_pb2.PrepareRequest(
            header=header,
            spec=spec_to_proto(spec),
            participants=list(participants),
            deadline_unix_ms=deadline_ms,
        )
        try:
            stub = await self._stub(party)
        except MpcError as exc:
            raise _blame(exc, party) from None
        await self._call(party, "prepare", stub.Prepare(request, timeout=timeout))

    async def share(self, party: str, header: types_pb2.RoundHeader, timeout: float) -> None:
        """Tell one node to push its shares; returns once they are delivered."""
        stub = await self._stub(party)
        request = node_pb2.ShareRequest(header=header)
        await self._call(party, "share", stub.Share(request, timeout=timeout))

    async def collect(
        self, party: str, header: types_pb2.RoundHeader, length: int, timeout: float
    ) -> npt.NDArray[np.uint64]:
        """Collect one node's partial sum (uint64 ring elements of the spec's length)."""
        stub = await self._stub(party)
        assembler = ChunkAssembler(length, np.dtype(np.uint64))
        try:
            stream = stub.CollectPartial(
                node_pb2.CollectPartialRequest(header=header), timeout=timeout
            )
            async for piece in stream:
                if piece.total_length != length:
                    raise MpcError(f"{party} sent a partial of length {piece.total_length}")
                assembler.add(piece.chunk)
        except grpc.RpcError as err:
            raise _blame(from_rpc_error(err, f"{party} (partial)"), party) from None
        return assembler.result()

    async def notify_end(self, party: str, header: types_pb2.RoundHeader, reason: str) -> None:
        """Best effort: tell a node to drop a round (Forget when published, else Abort)."""
        try:
            stub = await self._stub(party)
            if reason == "published":
                await stub.Forget(node_pb2.ForgetRequest(header=header), timeout=5.0)
            else:
                await stub.Abort(node_pb2.AbortRequest(header=header, reason=reason), timeout=5.0)
        except Exception as exc:
            log.info(
                "could not tell %s that round %s ended: %s", party, header.round_id.hex()[:8], exc
            )

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels:
            await channel.close(None)


def _blame(err: MpcError, callee: str) -> MpcError:
    """A node that cannot be reached is at fault unless it named another party."""
    if not err.party and err.status in _UNREACHABLE:
        err.party = callee
    return err


def is_unreachable(err: MpcError) -> bool:
    """True when a retry without `err.party` may succeed (the party is down or cut off)."""
    return err.status in _UNREACHABLE and bool(err.party)
