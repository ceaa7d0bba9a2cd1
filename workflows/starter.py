"""Starting and cancelling an execution's workflow (used by the service layer)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_execution_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as workflow_execution_pb2
from domain.workflow_contract import (
    MEMO_RUNNER_TASK_QUEUE,
    MEMO_TIMEOUTS,
    WORKFLOW_TYPE,
    WorkflowTimeouts,
    stigmer_fields_only,
    workflow_id_for,
)
from infra.settings import Settings

Execution = TypeVar("Execution", agent_execution_pb2.AgentExecution, workflow_execution_pb2.WorkflowExecution)


@dataclass(frozen=True)
class InvokeWorkflow(Generic[Execution]):
    """One kind of execution's invoke workflow: its type, its id (of the execution id),
    its input (of the execution), its task queue, the runner's and the timeouts."""

    workflow_type: str
    workflow_id: Callable[[str], str]
    argument: Callable[[Execution], object]
    task_queue: str
    runner_task_queue: str
    timeouts: WorkflowTimeouts


class ExecutionControl(Generic[Execution]):
    """Starts and cancels one kind of execution's invoke workflow. Idempotent: the
    workflow id is derived from the execution id."""

    def __init__(self, client: Client, invoke: InvokeWorkflow[Execution]) -> None:
        self._client = client
        self._invoke: InvokeWorkflow[Execution] = invoke

    async def start(self, execution: Execution) -> None:
        invoke = self._invoke
        await start_once(
            self._client,
            invoke.workflow_type,
            invoke.argument(execution),
            workflow_id=invoke.workflow_id(execution.metadata.id),
            task_queue=invoke.task_queue,
            runner_task_queue=invoke.runner_task_queue,
            timeouts=invoke.timeouts,
        )

    async def cancel(self, execution_id: str) -> bool:
        """Ask the workflow to stop; False when there is no running workflow to ask."""
        return await cancel_workflow(self._client, self._invoke.workflow_id(execution_id))


class TemporalWorkflowControl(ExecutionControl[agent_execution_pb2.AgentExecution]):
    """The agent execution's invoke workflow. Its input is what a Stigmer runner decodes
    (ExecuteGraphton's argument): Stigmer's fields only."""

    def __init__(self, client: Client, settings: Settings) -> None:
        timeouts = WorkflowTimeouts(
            runner_pickup_seconds=settings.runner_pickup_timeout_seconds,
            execution_seconds=settings.execution_timeout_seconds,
            heartbeat_seconds=settings.heartbeat_timeout_seconds,
        )
        super().__init__(client, InvokeWorkflow(
            WORKFLOW_TYPE, workflow_id_for, stigmer_fields_only, settings.workflow_task_queue,
            settings.runner_task_queue, timeouts,
        ))


async def start_once(
    client: Client,
    workflow_type: str,
    argument: object,
    *,
    workflow_id: str,
    task_queue: str,
    runner_task_queue: str,
    timeouts: WorkflowTimeouts,
) -> None:
    """Start `workflow_type` under `workflow_id` unless it already runs (a second start is
    a no-op), its memo naming the runner's task queue and the timeouts."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            workflow_type,
            argument,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={
                MEMO_RUNNER_TASK_QUEUE: runner_task_queue,
                MEMO_TIMEOUTS: dataclasses.asdict(timeouts),
            },
        )


async def cancel_workflow(client: Client, workflow_id: str) -> bool:
    """Ask the workflow to stop; False when there is no workflow to ask."""
    try:
        await client.get_workflow_handle(workflow_id).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True
