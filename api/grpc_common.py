"""What every gRPC servicer here shares: the call context's type, `unary`, which maps
the service's errors to status codes once and records each call's metrics, the methods
of a controller that only hand the request to its use case (`WriteMethods`,
`ReadMethods`), and `register`, which adds a group of controllers to a server."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from domain.errors import ServiceError, Unavailable
from infra import metrics

if TYPE_CHECKING:
    from api.grpc_decoding import Handler

# The context of a call to any servicer (api/grpc_server.py, api/grpc_resources.py,
# api/grpc_catalog.py, api/grpc_workflows.py).
GrpcContext = grpc.aio.ServicerContext[Message, Message]
Servicer = TypeVar("Servicer")
Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)
Resource = TypeVar("Resource", bound=Message)
Read = TypeVar("Read", bound=Message, covariant=True)


def grpc_status(exc: ServiceError) -> grpc.StatusCode:
    """Domain error codes are the gRPC canonical names (domain/errors.py)."""
    return grpc.StatusCode[exc.code.upper()]


def deny(exc: ServiceError) -> Handler:
    """A handler that answers every call with `exc` (an interceptor's refusal)."""

    async def abort(request: Message, context: GrpcContext) -> None:
        await context.abort(grpc_status(exc), exc.message)

    return grpc.unary_unary_rpc_method_handler(abort)


def unary(
    method: Callable[[Servicer, Request, GrpcContext], Awaitable[Response]],
) -> Callable[[Servicer, Request, GrpcContext], Coroutine[Any, Any, Response]]:
    """Maps domain errors to status codes once, and records metrics. A backing service
    away for a moment, or every storage connection busy, is UNAVAILABLE, which callers
    retry with backoff; with a `retry-after` trailer when the error names one."""

    @functools.wraps(method)
    async def wrapper(self: Servicer, request: Request, context: GrpcContext) -> Response:
        started = time.perf_counter()
        code = "OK"
        try:
            return await method(self, request, context)
        except ServiceError as exc:
            code = exc.code.upper()
            if isinstance(exc, Unavailable) and exc.retry_after_seconds is not None:
                context.set_trailing_metadata((("retry-after", str(exc.retry_after_seconds)),))
            await context.abort(grpc_status(exc), exc.message)
        finally:
            metrics.GRPC_REQUESTS.labels(method=method.__name__, code=code).inc()
            metrics.GRPC_LATENCY.labels(method=method.__name__).observe(time.perf_counter() - started)

    return wrapper


class Writes(Protocol[Resource]):
    """A use case that applies, creates, updates and deletes one kind of resource."""

    async def apply(self, request: Resource, /) -> Resource: ...
    async def create(self, request: Resource, /) -> Resource: ...
    async def update(self, request: Resource, /) -> Resource: ...
    async def delete(self, resource_id: str, /) -> Resource: ...


class Reads(Protocol[Read]):
    """A use case that reads one kind of resource by id and by reference."""

    async def get(self, resource_id: str, /) -> Read: ...
    async def get_by_reference(self, ref: resource_io_pb2.ApiResourceReference, /) -> Read: ...


class WriteMethods(Generic[Resource]):
    """`apply`, `create` and `update` of a command controller (put it before the generated
    servicer among the bases); `delete` stays the controller's, its id message its own."""

    def __init__(self, service: Writes[Resource]) -> None:
        self._service = service

    @unary
    async def apply(self, request: Resource, context: GrpcContext) -> Resource:
        return await self._service.apply(request)

    @unary
    async def create(self, request: Resource, context: GrpcContext) -> Resource:
        return await self._service.create(request)

    @unary
    async def update(self, request: Resource, context: GrpcContext) -> Resource:
        return await self._service.update(request)


class ReadMethods(Generic[Resource]):
    """`getByReference` of a query controller (before the generated servicer among the
    bases); `get` stays the controller's, its id message its own."""

    def __init__(self, service: Reads[Resource]) -> None:
        self._service = service

    @unary
    async def getByReference(self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext) -> Resource:
        return await self._service.get_by_reference(request)


# A controller to register: the module of its messages, its service name, the module of
# its generated `add_<service>Servicer_to_server`, and the servicer.
Registration = tuple[ModuleType, str, ModuleType, object]


def register(server: grpc.aio.Server, registrations: Iterable[Registration]) -> tuple[str, ...]:
    """Add each servicer to `server`; returns their full service names (for health, reflection)."""
    names = []
    for module, service, grpc_module, servicer in registrations:
        getattr(grpc_module, f"add_{service}Servicer_to_server")(servicer, server)
        names.append(module.DESCRIPTOR.services_by_name[service].full_name)
    return tuple(names)
