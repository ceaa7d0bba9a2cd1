"""The whole stack with a stand-in workflow runner (tests/utils/workflow_runner.py), for
the workflow domain's end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from temporalio.client import Client

from ai.stigmer.agentic.workflow.v1 import command_pb2_grpc as workflow_command_grpc
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2,
    command_pb2_grpc,
    enum_pb2,
    io_pb2,
    query_pb2_grpc,
)
from application.workflows import WorkflowService
from devtools.embedded import ServiceEndpoints
from infra.temporal import connect_temporal
from tests.utils.stack import Stack, running_stack, stack_settings
from tests.utils.workflow_runner import StandInRunner, stand_in_runner

TERMINAL = {enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED}


@dataclass
class WorkflowStack:
    stack: Stack
    runner: StandInRunner
    temporal: Client
    workflows: workflow_command_grpc.WorkflowCommandControllerStub
    commands: command_pb2_grpc.WorkflowExecutionCommandControllerStub
    queries: query_pb2_grpc.WorkflowExecutionQueryControllerStub

    @property
    def service(self) -> WorkflowService:
        return self.stack.context.workflows


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


@asynccontextmanager
async def running_workflow_stack(services: ServiceEndpoints) -> AsyncIterator[WorkflowStack]:
    """The whole stack, a stand-in workflow runner on queues of its own, and gRPC stubs."""
    suffix = uuid.uuid4().hex[:8]
    settings = stack_settings(
        services,
        workflow_execution_task_queue=f"wfx-{suffix}",
        workflow_execution_runner_task_queue=f"wfx-runner-{suffix}",
        workflow_validation_task_queue=f"wfv-{suffix}",
        workflow_validation_runner_task_queue=f"wfv-runner-{suffix}",
    )
    async with running_stack(settings) as stack:
        temporal = await connect_temporal(stack.settings)
        async with stand_in_runner(
            temporal, stack.grpc_target,
            execution_queue=settings.workflow_execution_runner_task_queue,
            validation_queue=settings.workflow_validation_runner_task_queue,
            agent_call_queue=f"agent-call-{suffix}",
        ) as runner:
            channel = grpc.aio.insecure_channel(stack.grpc_target)
            yield WorkflowStack(
                stack, runner, temporal,
                workflow_command_grpc.WorkflowCommandControllerStub(channel),
                command_pb2_grpc.WorkflowExecutionCommandControllerStub(channel),
                query_pb2_grpc.WorkflowExecutionQueryControllerStub(channel),
            )
            await channel.close()


async def until_ended(wf: WorkflowStack, execution_id: str) -> api_pb2.WorkflowExecution:
    """The last state a gRPC subscribe streams: it ends on the terminal phase."""
    last = None
    async for state in wf.queries.subscribe(io_pb2.SubscribeWorkflowExecutionRequest(execution_id=execution_id),
                                            timeout=60):
        last = state
    assert last is not None and last.status.phase in TERMINAL, last
    return last
