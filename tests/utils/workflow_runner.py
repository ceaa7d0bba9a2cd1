"""A stand-in workflow runner: Stigmer's side of the workflow contract, played by a
Temporal worker of our own, so the server's half is tested against the contract itself.

Like Stigmer's Go runner it registers `ExecuteWorkflow` (execution queue) and
`validateWorkflow` (validation queue), decodes their payloads strictly with Stigmer's
descriptors (an unknown field fails the activity, as protojson does), resolves
instance → workflow over gRPC, and reports progress through `updateStatus`: IN_PROGRESS,
then each task once before and once after it runs (one task per call), then the final
phase. It "runs" tasks as far as tests need:

* SET: its output is its variables; WAIT: waits, heartbeating (so a cancel reaches it);
* RAISE: the task and the execution fail with its message;
* AGENT_CALL: a workflow of its own calls an activity that creates an agent execution
  with `callback_token` = that activity's task token and completes asynchronously; the
  server's `stigmer/system/complete-external-activity` completes it with the agent
  execution, whose id and phase become the task's output;
* anything else completes with no output.

Validation: a document whose namespace is `invalid` is INVALID; everything else VALID.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RawValue, RetryPolicy
from temporalio.worker import Worker

from ai.stigmer.agentic.agent.v1 import query_pb2_grpc as agent_query_grpc
from ai.stigmer.agentic.agentexecution.v1 import (
    api_pb2 as agent_execution_pb2,
    command_pb2_grpc as agent_command_grpc,
)
from ai.stigmer.agentic.workflow.v1 import (
    io_pb2 as workflow_io_pb2,
    query_pb2_grpc as workflow_query_grpc,
    spec_pb2,
)
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflow.v1.tasks import agent_call_pb2
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2 as execution_pb2,
    command_pb2 as execution_command_pb2,
    command_pb2_grpc as execution_command_grpc,
    enum_pb2,
)
from ai.stigmer.agentic.workflowinstance.v1 import (
    io_pb2 as instance_io_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from domain.workflow_rules import task_config
from domain.workflow_runner_contract import EXECUTE_WORKFLOW_ACTIVITY, VALIDATE_ACTIVITY

AGENT_CALL_WORKFLOW = "StandInAgentCall"
CALL_AGENT_ACTIVITY = "StandInCallAgent"


def strict_decode(value: RawValue, message: Message) -> Message:
    """A payload as Stigmer's Go workers read it: protobuf JSON of exactly this message
    type, unknown fields refused."""
    payload = value.payload
    encoding = payload.metadata.get("encoding", b"")
    assert encoding == b"json/protobuf", encoding
    assert payload.metadata.get("messageType", b"").decode() == message.DESCRIPTOR.full_name
    return json_format.Parse(payload.data, message, ignore_unknown_fields=False)


@dataclass
class Seen:
    """What the stand-in received, for tests to look at."""

    executions: list[execution_pb2.WorkflowExecution] = field(default_factory=list)
    validations: list[spec_pb2.WorkflowSpec] = field(default_factory=list)
    updates: list[execution_pb2.WorkflowExecutionStatus] = field(default_factory=list)


class StandInRunner:
    def __init__(self, temporal: Client, channel: grpc.aio.Channel, agent_call_queue: str) -> None:
        self.temporal = temporal
        self.agent_call_queue = agent_call_queue
        self.seen = Seen()
        self._executions = execution_command_grpc.WorkflowExecutionCommandControllerStub(channel)
        self._instances = instance_query_grpc.WorkflowInstanceQueryControllerStub(channel)
        self._workflows = workflow_query_grpc.WorkflowQueryControllerStub(channel)
        self._agents = agent_query_grpc.AgentQueryControllerStub(channel)
        self._agent_executions = agent_command_grpc.AgentExecutionCommandControllerStub(channel)

    async def _report(self, execution_id: str, status: execution_pb2.WorkflowExecutionStatus) -> None:
        self.seen.updates.append(status)
        await self._executions.updateStatus(
            execution_command_pb2.WorkflowExecutionUpdateStatusInput(execution_id=execution_id, status=status)
        )

    @activity.defn(name=VALIDATE_ACTIVITY)
    async def validate(self, raw: RawValue) -> validation_pb2.ServerlessWorkflowValidation:
        spec = strict_decode(raw, spec_pb2.WorkflowSpec())
        assert isinstance(spec, spec_pb2.WorkflowSpec)
        self.seen.validations.append(spec)
        if spec.document.namespace == "invalid":
            return validation_pb2.ServerlessWorkflowValidation(
                state=validation_pb2.INVALID, errors=["namespace 'invalid' is not allowed by the runner"]
            )
        names = ", ".join(t.name for t in spec.tasks)
        return validation_pb2.ServerlessWorkflowValidation(
            state=validation_pb2.VALID, yaml=f"document:\n  name: {spec.document.name}\ndo: [{names}]\n"
        )

    @activity.defn(name=EXECUTE_WORKFLOW_ACTIVITY)
    async def execute(self, raw: RawValue) -> execution_pb2.WorkflowExecutionStatus:
        execution = strict_decode(raw, execution_pb2.WorkflowExecution())
        assert isinstance(execution, execution_pb2.WorkflowExecution)
        self.seen.executions.append(execution)
        execution_id = execution.metadata.id
        await self._report(execution_id, execution_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS))
        instance = await self._instances.get(instance_io_pb2.WorkflowInstanceId(value=execution.spec.workflow_instance_id))
        definition = await self._workflows.get(workflow_io_pb2.WorkflowId(value=instance.spec.workflow_id))
        for i, task in enumerate(definition.spec.tasks):
            task_id = f"{i}-{task.name}"
            await self._report(execution_id, execution_pb2.WorkflowExecutionStatus(tasks=[execution_pb2.WorkflowTask(
                task_id=task_id, task_name=task.name, task_type=_task_type(task), status=enum_pb2.WORKFLOW_TASK_IN_PROGRESS,
            )]))
            try:
                output = await self._run_task(execution, task, i)
            except TaskFailed as failed:
                done = execution_pb2.WorkflowTask(task_id=task_id, status=enum_pb2.WORKFLOW_TASK_FAILED, error=str(failed))
                final = execution_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_FAILED, error=str(failed))
                await self._report(execution_id, execution_pb2.WorkflowExecutionStatus(tasks=[done]))
                await self._report(execution_id, final)
                return final
            done = execution_pb2.WorkflowTask(task_id=task_id, status=enum_pb2.WORKFLOW_TASK_COMPLETED)
            done.output.update(output)
            await self._report(execution_id, execution_pb2.WorkflowExecutionStatus(tasks=[done]))
        final = execution_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
        await self._report(execution_id, final)
        return final

    async def _run_task(self, execution: execution_pb2.WorkflowExecution, task: spec_pb2.WorkflowTask, index: int) -> dict:
        config = task_config(task)
        kind = spec_pb2.WorkflowTask.DESCRIPTOR.fields_by_name["kind"].enum_type.values_by_number[task.kind].name
        if kind == "WORKFLOW_TASK_KIND_SET":
            return dict(config.variables)  # type: ignore[attr-defined]
        if kind == "WORKFLOW_TASK_KIND_RAISE":
            raise TaskFailed(f"{config.error}: {config.message}")  # type: ignore[attr-defined]
        if kind == "WORKFLOW_TASK_KIND_WAIT":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + config.seconds  # type: ignore[attr-defined]
            while loop.time() < deadline:
                activity.heartbeat()
                await asyncio.sleep(0.05)
            return {}
        if kind == "WORKFLOW_TASK_KIND_AGENT_CALL":
            result = await self.temporal.execute_workflow(
                AGENT_CALL_WORKFLOW,
                json_format.MessageToJson(config),
                id=f"stand-in-agent-call/{execution.metadata.id}/{index}",
                task_queue=self.agent_call_queue,
                result_type=agent_execution_pb2.AgentExecution,
            )
            return {"agent_execution_id": result.metadata.id,
                    "phase": agent_execution_pb2.AgentExecution.DESCRIPTOR.fields_by_name["status"].message_type
                    .fields_by_name["phase"].enum_type.values_by_number[result.status.phase].name,
                    "answered": bool(result.status.messages)}
        return {}

    @activity.defn(name=CALL_AGENT_ACTIVITY)
    async def call_agent(self, config_json: str) -> agent_execution_pb2.AgentExecution:
        """Create the agent execution with this activity's task token, and leave the
        activity open: the server completes it when the agent execution ends."""
        config = json_format.Parse(config_json, agent_call_pb2.AgentCallTaskConfig())
        agent = await self._agents.getByReference(resource_io_pb2.ApiResourceReference(slug=config.agent))
        request = agent_execution_pb2.AgentExecution()
        request.spec.agent_id = agent.metadata.id
        request.spec.message = config.message
        if config.config.model:
            request.spec.execution_config.model_name = config.config.model
        request.spec.callback_token = activity.info().task_token
        await self._agent_executions.create(request)
        activity.raise_complete_async()


@workflow.defn(name=AGENT_CALL_WORKFLOW, sandboxed=False)
class StandInAgentCallWorkflow:
    @workflow.run
    async def run(self, config_json: str) -> agent_execution_pb2.AgentExecution:
        return await workflow.execute_activity(
            CALL_AGENT_ACTIVITY, config_json, result_type=agent_execution_pb2.AgentExecution,
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=1),
        )


class TaskFailed(Exception):
    pass


def _task_type(task: spec_pb2.WorkflowTask) -> int:
    name = spec_pb2.WorkflowTask.DESCRIPTOR.fields_by_name["kind"].enum_type.values_by_number[task.kind].name
    return {
        "WORKFLOW_TASK_KIND_AGENT_CALL": enum_pb2.WORKFLOW_TASK_AGENT_INVOCATION,
        "WORKFLOW_TASK_KIND_HTTP_CALL": enum_pb2.WORKFLOW_TASK_API_CALL,
        "WORKFLOW_TASK_KIND_GRPC_CALL": enum_pb2.WORKFLOW_TASK_API_CALL,
        "WORKFLOW_TASK_KIND_SWITCH": enum_pb2.WORKFLOW_TASK_CONDITIONAL,
        "WORKFLOW_TASK_KIND_FORK": enum_pb2.WORKFLOW_TASK_PARALLEL,
        "WORKFLOW_TASK_KIND_SET": enum_pb2.WORKFLOW_TASK_TRANSFORM,
    }.get(name, enum_pb2.WORKFLOW_TASK_CUSTOM)


@contextlib.asynccontextmanager
async def stand_in_runner(
    temporal: Client, grpc_target: str, *, execution_queue: str, validation_queue: str, agent_call_queue: str
) -> AsyncIterator[StandInRunner]:
    """The stand-in polling Stigmer's runner queues (as named) until the block ends."""
    channel = grpc.aio.insecure_channel(grpc_target)
    runner = StandInRunner(temporal, channel, agent_call_queue)
    workers = [
        Worker(temporal, task_queue=execution_queue, activities=[runner.execute]),
        Worker(temporal, task_queue=validation_queue, activities=[runner.validate]),
        Worker(temporal, task_queue=agent_call_queue, workflows=[StandInAgentCallWorkflow],
               activities=[runner.call_agent]),
    ]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield runner
    finally:
        await channel.close()

