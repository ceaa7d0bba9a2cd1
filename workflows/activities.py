"""Service-side activities, run by the worker: durable status writes and callbacks."""

from __future__ import annotations

import base64

from google.protobuf import json_format
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from api.service import ExecutionService
from stigmer_service import convert
from stigmer_service.errors import NotFound, TerminalPhase
from stigmer_service.timestamps import now_rfc3339
from workflows.types import CompleteExternalActivityInput, UpdateExecutionStatusInput


class ServiceActivities:
    def __init__(self, service: ExecutionService, temporal: Client) -> None:
        self._service = service
        self._temporal = temporal

    @activity.defn(name="UpdateExecutionStatus")
    async def update_execution_status(self, update: UpdateExecutionStatusInput) -> None:
        """Write a phase (and the runner's final status) through the normal merge path.

        Unordered (sequence 0) and idempotent: once the runner's own final update has
        landed, repeating the same terminal phase is acknowledged without change.
        """
        status = api_pb2.AgentExecutionStatus()
        if update.status:
            json_format.ParseDict(update.status, status, ignore_unknown_fields=True)
        status.phase = convert.phase_from_name(update.phase)
        if update.error:
            status.error = update.error
        now = now_rfc3339()
        if update.mark_started and not status.started_at:
            status.started_at = now
        if update.mark_completed and not status.completed_at:
            status.completed_at = now
        try:
            await self._service.update_status(update.execution_id, status)
        except TerminalPhase:
            # Already ended another way (e.g. the runner reported FAILED first): keep it.
            activity.logger.info("execution %s already final", update.execution_id)
        except NotFound:
            # Deleted while running: nothing left to record.
            activity.logger.info("execution %s was deleted", update.execution_id)

    @activity.defn(name="CompleteExternalActivity")
    async def complete_external_activity(self, request: CompleteExternalActivityInput) -> None:
        """Complete the caller's waiting activity with the result, or fail it with the error."""
        handle = self._temporal.get_async_activity_handle(
            task_token=base64.b64decode(request.callback_token)
        )
        if request.phase == "EXECUTION_COMPLETED":
            await handle.complete(
                {"execution_id": request.execution_id, "phase": request.phase, "status": request.status}
            )
        else:
            await handle.fail(
                ApplicationError(
                    request.error or request.phase, request.execution_id, request.phase,
                    type="AgentExecutionFailed", non_retryable=True,
                )
            )
