"""gRPC transport: thin servicers over the service layer, plus health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ai.stigmer.agentic.agentexecution.v1 import (
    api_pb2,
    command_pb2,
    command_pb2_grpc,
    io_pb2,
    patch_pb2,
    query_pb2,
    query_pb2_grpc,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.auth import ApiKeys, authorize_grpc, caller_of
from api.grpc_catalog import add_catalog_servicers
from api.grpc_common import GrpcContext, deny, grpc_status, unary
from api.grpc_decoding import Interceptor, RefuseUndecodableRequests
from api.grpc_limits import LimitRequestBytes
from api.grpc_resources import add_resource_servicers
from api.grpc_workflows import add_workflow_servicers
from application.executions import ExecutionService, WatchEnd
from domain import convert
from domain.errors import InvalidArgument, NotFound, ServiceError
from domain.events import StateEvent
from domain.limits import parse_version
from domain.pages import Page
from domain.skill_archive import MAX_ARCHIVE_BYTES
from infra import metrics

if TYPE_CHECKING:
    from api.grpc_decoding import Handler
    from application.workflow_executions import WorkflowExecutionService
    from application.workflows import WorkflowService

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a whole conversation travels in each status
# A skill's ZIP (up to 100 MB) travels whole in a push and in getArtifact's answer; only
# those two methods take or give more than MAX_MESSAGE_BYTES (api/grpc_limits.py).
MAX_ARTIFACT_MESSAGE_BYTES = MAX_ARCHIVE_BYTES + 1024 * 1024
LARGE_REQUEST_METHODS = {"/ai.stigmer.agentic.skill.v1.SkillCommandController/push": MAX_ARTIFACT_MESSAGE_BYTES}


class AuthInterceptor(Interceptor):
    """Checks the API key and its role on every call except health checks and reflection."""

    _OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, api_keys: ApiKeys) -> None:
        self._api_keys = api_keys

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method
        if not self._api_keys.enabled or method.startswith(self._OPEN):
            return await continuation(handler_call_details)
        header = dict(handler_call_details.invocation_metadata or ()).get("authorization")
        if isinstance(header, bytes):  # only `-bin` keys carry bytes; a key is text
            header = None
        try:
            authorize_grpc(self._api_keys.authenticate(header), method)
        except ServiceError as exc:
            return deny(exc)
        return await continuation(handler_call_details)


class CommandServicer(command_pb2_grpc.AgentExecutionCommandControllerServicer):
    def __init__(self, service: ExecutionService) -> None:
        self._service = service

    @unary
    async def create(self, request: api_pb2.AgentExecution, context: GrpcContext) -> api_pb2.AgentExecution:
        metadata = dict(context.invocation_metadata() or ())
        execution, _ = await self._service.create(
            request, idempotency_key=metadata.get("idempotency-key"), caller=caller_of(metadata.get("authorization"))
        )
        return convert.public_execution(execution)

    @unary
    async def update(self, request: api_pb2.AgentExecution, context: GrpcContext) -> api_pb2.AgentExecution:
        return convert.public_execution(await self._service.update_spec(request))

    @unary
    async def updateStatus(
        self, request: io_pb2.AgentExecutionUpdateStatusInput, context: GrpcContext
    ) -> api_pb2.AgentExecution:
        status = request.status if request.HasField("status") else None
        updated = await self._service.update_status(request.execution_id, status, request.sequence)
        return convert.public_execution(updated)

    @unary
    async def delete(self, request: resource_io_pb2.ApiResourceId, context: GrpcContext) -> api_pb2.AgentExecution:
        return convert.public_execution(await self._service.delete(request.value))

    @unary
    async def applyStatusPatch(
        self, request: patch_pb2.AgentExecutionStatusPatch, context: GrpcContext
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        return await self._service.apply_status_patch(request)

    async def streamStatusPatches(
        self, requests: AsyncIterator[patch_pb2.AgentExecutionStatusPatch], context: GrpcContext
    ) -> AsyncIterator[patch_pb2.AgentExecutionStatusPatchResult]:
        """One run's patches, each answered in order once watchers have it
        (application/live_status.py). However the stream ends, what it published is
        stored before the call is over."""
        execution_id = ""
        code = "OK"
        try:
            async for patch in requests:
                if execution_id and patch.execution_id != execution_id:
                    raise InvalidArgument("a status stream carries the patches of one execution")
                result = await self._service.stream_patch(patch)
                execution_id = patch.execution_id
                yield result
        except ServiceError as exc:
            code = exc.code.upper()
            await context.abort(grpc_status(exc), exc.message)
        finally:
            metrics.GRPC_REQUESTS.labels(method="streamStatusPatches", code=code).inc()
            if execution_id:
                # Shielded: a cancelled call (the runner went away) still stores its run.
                try:
                    await asyncio.shield(self._service.end_stream(execution_id))
                except Exception as exc:  # storage away: the runner resends its whole status
                    log.warning("storing the status stream of %s at its end failed: %s", execution_id, exc)


class QueryServicer(query_pb2_grpc.AgentExecutionQueryControllerServicer):
    def __init__(self, service: ExecutionService) -> None:
        self._service = service

    @unary
    async def get(self, request: io_pb2.AgentExecutionId, context: GrpcContext) -> api_pb2.AgentExecution:
        return convert.public_execution(await self._service.get(request.value))

    @unary
    async def list(self, request: io_pb2.ListAgentExecutionsRequest, context: GrpcContext) -> io_pb2.AgentExecutionList:
        # An undefined number stays a number, so the service refuses it.
        phase = convert.PHASE_NAMES.get(request.phase, str(request.phase)) if request.phase else ""
        page = await self._service.list(
            phase=phase, page_size=request.page_size, page_token=request.page_token
        )
        return _to_list(page)

    @unary
    async def listBySession(
        self, request: io_pb2.ListAgentExecutionsBySessionRequest, context: GrpcContext
    ) -> io_pb2.AgentExecutionList:
        if not request.session_id:
            raise InvalidArgument("session_id is required")
        page = await self._service.list(
            session_id=request.session_id, page_size=request.page_size, page_token=request.page_token
        )
        return _to_list(page)

    async def subscribe(
        self, request: io_pb2.AgentExecutionId, context: GrpcContext
    ) -> AsyncIterator[api_pb2.AgentExecution]:
        """Current state, then newer stored states (whole, conflated: Stigmer's contract),
        until a terminal one (then the call ends OK). An execution deleted while watched
        ends the call with NOT_FOUND."""
        try:
            after = parse_version(dict(context.invocation_metadata() or ()).get("last-event-id"), "last-event-id")
            # Closed on every way out (a cancelled call included), so the hub lets go at once.
            async with contextlib.aclosing(self._service.watch(request.value, after_version=after, states_only=True)) as items:
                async for item in items:
                    if isinstance(item, WatchEnd):
                        if item.deleted:
                            raise NotFound(f"agent execution {request.value!r} was deleted")
                        return
                    if isinstance(item, StateEvent):  # states only were asked for
                        yield convert.public_execution(convert.body_to_execution(item.body))
        except ServiceError as exc:
            await context.abort(grpc_status(exc), exc.message)


def _to_list(page: Page[api_pb2.AgentExecution]) -> io_pb2.AgentExecutionList:
    return io_pb2.AgentExecutionList(
        total_pages=page.total_pages,
        entries=[convert.public_execution(e) for e in page.entries],
        next_page_token=page.next_page_token,
    )


async def start_grpc_server(
    service: ExecutionService, *, host: str, port: int, api_keys: ApiKeys,
    workflow_domain: tuple[WorkflowService, WorkflowExecutionService] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving; returns the server and the bound port (port 0 picks a free one).
    `workflow_domain` adds the workflow, instance and execution controllers."""
    server = grpc.aio.server(
        interceptors=[
            AuthInterceptor(api_keys),
            RefuseUndecodableRequests(),
            LimitRequestBytes(MAX_MESSAGE_BYTES, LARGE_REQUEST_METHODS),
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_ARTIFACT_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_ARTIFACT_MESSAGE_BYTES),
            # A second server on a busy port must fail, not silently share it.
            ("grpc.so_reuseport", 0),
        ],
    )
    command_pb2_grpc.add_AgentExecutionCommandControllerServicer_to_server(CommandServicer(service), server)
    query_pb2_grpc.add_AgentExecutionQueryControllerServicer_to_server(QueryServicer(service), server)
    resource_services = (
        *add_resource_servicers(service.resources, server),
        *add_catalog_servicers(service, server, api_keys),
    )
    if workflow_domain is not None:
        resource_services = (*resource_services, *add_workflow_servicers(*workflow_domain, server))
    # grpc-stubs describe only the synchronous health servicer, not its grpc.aio twin.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (
        command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"].full_name,
        query_pb2.DESCRIPTOR.services_by_name["AgentExecutionQueryController"].full_name,
        *resource_services,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(services, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in (*services[:2 + len(resource_services)], ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound
