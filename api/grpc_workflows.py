"""gRPC servicers of Stigmer's workflow, workflow-instance and workflow-execution controllers.

Thin: each method calls application/workflows.py or application/workflow_executions.py; errors map to
status codes in `unary` (api/grpc_common.py). Replies never carry callback tokens or secret values.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc

from ai.stigmer.agentic.workflow.v1 import (
    api_pb2 as workflow_pb2,
    command_pb2 as workflow_command_pb2,
    command_pb2_grpc as workflow_command_grpc,
    io_pb2 as workflow_io_pb2,
    query_pb2 as workflow_query_pb2,
    query_pb2_grpc as workflow_query_grpc,
)
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2 as execution_pb2,
    command_pb2 as execution_command_pb2,
    command_pb2_grpc as execution_command_grpc,
    io_pb2 as execution_io_pb2,
    query_pb2 as execution_query_pb2,
    query_pb2_grpc as execution_query_grpc,
)
from ai.stigmer.agentic.workflowinstance.v1 import (
    api_pb2 as instance_pb2,
    command_pb2 as instance_command_pb2,
    command_pb2_grpc as instance_command_grpc,
    io_pb2 as instance_io_pb2,
    query_pb2 as instance_query_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.grpc_common import GrpcContext, grpc_status, register, unary
from application.executions import WatchEnd
from application.workflow_executions import WorkflowExecutionService
from application.workflows import WorkflowService
from domain.convert import body_to_workflow_execution, public_workflow_execution as public
from domain.errors import InvalidArgument, NotFound, ServiceError
from domain.limits import parse_version
from domain.pages import Page
from domain.workflow_execution_rules import PHASE_NAMES


class WorkflowCommandServicer(workflow_command_grpc.WorkflowCommandControllerServicer):
    def __init__(self, workflows: WorkflowService) -> None:
        self._workflows = workflows

    @unary
    async def apply(self, request: workflow_pb2.Workflow, context: GrpcContext) -> workflow_pb2.Workflow:
        return await self._workflows.apply_workflow(request)

    @unary
    async def create(self, request: workflow_pb2.Workflow, context: GrpcContext) -> workflow_pb2.Workflow:
        return await self._workflows.create_workflow(request)

    @unary
    async def update(self, request: workflow_pb2.Workflow, context: GrpcContext) -> workflow_pb2.Workflow:
        return await self._workflows.update_workflow(request)

    @unary
    async def delete(self, request: workflow_io_pb2.WorkflowId, context: GrpcContext) -> workflow_pb2.Workflow:
        return await self._workflows.delete_workflow(request.value)


class WorkflowQueryServicer(workflow_query_grpc.WorkflowQueryControllerServicer):
    def __init__(self, workflows: WorkflowService) -> None:
        self._workflows = workflows

    @unary
    async def get(self, request: workflow_io_pb2.WorkflowId, context: GrpcContext) -> workflow_pb2.Workflow:
        return await self._workflows.get_workflow(request.value)

    @unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext
    ) -> workflow_pb2.Workflow:
        return await self._workflows.get_workflow_by_reference(request)


class WorkflowInstanceCommandServicer(instance_command_grpc.WorkflowInstanceCommandControllerServicer):
    def __init__(self, workflows: WorkflowService) -> None:
        self._workflows = workflows

    @unary
    async def apply(self, request: instance_pb2.WorkflowInstance, context: GrpcContext) -> instance_pb2.WorkflowInstance:
        return await self._workflows.apply_instance(request)

    @unary
    async def create(self, request: instance_pb2.WorkflowInstance, context: GrpcContext) -> instance_pb2.WorkflowInstance:
        return await self._workflows.create_instance(request)

    @unary
    async def update(self, request: instance_pb2.WorkflowInstance, context: GrpcContext) -> instance_pb2.WorkflowInstance:
        return await self._workflows.update_instance(request)

    @unary
    async def delete(
        self, request: instance_io_pb2.WorkflowInstanceId, context: GrpcContext
    ) -> instance_pb2.WorkflowInstance:
        return await self._workflows.delete_instance(request.value)


class WorkflowInstanceQueryServicer(instance_query_grpc.WorkflowInstanceQueryControllerServicer):
    def __init__(self, workflows: WorkflowService) -> None:
        self._workflows = workflows

    @unary
    async def get(self, request: instance_io_pb2.WorkflowInstanceId, context: GrpcContext) -> instance_pb2.WorkflowInstance:
        return await self._workflows.get_instance(request.value)

    @unary
    async def getByWorkflow(
        self, request: instance_io_pb2.GetWorkflowInstancesByWorkflowRequest, context: GrpcContext
    ) -> instance_io_pb2.WorkflowInstanceList:
        return await self._workflows.instances_of_workflow(request)

    @unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext
    ) -> instance_pb2.WorkflowInstance:
        return await self._workflows.get_instance_by_reference(request)


class WorkflowExecutionCommandServicer(execution_command_grpc.WorkflowExecutionCommandControllerServicer):
    def __init__(self, executions: WorkflowExecutionService) -> None:
        self._executions = executions

    @unary
    async def create(self, request: execution_pb2.WorkflowExecution, context: GrpcContext) -> execution_pb2.WorkflowExecution:
        return public(await self._executions.create(request))

    @unary
    async def update(self, request: execution_pb2.WorkflowExecution, context: GrpcContext) -> execution_pb2.WorkflowExecution:
        return public(await self._executions.update(request))

    @unary
    async def updateStatus(
        self, request: execution_command_pb2.WorkflowExecutionUpdateStatusInput, context: GrpcContext
    ) -> execution_pb2.WorkflowExecution:
        status = request.status if request.HasField("status") else None
        return public(await self._executions.update_status(request.execution_id, status, request.sequence))

    @unary
    async def delete(self, request: resource_io_pb2.ApiResourceId, context: GrpcContext) -> execution_pb2.WorkflowExecution:
        return public(await self._executions.delete(request.value))


class WorkflowExecutionQueryServicer(execution_query_grpc.WorkflowExecutionQueryControllerServicer):
    def __init__(self, executions: WorkflowExecutionService) -> None:
        self._executions = executions

    @unary
    async def get(
        self, request: execution_io_pb2.WorkflowExecutionId, context: GrpcContext
    ) -> execution_pb2.WorkflowExecution:
        return public(await self._executions.get(request.value))

    @unary
    async def list(
        self, request: execution_io_pb2.ListWorkflowExecutionsRequest, context: GrpcContext
    ) -> execution_io_pb2.WorkflowExecutionList:
        # An undefined number stays a number, so the service refuses it.
        phase = PHASE_NAMES.get(request.phase, str(request.phase)) if request.phase else ""
        page = await self._executions.list(phase=phase, page_size=request.page_size, page_token=request.page_token)
        return _to_list(page)

    @unary
    async def listByWorkflow(
        self, request: execution_io_pb2.ListWorkflowExecutionsByWorkflowRequest, context: GrpcContext
    ) -> execution_io_pb2.WorkflowExecutionList:
        if not request.workflow_id:
            raise InvalidArgument("workflow_id is required")
        page = await self._executions.list(
            workflow_id=request.workflow_id, page_size=request.page_size, page_token=request.page_token
        )
        return _to_list(page)

    async def subscribe(
        self, request: execution_io_pb2.SubscribeWorkflowExecutionRequest, context: GrpcContext
    ) -> AsyncIterator[execution_pb2.WorkflowExecution]:
        """The current state, then newer stored states (conflated), until a terminal one
        (then the call ends OK), also when the execution had already ended. An execution
        deleted while watched ends the call with NOT_FOUND."""
        try:
            after = parse_version(dict(context.invocation_metadata() or ()).get("last-event-id"), "last-event-id")
            watch = self._executions.watch(request.execution_id, after_version=after)
            async with contextlib.aclosing(watch) as items:
                async for item in items:
                    if isinstance(item, WatchEnd):
                        if item.deleted:
                            raise NotFound(f"workflow execution {request.execution_id!r} was deleted")
                        return
                    if item is not None:
                        yield body_to_workflow_execution(item.body)
        except ServiceError as exc:
            await context.abort(grpc_status(exc), exc.message)


def _to_list(page: Page[execution_pb2.WorkflowExecution]) -> execution_io_pb2.WorkflowExecutionList:
    return execution_io_pb2.WorkflowExecutionList(
        total_pages=page.total_pages,
        entries=[public(e) for e in page.entries],
        next_page_token=page.next_page_token,
    )


def add_workflow_servicers(
    workflows: WorkflowService, executions: WorkflowExecutionService, server: grpc.aio.Server
) -> tuple[str, ...]:
    """Register the six controllers; returns their full service names (for health, reflection)."""
    return register(server, (
        (workflow_command_pb2, "WorkflowCommandController", workflow_command_grpc, WorkflowCommandServicer(workflows)),
        (workflow_query_pb2, "WorkflowQueryController", workflow_query_grpc, WorkflowQueryServicer(workflows)),
        (instance_command_pb2, "WorkflowInstanceCommandController", instance_command_grpc,
         WorkflowInstanceCommandServicer(workflows)),
        (instance_query_pb2, "WorkflowInstanceQueryController", instance_query_grpc,
         WorkflowInstanceQueryServicer(workflows)),
        (execution_command_pb2, "WorkflowExecutionCommandController", execution_command_grpc,
         WorkflowExecutionCommandServicer(executions)),
        (execution_query_pb2, "WorkflowExecutionQueryController", execution_query_grpc,
         WorkflowExecutionQueryServicer(executions)),
    ))
