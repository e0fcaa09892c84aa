"""Outgoing share pushes from this node to its peers (node -> node, mutual TLS).

One channel per peer, created on first use. gRPC checks the peer's certificate against
the federation CA and its name `<peer>.party.mpc`; when the roster pins the peer's key,
a pre-flight handshake checks the pin before the channel is trusted with a share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from mpcnode.api.v1 import node_pb2, node_pb2_grpc, types_pb2
from mpcnode.config import Roster
from mpcnode.errors import MpcError
from mpcnode.rpc.channels import open_party_channel
from mpcnode.rpc.status import from_rpc_error
from mpcnode.tls import TlsFiles
from mpcnode.wire.tensors import iter_chunks

log = logging.getLogger(__name__)


class PeerChannels:
    """Channels to the roster's parties, and the push of one share over them."""

    def __init__(self, roster: Roster, tls: TlsFiles) -> None:
        self._roster = roster
        self._tls = tls
        self._stubs: dict[str, node_pb2_grpc.PeerAsyncStub] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._lock = asyncio.Lock()

    async def _stub(self, peer: str, timeout: float) -> node_pb2_grpc.PeerAsyncStub:
        async with self._lock:
            if peer in self._stubs:
                return self._stubs[peer]
            entry = self._roster.get(peer)
            if entry is None:  # rounds.prepare only admits roster participants
                raise KeyError(peer)
            channel = await open_party_channel(entry, self._tls, timeout)
            self._channels.append(channel)
            self._stubs[peer] = node_pb2_grpc.PeerStub(channel)
            return self._stubs[peer]

    async def push_share(
        self,
        peer: str,
        header: types_pb2.RoundHeader,
        share: npt.NDArray[np.uint64],
        timeout: float,
    ) -> None:
        """Deliver one share; errors name the peer (its `party`) so the round can blame it."""

        async def chunks() -> AsyncIterator[node_pb2.ShareChunk]:
            for chunk in iter_chunks(share):
                yield node_pb2.ShareChunk(header=header, total_length=len(share), share=chunk)

        try:
            stub = await self._stub(peer, timeout)
            await stub.PushShare(chunks(), timeout=timeout)
        except grpc.RpcError as err:
            mapped = from_rpc_error(err, f"could not deliver a share to {peer}")
            mapped.party = peer
            raise mapped from None
        except MpcError as exc:  # the pin pre-flight: unreachable or wrong key
            exc.party = exc.party or peer
            raise
        log.debug("round %s: share delivered to %s", header.round_id.hex(), peer)

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels:
            await channel.close(None)
