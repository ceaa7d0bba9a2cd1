"""The workflow runner's only line to the server, over gRPC: status updates, the chain
instance → workflow, workflows by reference (RUN), agents by reference and agent
executions (AGENT_CALL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2, query_pb2_grpc as agent_query_grpc
from ai.stigmer.agentic.agentexecution.v1 import (
    api_pb2 as agent_execution_pb2,
    command_pb2_grpc as agent_execution_command_grpc,
)
from ai.stigmer.agentic.environment.v1 import (
    api_pb2 as environment_pb2,
    query_pb2_grpc as environment_query_grpc,
)
from ai.stigmer.agentic.workflow.v1 import (
    api_pb2 as workflow_pb2,
    io_pb2 as workflow_io_pb2,
    query_pb2_grpc as workflow_query_grpc,
)
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2 as execution_pb2,
    command_pb2 as execution_command_pb2,
    command_pb2_grpc as execution_command_grpc,
)
from ai.stigmer.agentic.workflowinstance.v1 import (
    api_pb2 as instance_pb2,
    io_pb2 as instance_io_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2, io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2
from infra.grpc_channel import bearer_metadata, service_channel

Answer = TypeVar("Answer", bound=Message)

CALL_TIMEOUT_SECONDS = 10.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# The answers that mean "the execution already ended, or is gone": nothing left to report.
ENDED = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


class StatusSender(Protocol):
    """Where a run's progress goes: one `WorkflowExecutionStatus` per call."""

    async def send(self, execution_id: str, status: execution_pb2.WorkflowExecutionStatus) -> None:
        """Deliver one status update; an execution that already ended is not an error."""


class ServiceClient:
    def __init__(self, target: str, api_key: str = "") -> None:
        self._channel = service_channel(target, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES)
        self._metadata = bearer_metadata(api_key)
        self._executions = execution_command_grpc.WorkflowExecutionCommandControllerStub(self._channel)
        self._instances = instance_query_grpc.WorkflowInstanceQueryControllerStub(self._channel)
        self._workflows = workflow_query_grpc.WorkflowQueryControllerStub(self._channel)
        self._agents = agent_query_grpc.AgentQueryControllerStub(self._channel)
        self._environments = environment_query_grpc.EnvironmentQueryControllerStub(self._channel)
        self._agent_executions = agent_execution_command_grpc.AgentExecutionCommandControllerStub(self._channel)

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def update_status(self, execution_id: str, status: execution_pb2.WorkflowExecutionStatus) -> None:
        await self._executions.updateStatus(
            execution_command_pb2.WorkflowExecutionUpdateStatusInput(execution_id=execution_id, status=status),
            metadata=self._metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

    async def get_instance(self, instance_id: str) -> instance_pb2.WorkflowInstance:
        request = instance_io_pb2.WorkflowInstanceId(value=instance_id)
        return await self._call(self._instances.get, request, instance_pb2.WorkflowInstance)

    async def get_workflow(self, workflow_id: str) -> workflow_pb2.Workflow:
        return await self._call(self._workflows.get, workflow_io_pb2.WorkflowId(value=workflow_id), workflow_pb2.Workflow)

    async def get_workflow_by_slug(self, slug: str, org: str) -> workflow_pb2.Workflow:
        reference = _reference(slug, org, api_resource_kind_pb2.workflow, resource_enum_pb2.organization)
        return await self._call(self._workflows.getByReference, reference, workflow_pb2.Workflow)

    async def get_environment(self, reference: resource_io_pb2.ApiResourceReference) -> environment_pb2.Environment:
        return await self._call(self._environments.getByReference, reference, environment_pb2.Environment)

    async def get_agent_by_slug(self, slug: str, org: str, scope: int) -> agent_pb2.Agent:
        reference = _reference(slug, org, api_resource_kind_pb2.agent, scope)
        return await self._call(self._agents.getByReference, reference, agent_pb2.Agent)

    async def create_agent_execution(
        self, execution: agent_execution_pb2.AgentExecution
    ) -> agent_execution_pb2.AgentExecution:
        return await self._call(self._agent_executions.create, execution, agent_execution_pb2.AgentExecution)

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Message, answer: type[Answer]) -> Answer:
        """One unary call with the runner's key and the call timeout; its reply is an `answer`."""
        reply: Answer = await method(request, metadata=self._metadata, timeout=CALL_TIMEOUT_SECONDS)
        return reply


class GrpcStatusSender:
    """`updateStatus` on the server; an execution that ended (cancelled meanwhile) or was
    deleted takes nothing more, and that is not an error."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def send(self, execution_id: str, status: execution_pb2.WorkflowExecutionStatus) -> None:
        try:
            await self._client.update_status(execution_id, status)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in ENDED:
                raise


def _reference(slug: str, org: str, kind: int, scope: int) -> resource_io_pb2.ApiResourceReference:
    if scope == resource_enum_pb2.api_resource_owner_scope_unspecified:
        scope = resource_enum_pb2.organization
    return resource_io_pb2.ApiResourceReference(
        scope=scope, org=org if scope == resource_enum_pb2.organization else "", kind=kind, slug=slug  # type: ignore[arg-type]
    )
