"""Requests whose bytes are not the message they claim to be: INVALID_ARGUMENT, at the edge.

gRPC decodes a request before any servicer code runs, so a decoding failure never reaches
`mpcnode.rpc.status.rpc_method`: left alone, grpc.aio answers a unary call with UNKNOWN and
the protobuf exception's class name, and a stream with INTERNAL (after `rpc_method` logs the
DecodeError as an incident with its traceback). Both blame the server for the caller's bytes.

`MalformedRequests` is a server interceptor, installed by `mpcnode.rpc.server.serve` for both
daemons, that wraps each method handler once: its request deserializer turns a DecodeError
into a `_Malformed` marker instead of raising, and its behaviour aborts with INVALID_ARGUMENT
("malformed request: the bytes are not a valid mpc.v1.PrepareRequest") when it meets one, for
the request of a unary call or any message of a request stream. The log gets one INFO line
(method and peer, never the bytes); the caller learns only the message type it should have
sent, which the public .proto already says.

The check runs before the servicer's identity check, so a caller with a federation
certificate but the wrong role learns that its garbage is garbage before it learns that it
may not call: nothing that is not public.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from mpcnode.errors import InvalidInput
from mpcnode.rpc.status import grpc_code

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]


@dataclass(frozen=True)
class _Malformed:
    """Stands in for a request whose bytes did not decode as `type_name`."""

    type_name: str


def _type_name(deserializer: Callable[[bytes], Any], method: str) -> str:
    """The full protobuf name a deserializer parses (`Message.FromString`), else the method."""
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else f"request of {method}"


def _tolerant(deserializer: Callable[[bytes], Any], type_name: str) -> Callable[[bytes], Any]:
    malformed = _Malformed(type_name)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return malformed

    return deserialize


async def _refuse(context: Context, method: str, request: _Malformed) -> None:
    """Abort the call with INVALID_ARGUMENT naming the expected message type (raises)."""
    log.info("refused a malformed %s on %s from %s", request.type_name, method, context.peer())
    error = InvalidInput(f"malformed request: the bytes are not a valid {request.type_name}")
    await context.abort(grpc_code(error), error.message)


def _checked_stream(
    requests: AsyncIterator[Any], context: Context, method: str
) -> AsyncIterator[Any]:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, _Malformed):
                await _refuse(context, method, request)
            yield request

    return checked()


def _guard_unary_request(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    # grpc.aio tells a server-streaming async generator from a coroutine that writes through
    # the context by inspecting the behaviour, so the wrapper must be of the same kind.
    if inspect.isasyncgenfunction(behavior):

        async def stream_out(request: Any, context: Context) -> AsyncIterator[Any]:
            if isinstance(request, _Malformed):
                await _refuse(context, method, request)
            async for response in behavior(request, context):
                yield response

        return stream_out

    async def single_out(request: Any, context: Context) -> Any:
        if isinstance(request, _Malformed):
            await _refuse(context, method, request)
        return await behavior(request, context)

    return single_out


def _guard_request_stream(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream_out(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async for response in behavior(_checked_stream(requests, context, method), context):
                yield response

        return stream_out

    async def single_out(requests: AsyncIterator[Any], context: Context) -> Any:
        return await behavior(_checked_stream(requests, context, method), context)

    return single_out


def guard_handler(handler: Any, method: str) -> Any:
    """`handler` (a grpc.RpcMethodHandler) with malformed requests refused as INVALID_ARGUMENT.

    A handler without a deserializer (raw bytes) is returned unchanged: nothing to decode.
    """
    deserializer = handler.request_deserializer
    if deserializer is None:
        return handler
    tolerant = _tolerant(deserializer, _type_name(deserializer, method))
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        behavior = _guard_request_stream(handler.stream_stream, method)
        return grpc.stream_stream_rpc_method_handler(behavior, tolerant, serializer)
    if handler.request_streaming:
        behavior = _guard_request_stream(handler.stream_unary, method)
        return grpc.stream_unary_rpc_method_handler(behavior, tolerant, serializer)
    if handler.response_streaming:
        behavior = _guard_unary_request(handler.unary_stream, method)
        return grpc.unary_stream_rpc_method_handler(behavior, tolerant, serializer)
    behavior = _guard_unary_request(handler.unary_unary, method)
    return grpc.unary_unary_rpc_method_handler(behavior, tolerant, serializer)


# The stubs make ServerInterceptor generic; at run time it is not, so it cannot be subscripted.
class MalformedRequests(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Server interceptor: every method's undecodable request becomes INVALID_ARGUMENT.

    Handlers are wrapped once per method and cached: the servicers registered at start-up
    are fixed for the life of the server.
    """

    def __init__(self) -> None:
        self._guarded: dict[str, Any] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        """The method's handler, wrapped (None, as gRPC expects, for an unknown method)."""
        method = handler_call_details.method
        guarded = self._guarded.get(method)
        if guarded is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            guarded = self._guarded[method] = guard_handler(handler, method)
        return guarded
