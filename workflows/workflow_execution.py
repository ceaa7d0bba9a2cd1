"""The workflow-execution invoke workflow: ExecuteWorkflow on the runner → durable final
status → callback.

Stigmer's contract (domain/workflow_runner_contract.py): type
`stigmer/workflow-execution/invoke`, input the WorkflowExecution, the runner's
`ExecuteWorkflow` on the memo queue `activityTaskQueue`. The runner reports progress over
gRPC `updateStatus`; this workflow writes the final phase itself (a local activity,
shielded from cancel), so it lands even when the runner could not reach the server, and
completes the caller's activity when the execution carries a `callback_token`.
Orchestration only: no I/O, clocks or randomness here.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
)
from temporalio.service import RPCError, RPCStatusCode

with workflow.unsafe.imports_passed_through():
    from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
    from application.workflow_executions import WorkflowExecutionService
    from domain.convert import public_workflow_execution as public
    from domain.errors import NotFound, TerminalPhase
    from domain.status_rules import is_terminal
    from domain.workflow_contract import MEMO_TIMEOUTS, WorkflowTimeouts, stigmer_fields_only
    from domain.workflow_runner_contract import (
        DEFAULT_EXECUTION_RUNNER_TASK_QUEUE,
        EXECUTE_WORKFLOW_ACTIVITY,
        EXECUTION_WORKFLOW_TYPE,
        MEMO_RUNNER_TASK_QUEUE,
        UPDATE_WORKFLOW_EXECUTION_STATUS,
    )
    from workflows.endings import ending
    from workflows.workflow import DURABLE_WRITE

COMPLETE_CALLBACK = "stigmer-service/complete-workflow-execution-callback"
_FINAL_COMPLETION_ERRORS = (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND)


@dataclass
class CallbackInput:
    callback_token: str  # base64 of the caller's activity task token
    execution_id: str  # completed with the stored WorkflowExecution on success
    error: str = ""  # non-empty: fail the caller's activity with this message


class WorkflowExecutionActivities:
    """Service-side activities of the invoke workflow, run by our worker."""

    def __init__(self, executions: WorkflowExecutionService, temporal: Client) -> None:
        self._executions = executions
        self._temporal = temporal

    @activity.defn(name=UPDATE_WORKFLOW_EXECUTION_STATUS)
    async def update_status(self, execution_id: str, status: api_pb2.WorkflowExecutionStatus) -> None:
        """Write a phase through the normal merge; unordered and idempotent (a repeat of
        the stored terminal phase is acknowledged). Times are stamped by the merge."""
        try:
            await self._executions.update_status(execution_id, status)
        except TerminalPhase:
            activity.logger.info("workflow execution %s already final", execution_id)
        except NotFound:
            activity.logger.info("workflow execution %s was deleted", execution_id)

    @activity.defn(name=COMPLETE_CALLBACK)
    async def complete_callback(self, request: CallbackInput) -> None:
        """Complete the caller's waiting activity with the stored execution, or fail it.
        A token Temporal refuses is final: retrying cannot fix it."""
        handle = self._temporal.get_async_activity_handle(task_token=base64.b64decode(request.callback_token))
        try:
            if request.error:
                await handle.fail(ApplicationError(
                    request.error, request.execution_id, type="WorkflowExecutionFailed", non_retryable=True
                ))
                return
            try:
                execution = public(await self._executions.get(request.execution_id))
            except NotFound:
                execution = api_pb2.WorkflowExecution()
                execution.metadata.id = request.execution_id
            await handle.complete(stigmer_fields_only(execution))
        except RPCError as exc:
            if exc.status in _FINAL_COMPLETION_ERRORS:
                activity.logger.warning("callback of %s cannot be completed: %s", request.execution_id, exc.message)
                return
            raise


@workflow.defn(name=EXECUTION_WORKFLOW_TYPE, sandboxed=False)
class InvokeWorkflowExecutionWorkflow:
    @workflow.run
    async def run(self, execution: api_pb2.WorkflowExecution) -> None:
        execution_id = execution.metadata.id
        runner_queue = workflow.memo_value(MEMO_RUNNER_TASK_QUEUE, DEFAULT_EXECUTION_RUNNER_TASK_QUEUE, type_hint=str)
        # Ours (a workflow started without it takes Stigmer's 30 minutes).
        timeouts = workflow.memo_value(
            MEMO_TIMEOUTS, WorkflowTimeouts(execution_seconds=1800.0), type_hint=WorkflowTimeouts
        )
        try:
            result = await workflow.execute_activity(
                EXECUTE_WORKFLOW_ACTIVITY,
                execution,
                result_type=api_pb2.WorkflowExecutionStatus,
                task_queue=runner_queue,
                # No runner polling the queue: fail readably instead of waiting forever.
                schedule_to_start_timeout=timedelta(seconds=timeouts.runner_pickup_seconds),
                start_to_close_timeout=timedelta(seconds=timeouts.execution_seconds),
                # Stigmer's: one attempt (the tasks have effects; a retry would repeat them).
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            final = closing_status(result)
        except (asyncio.CancelledError, ActivityError) as exc:
            cancelled, reason = ending(exc, timeouts, runner_queue, runner="workflow runner", work="workflow")
            final = ended(enum_pb2.EXECUTION_CANCELLED if cancelled else enum_pb2.EXECUTION_FAILED, reason)

        # Shielded: a cancel that arrives now must not stop the final write.
        await asyncio.shield(workflow.execute_local_activity_method(
            WorkflowExecutionActivities.update_status, args=[execution_id, final], **DURABLE_WRITE
        ))
        if execution.spec.callback_token:
            await asyncio.shield(workflow.execute_local_activity_method(
                WorkflowExecutionActivities.complete_callback,
                CallbackInput(
                    callback_token=base64.b64encode(execution.spec.callback_token).decode(),
                    execution_id=execution_id,
                    error="" if final.phase == enum_pb2.EXECUTION_COMPLETED else final.error or "failed",
                ),
                **DURABLE_WRITE,
            ))


def ended(phase: int, error: str) -> api_pb2.WorkflowExecutionStatus:
    return api_pb2.WorkflowExecutionStatus(phase=phase, error=error)  # type: ignore[arg-type]


def closing_status(result: api_pb2.WorkflowExecutionStatus | None) -> api_pb2.WorkflowExecutionStatus:
    """The runner's final status as recorded (its tasks merge by id with those it sent
    through `updateStatus`); a runner that returned no terminal phase finished its work:
    COMPLETED."""
    if result is None:  # a runner that answered `null` (Stigmer's server treats it as a failure)
        return ended(enum_pb2.EXECUTION_FAILED, "the workflow runner returned no status")
    final = stigmer_fields_only(result)
    if not is_terminal(final.phase):
        final.phase = enum_pb2.EXECUTION_COMPLETED
    return final
