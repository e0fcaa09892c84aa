"""A synchronous mutual-TLS channel to a daemon, with errors translated in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from mpcnode.pki import Identity
from mpcnode.rpc.status import from_rpc_error
from mpcnode.tls import TlsFiles, channel_credentials, channel_options

_T = TypeVar("_T")


def open_channel(address: str, server: Identity, tls: TlsFiles) -> grpc.Channel:
    """A channel that only trusts the federation CA and only `server`'s certificate name."""
    return grpc.secure_channel(address, channel_credentials(tls), options=channel_options(server))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise a failed call as the MpcError of its status (message prefixed with `what`)."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err, what) from None


def call(what: str, fn: Callable[[], _T]) -> _T:
    """Run one call with its errors translated."""
    with translated(what):
        return fn()
