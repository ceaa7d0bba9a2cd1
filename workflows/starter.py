"""Starting and cancelling an execution's workflow (used by the service layer)."""

from __future__ import annotations

import contextlib
import dataclasses

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from domain.workflow_contract import (
    MEMO_RUNNER_TASK_QUEUE,
    MEMO_TIMEOUTS,
    WORKFLOW_TYPE,
    WorkflowTimeouts,
    stigmer_fields_only,
    workflow_id_for,
)
from infra.settings import Settings


class TemporalWorkflowControl:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def start(self, execution: api_pb2.AgentExecution) -> None:
        """Idempotent: the workflow id is derived from the execution id. The input is what
        a Stigmer runner decodes (ExecuteGraphton's argument): Stigmer's fields only."""
        settings = self._settings
        timeouts = WorkflowTimeouts(
            runner_pickup_seconds=settings.runner_pickup_timeout_seconds,
            execution_seconds=settings.execution_timeout_seconds,
            heartbeat_seconds=settings.heartbeat_timeout_seconds,
        )
        await start_once(
            self._client,
            WORKFLOW_TYPE,
            stigmer_fields_only(execution),
            workflow_id=workflow_id_for(execution.metadata.id),
            task_queue=settings.workflow_task_queue,
            runner_task_queue=settings.runner_task_queue,
            timeouts=timeouts,
        )

    async def cancel(self, execution_id: str) -> bool:
        """Ask the workflow to stop; False when there is no running workflow to ask."""
        return await cancel_workflow(self._client, workflow_id_for(execution_id))


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
