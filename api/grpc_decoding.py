"""Requests whose bytes do not decode (invalid UTF-8 in a string, truncated fields,
nesting past protobuf's depth limit) answer INVALID_ARGUMENT, not UNKNOWN with the
parser's internal text. grpc decodes before any servicer runs, so this wraps the
method handlers: the deserializer hands over a marker, and the handler refuses it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.message import DecodeError

_REFUSAL = "the request is not a valid protobuf message for this method"


class _Undecodable:
    __slots__ = ()


_UNDECODABLE = _Undecodable()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _UNDECODABLE

    return decode


# Wraps every method, so requests and responses are whatever message that method takes.
# Only the type stubs make these generic; grpc's own classes are not subscriptable.
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]
    # grpc-stubs describe the synchronous server's behaviours; grpc.aio's are coroutines
    # and async generators.
    AioUnaryUnary = Callable[[Any, Context], Awaitable[Any]]
    AioUnaryStream = Callable[[Any, Context], AsyncIterator[Any]]
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    Interceptor = grpc.aio.ServerInterceptor


class RefuseUndecodableRequests(Interceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        if handler.unary_unary is not None:
            unary = cast("AioUnaryUnary", handler.unary_unary)

            async def unary_call(request: Any, context: Context) -> Any:
                if request is _UNDECODABLE:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _REFUSAL)
                return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_call,
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        # Not request-streaming and not unary-unary: unary-stream.
        streaming = cast("AioUnaryStream", handler.unary_stream)

        async def stream_call(request: Any, context: Context) -> AsyncIterator[Any]:
            if request is _UNDECODABLE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _REFUSAL)
            async for reply in streaming(request, context):
                yield reply

        return grpc.unary_stream_rpc_method_handler(
            stream_call,
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
