"""Opening an async mutual-TLS channel to a roster party, with its key pin enforced.

Shared by a node (pushing shares to peers) and the coordinator (driving nodes): gRPC checks
the CA and the name `<party>.party.mpc`; when the roster pins the party's key, a pre-flight
handshake checks the pin before the channel is trusted (see `mpcnode.tls.check_server_pin`).
"""

from __future__ import annotations

import asyncio

import grpc.aio

from mpcnode.config import RosterEntry
from mpcnode.pki import Identity, Role
from mpcnode.tls import TlsFiles, channel_credentials, channel_options, check_server_pin

# gRPC's default reconnect backoff grows to 120 s: a node that restarted would be left out of
# every round for that long. Parties are few and known, so retry often.
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


async def open_party_channel(
    entry: RosterEntry, tls: TlsFiles, pin_timeout: float
) -> grpc.aio.Channel:
    """A channel to `entry`'s node; PermissionDenied/Unavailable if its pin check fails."""
    identity = Identity(Role.PARTY, entry.id)
    if entry.pin is not None:
        host, _, port = entry.address.rpartition(":")
        await asyncio.to_thread(
            check_server_pin, host.strip("[]"), int(port), tls, identity, entry.pin, pin_timeout
        )
    return grpc.aio.secure_channel(
        entry.address,
        channel_credentials(tls),
        options=[*channel_options(identity), *RECONNECT_OPTIONS],
    )
