"""InvokeAgentExecutionWorkflow: EnsureThread → ExecuteAgent → durable final status.

Orchestration only: no I/O, clocks or randomness here; activities do the work.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError as TemporalTimeoutError,
    TimeoutType,
)

with workflow.unsafe.imports_passed_through():
    from workflows.types import (
        WORKFLOW_NAME,
        CompleteExternalActivityInput,
        EnsureThreadInput,
        ExecuteAgentInput,
        ExecuteAgentResult,
        ExecutionWorkflowInput,
        UpdateExecutionStatusInput,
    )

# Service-side writes must eventually land: retry for a long while with backoff
# (MongoDB or the network may be away for a bit); they are idempotent.
DURABLE_WRITE = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=0,  # unlimited, bounded by the schedule-to-close below
    ),
    schedule_to_close_timeout=timedelta(hours=1),
)


@workflow.defn(name=WORKFLOW_NAME)
class InvokeAgentExecutionWorkflow:
    @workflow.run
    async def run(self, request: ExecutionWorkflowInput) -> str:
        timeouts, run = request.timeouts, request.run
        phase, error, status = "EXECUTION_COMPLETED", "", None
        try:
            await workflow.execute_activity(
                "UpdateExecutionStatus",
                UpdateExecutionStatusInput(
                    run.execution_id, "EXECUTION_IN_PROGRESS", mark_started=True
                ),
                **DURABLE_WRITE,
            )
            thread_id = await workflow.execute_activity(
                "EnsureThread",
                EnsureThreadInput(run.session_id, run.thread_id),
                result_type=str,
                task_queue=request.runner_task_queue,
                # No runner polling the queue: fail readably instead of waiting forever.
                schedule_to_start_timeout=timedelta(seconds=timeouts.runner_pickup_seconds),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
            result = await workflow.execute_activity(
                "ExecuteAgent",
                ExecuteAgentInput(dataclasses.replace(run, thread_id=thread_id)),
                result_type=ExecuteAgentResult,
                task_queue=request.runner_task_queue,
                schedule_to_start_timeout=timedelta(seconds=timeouts.runner_pickup_seconds),
                start_to_close_timeout=timedelta(seconds=timeouts.execution_seconds),
                # Long-running activities always get a heartbeat timeout: it is how a
                # crashed runner is noticed (the runner heartbeats on a timer).
                heartbeat_timeout=timedelta(seconds=timeouts.heartbeat_seconds),
                # One retry after a runner crash; agent errors are non-retryable.
                retry_policy=RetryPolicy(
                    maximum_attempts=2, non_retryable_error_types=["AgentError"]
                ),
            )
            status = result.status
        except asyncio.CancelledError:
            phase, error = "EXECUTION_CANCELLED", "cancelled by request"
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                phase, error = "EXECUTION_CANCELLED", "cancelled by request"
            else:
                phase, error = "EXECUTION_FAILED", describe_failure(exc, request)

        await workflow.execute_activity(
            "UpdateExecutionStatus",
            UpdateExecutionStatusInput(
                run.execution_id, phase, error=error, status=status, mark_completed=True
            ),
            **DURABLE_WRITE,
        )
        if request.callback_token:
            await workflow.execute_activity(
                "CompleteExternalActivity",
                CompleteExternalActivityInput(
                    request.callback_token, run.execution_id, phase, error, status
                ),
                **DURABLE_WRITE,
            )
        return phase


def describe_failure(exc: ActivityError, request: ExecutionWorkflowInput) -> str:
    """A readable reason for a failed activity, for people reading the execution."""
    cause = exc.cause
    if isinstance(cause, TemporalTimeoutError):
        timeouts = request.timeouts
        if cause.type == TimeoutType.HEARTBEAT:
            return (
                f"the runner stopped responding (no heartbeat for {timeouts.heartbeat_seconds:g}s);"
                " it may have crashed"
            )
        if cause.type == TimeoutType.SCHEDULE_TO_START:
            return (
                f"no runner picked up the execution within {timeouts.runner_pickup_seconds:g}s "
                f"(is a runner polling task queue {request.runner_task_queue!r}?)"
            )
        return f"the agent did not finish within {timeouts.execution_seconds:g}s"
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or exc)
