"""Request size per method: most requests fit 16 MiB, a skill push carries a ZIP of up
to 100 MB. grpc bounds every message by one server-wide limit (set to the largest);
this interceptor refuses a request over its method's own limit with RESOURCE_EXHAUSTED
before it is decoded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import grpc

from api.grpc_decoding import Interceptor

if TYPE_CHECKING:
    from api.grpc_decoding import AioUnaryUnary, Context, Handler


class _TooLarge:
    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class LimitRequestBytes(Interceptor):
    def __init__(self, default_limit: int, limits: Mapping[str, int]) -> None:
        self._default = default_limit
        self._limits = dict(limits)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.unary_unary is None:
            return handler  # streams take small requests; the server-wide limit holds them
        limit = self._limits.get(handler_call_details.method, self._default)
        deserialize = handler.request_deserializer
        unary = cast("AioUnaryUnary", handler.unary_unary)

        def decode(data: bytes) -> Any:
            if len(data) > limit:
                return _TooLarge(len(data))
            return deserialize(data) if deserialize is not None else data

        async def unary_call(request: Any, context: Context) -> Any:
            if isinstance(request, _TooLarge):
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"request is {request.size} bytes; this method takes at most {limit}",
                )
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_call, request_deserializer=decode, response_serializer=handler.response_serializer
        )
