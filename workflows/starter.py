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
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self._client.start_workflow(
                WORKFLOW_TYPE,
                stigmer_fields_only(execution),
                id=workflow_id_for(execution.metadata.id),
                task_queue=settings.workflow_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={
                    MEMO_RUNNER_TASK_QUEUE: settings.runner_task_queue,
                    MEMO_TIMEOUTS: dataclasses.asdict(timeouts),
                },
            )

    async def cancel(self, execution_id: str) -> bool:
        """Ask the workflow to stop; False when there is no running workflow to ask."""
        try:
            await self._client.get_workflow_handle(workflow_id_for(execution_id)).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True
