"""A synchronous mutual-TLS channel to a daemon, with errors translated in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self, TypeVar

import grpc

from mpcnode.handshake import diagnose
from mpcnode.pki import Identity
from mpcnode.rpc.status import from_rpc_error
from mpcnode.tls import TlsFiles, channel_credentials, channel_options

_T = TypeVar("_T")


class Target(str):
    """What a client calls ("node alice at host:7001"), carrying how to reach it, so a failed
    handshake can be explained (`mpcnode.handshake`)."""

    address: str
    server: Identity
    tls: TlsFiles

    def __new__(cls, label: str, address: str, server: Identity, tls: TlsFiles) -> Target:
        target = super().__new__(cls, label)
        target.address, target.server, target.tls = address, server, tls
        return target


class ChannelClient:
    """Base of the client classes: owns one channel; usable as a context manager."""

    def __init__(self, address: str, server: Identity, tls: TlsFiles) -> None:
        self._channel = open_channel(address, server, tls)
        self._reach = (address, server, tls)

    def target(self, label: str) -> Target:
        """`label` as the name of this client's calls in errors, with a failed handshake
        explained."""
        return Target(label, *self._reach)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


def open_channel(address: str, server: Identity, tls: TlsFiles) -> grpc.Channel:
    """A channel that only trusts the federation CA and only `server`'s certificate name."""
    return grpc.secure_channel(address, channel_credentials(tls), options=channel_options(server))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise a failed call as the MpcError of its status (message prefixed with `what`)."""
    try:
        yield
    except grpc.RpcError as err:
        error = from_rpc_error(err, what)
        if isinstance(what, Target) and error.status == "UNAVAILABLE":
            why = diagnose(what.address, what.server, what.tls)
            if why:
                error = type(error)(f"{error.message} ({why})", party=error.party)
        raise error from None


def call(what: str, fn: Callable[[], _T]) -> _T:
    """Run one call with its errors translated."""
    with translated(what):
        return fn()
