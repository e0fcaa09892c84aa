"""The one place where mpcnode errors meet gRPC statuses, on both sides of a call.

Server side: `rpc_method` wraps every servicer method; an MpcError becomes its status with
its (public) message, and a party to blame travels in the `mpc-party` trailing metadata so
the coordinator can name it. Anything else is logged with its traceback and answered as
INTERNAL with an incident id, so no internal detail (or data) leaks to the caller.
Client side: `from_rpc_error` turns a grpc.RpcError back into the matching MpcError.
A call inside a RoundControl.Batch ends the same way: `call_error` is the status it would
have ended with alone, and `from_call_error` the MpcError a caller gets back from it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from mpcnode import errors
from mpcnode.api.v1 import node_pb2

log = logging.getLogger(__name__)

PARTY_METADATA_KEY = "mpc-party"
DETAILS_KEY = "grpc-status-details-bin"  # the standard key of a google.rpc.Status
DOMAIN = "mpc.v1"


def status_details(err: errors.MpcError) -> bytes:
    """The google.rpc.Status of an error: its code, message and one ErrorInfo with the stable
    reason (domain mpc.v1) and, when another party is at fault, metadata {"party": id}."""
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN)
    if err.party:
        info.metadata["party"] = err.party
    detail = any_pb2.Any()
    detail.Pack(info)
    code = grpc_code(err).value[0]
    status = status_pb2.Status(code=code, message=err.message, details=[detail])
    return cast(bytes, status.SerializeToString())


def reason_of(trailing: tuple[tuple[str, Any], ...]) -> str:
    """The ErrorInfo reason in a failed call's trailing metadata, or "" without one."""
    for key, value in trailing:
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:
                return ""
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == DOMAIN:
                    return str(info.reason)
    return ""


_BY_STATUS: dict[str, type[errors.MpcError]] = {e.status: e for e in errors.ALL_ERRORS}
_F = TypeVar("_F", bound=Callable[..., Any])


def grpc_code(err: errors.MpcError) -> grpc.StatusCode:
    """The gRPC status code of an MpcError."""
    return cast(grpc.StatusCode, getattr(grpc.StatusCode, err.status))


def _public(exc: BaseException, method: str) -> tuple[errors.MpcError, bool]:
    """The error a caller is told, logged once, and whether it is one of ours: an MpcError
    as it is (one WARNING line, no traceback: a refusal, an unknown round, a deadline),
    anything else as INTERNAL with an incident id, its traceback only in the log."""
    if isinstance(exc, errors.MpcError):
        # Messages never carry a value (STYLE 11), so the log may have them.
        log.warning("%s refused: %s: %s", method, exc.status, exc.message[:300])
        return exc, True
    incident = secrets.token_hex(4)
    log.error("internal error, incident %s", incident, exc_info=exc)
    return errors.MpcError(f"internal error (incident {incident}); see the daemon's log"), False


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, method: str
) -> None:
    error, ours = _public(exc, method)
    if ours:
        trailing: list[tuple[str, str | bytes]] = [(DETAILS_KEY, status_details(error))]
        if error.party:
            trailing.append((PARTY_METADATA_KEY, error.party))
        context.set_trailing_metadata(tuple(trailing))
    await context.abort(grpc_code(error), error.message)


def call_error(exc: BaseException, method: str) -> node_pb2.RoundCallError:
    """The status one call of a Batch ended with: what `rpc_method` would have answered."""
    error, ours = _public(exc, method)
    return node_pb2.RoundCallError(
        code=grpc_code(error).value[0],
        message=error.message,
        reason=error.reason if ours else "",
        party=error.party,
    )


_BY_CODE: dict[int, str] = {code.value[0]: code.name for code in grpc.StatusCode}


def from_call_error(err: node_pb2.RoundCallError, what: str = "") -> errors.MpcError:
    """The MpcError of a Batch call's status, as `from_rpc_error` makes it for a call alone."""
    cls = _BY_STATUS.get(_BY_CODE.get(err.code, "UNKNOWN"), errors.MpcError)
    message = f"{what}: {err.message}" if what else err.message
    return cls(message, party=err.party, reason=err.reason)


def rpc_method(method: _F) -> _F:
    """Decorate a servicer method (unary or server-streaming) to map its errors to statuses."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(context, exc, method.__name__)

        return cast(_F, stream_wrapper)

    @functools.wraps(method)
    async def unary_wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method.__name__)

    return cast(_F, unary_wrapper)


def from_rpc_error(err: grpc.RpcError, what: str = "") -> errors.MpcError:
    """Translate a failed call into the MpcError of its status, keeping the server's message.

    `what` (e.g. "bob") prefixes the message so a reader knows which call failed. A
    connection failure (UNAVAILABLE with no party metadata) is blamed on `what`.
    """
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_STATUS.get(code.name, errors.MpcError)
    party = ""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    # At run time a metadatum is a (key, value) tuple; the stubs call it an object.
    metadata = cast(tuple[tuple[str, Any], ...], trailing or ())
    for key, value in metadata:
        if key == PARTY_METADATA_KEY:
            party = str(value)
    message = f"{what}: {details}" if what else str(details)
    return cls(message, party=party, reason=reason_of(metadata))
