"""Our workflow runner against our server: the drop-in contract end to end (validation
through the runner, an execution whose tasks merge, an agent call completed through the
callback by the real agent runner)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.workflow.v1 import command_pb2_grpc as workflow_command_grpc
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2,
    command_pb2_grpc,
    enum_pb2,
    io_pb2,
    query_pb2_grpc,
)
from devtools.embedded import ServiceEndpoints
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from infra.temporal import connect_temporal
from tests.utils.stack import running_stack, stack_settings
from tests.utils.wf_stand_in import HttpEndpoint
from tests.utils.workflow_docs import task, workflow
from tests.utils.workflow_stack import TERMINAL
from wfrunner.hosts import HostPolicy, http_client
from wfrunner.service_client import GrpcStatusSender, ServiceClient
from wfrunner.settings import WorkflowRunnerSettings
from wfrunner.worker import build_workers


@contextlib.asynccontextmanager
async def our_runner(settings, grpc_target: str) -> AsyncIterator[None]:
    runner_settings = WorkflowRunnerSettings(
        temporal_address=settings.temporal_address, server_grpc_target=grpc_target,
        runner_api_key=settings.runner_api_key,
        workflow_execution_runner_task_queue=settings.workflow_execution_runner_task_queue,
        workflow_validation_runner_task_queue=settings.workflow_validation_runner_task_queue,
        workflow_document_task_queue=f"docs-{uuid.uuid4().hex[:6]}", workflow_http_hosts="127.0.0.1",
    )
    client = await connect_temporal(runner_settings)
    service = ServiceClient(grpc_target, runner_settings.runner_key())
    hosts = HostPolicy(runner_settings.workflow_http_hosts)
    async with http_client(hosts) as http, contextlib.AsyncExitStack() as workers:
        for worker in build_workers(client, runner_settings, service, GrpcStatusSender(service), http, hosts):
            await workers.enter_async_context(worker)
        yield
    await service.close()


async def test_a_document_runs_on_our_server_with_our_runner(services: ServiceEndpoints) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = stack_settings(
        services,
        workflow_execution_task_queue=f"wfx-{suffix}", workflow_execution_runner_task_queue=f"wfx-runner-{suffix}",
        workflow_validation_task_queue=f"wfv-{suffix}", workflow_validation_runner_task_queue=f"wfv-runner-{suffix}",
    )
    async with running_stack(settings) as stack, HttpEndpoint().serving() as endpoint, \
            our_runner(stack.settings, stack.grpc_target):
        channel = grpc.aio.insecure_channel(stack.grpc_target)
        workflows = workflow_command_grpc.WorkflowCommandControllerStub(channel)
        commands = command_pb2_grpc.WorkflowExecutionCommandControllerStub(channel)
        queries = query_pb2_grpc.WorkflowExecutionQueryControllerStub(channel)
        agent = Agent()
        agent.metadata.name = f"helper-{suffix}"
        agent.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
        agent.spec.instructions = "You answer questions briefly."
        stored_agent = await stack.context.service.resources.agents.create(agent)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await workflows.create(workflow(f"bad-{suffix}", task("a", "SET", {"variables": {"x": "${ .a + }"}})))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "expression '.a +' does not compile" in refused.value.details()

        created = await workflows.create(workflow(
            f"tour-{suffix}",
            task("prepare", "SET", {"variables": {"city": "${ .city }"}}),
            task("route", "SWITCH", {"cases": [{"name": "default", "then": "fetch"}]}),
            task("fetch", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{endpoint.base_url}/hotels"}}),
            task("ask", "AGENT_CALL", {"agent": stored_agent.metadata.slug,
                                       "message": "${ \"Plan a trip to \" + $data.city }"}),
            task("answer", "SET", {"variables": {"plan": "${ . }"}}),
        ))
        request = api_pb2.WorkflowExecution()
        request.spec.workflow_id = created.metadata.id
        request.spec.trigger_message = '{"city": "Lisbon"}'
        execution = await commands.create(request)
        last = None
        async for state in queries.subscribe(io_pb2.SubscribeWorkflowExecutionRequest(
                execution_id=execution.metadata.id), timeout=120):
            last = state
        assert last is not None and last.status.phase in TERMINAL
        assert last.status.phase == enum_pb2.EXECUTION_COMPLETED, last.status.error
        assert [t.task_name for t in last.status.tasks] == ["prepare", "route", "fetch", "ask", "answer"]
        assert all(t.status == enum_pb2.WORKFLOW_TASK_COMPLETED for t in last.status.tasks)
        assert "Plan a trip to Lisbon" in last.status.output["plan"]
        assert endpoint.calls["/hotels"] == 1

        # Cancel through the server's REST API stops the document too.
        slow = await workflows.create(workflow(f"slow-{suffix}", task("nap", "WAIT", {"seconds": 3600})))
        request = api_pb2.WorkflowExecution()
        request.spec.workflow_id = slow.metadata.id
        running = await commands.create(request)
        async for state in queries.subscribe(io_pb2.SubscribeWorkflowExecutionRequest(
                execution_id=running.metadata.id), timeout=60):
            if state.status.tasks:  # inside the long task
                break
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
            assert (await client.post(f"/v1/workflow-executions/{running.metadata.id}/cancel")).status_code == 202
        document = (await connect_temporal(stack.settings)).get_workflow_handle(f"workflow-exec-{running.metadata.id}")
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(document.result(), 60)
        assert (await document.describe()).status == WorkflowExecutionStatus.CANCELED
        await channel.close()
