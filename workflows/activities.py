"""Service-side activities, run by the worker: durable status writes and callbacks."""

from __future__ import annotations

import base64

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from application.executions import ExecutionService
from domain.errors import NotFound, TerminalPhase, UnstorableContent
from domain.status_bounds import bounded_status
from domain.workflow_contract import (
    COMPLETE_EXTERNAL_ACTIVITY,
    UPDATE_EXECUTION_STATUS,
    CompleteExternalActivityInput,
    RecordedPhase,
    stigmer_fields_only,
)

MAX_CALLBACK_STATUS_BYTES = 200_000
# Completion errors that no retry can fix: the token is bad or the caller is gone.
_FINAL_COMPLETION_ERRORS = (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND)


class ServiceActivities:
    def __init__(self, service: ExecutionService, temporal: Client) -> None:
        self._service = service
        self._temporal = temporal

    @activity.defn(name=UPDATE_EXECUTION_STATUS)
    async def update_execution_status(
        self, execution_id: str, status: api_pb2.AgentExecutionStatus
    ) -> RecordedPhase:
        """Write a phase (and whatever content came with it) through the normal merge;
        return the phase that is stored afterwards.

        Unordered (sequence 0) and idempotent: once the runner's own final update has
        landed, repeating the same terminal phase is acknowledged without change. Content
        that can never be stored is dropped, and the execution still ends, saying so.
        Times missing on a phase change are stamped by the service.
        """
        try:
            try:
                stored = await self._service.update_status(execution_id, status)
            except UnstorableContent as exc:
                activity.logger.warning("final status of %s not storable: %s", execution_id, exc)
                stored = await self._service.update_status(execution_id, content_dropped(status, exc.message))
        except TerminalPhase:
            # Already ended another way (e.g. the runner reported FAILED first): keep it.
            activity.logger.info("execution %s already final", execution_id)
            stored = await self._service.get(execution_id)
        except NotFound:
            # Deleted while running: nothing left to record.
            activity.logger.info("execution %s was deleted", execution_id)
            return RecordedPhase(phase=status.phase, error=status.error)
        return RecordedPhase(phase=stored.status.phase, error=stored.status.error)

    @activity.defn(name=COMPLETE_EXTERNAL_ACTIVITY)
    async def complete_external_activity(self, request: CompleteExternalActivityInput) -> None:
        """Complete the caller's waiting activity with the stored execution, or fail it
        with the error. A token Temporal refuses is final: retrying cannot fix it."""
        handle = self._temporal.get_async_activity_handle(
            task_token=base64.b64decode(request.callback_token)
        )
        try:
            if request.error:
                await handle.fail(
                    ApplicationError(
                        request.error, request.execution_id, type="AgentExecutionFailed", non_retryable=True
                    )
                )
                return
            try:
                execution = await self._service.get(request.execution_id)
            except NotFound:
                execution = api_pb2.AgentExecution()
                execution.metadata.id = request.execution_id
            # The result lands in the caller's history, whose payloads Temporal bounds, and
            # the caller decodes it as Stigmer's message: Stigmer's fields only.
            execution = stigmer_fields_only(execution)
            reason = f"the whole status is stored in the service as agent execution {request.execution_id}"
            execution.status.CopyFrom(bounded_status(execution.status, MAX_CALLBACK_STATUS_BYTES, reason))
            await handle.complete(execution)
        except RPCError as exc:
            if exc.status in _FINAL_COMPLETION_ERRORS:
                activity.logger.warning(
                    "callback of %s cannot be completed: %s", request.execution_id, exc.message
                )
                return
            raise


def content_dropped(update: api_pb2.AgentExecutionStatus, reason: str) -> api_pb2.AgentExecutionStatus:
    """What can still be stored of a status whose content cannot be: its phase, times and
    a readable error. A phase that claimed success becomes FAILED: content is missing."""
    kept = api_pb2.AgentExecutionStatus(
        phase=update.phase, started_at=update.started_at, completed_at=update.completed_at
    )
    if kept.phase == enum_pb2.EXECUTION_COMPLETED:
        kept.phase = enum_pb2.EXECUTION_FAILED
    note = f"the final status could not be stored and was dropped: {reason}"
    kept.error = f"{update.error}; {note}" if update.error else note
    return kept
