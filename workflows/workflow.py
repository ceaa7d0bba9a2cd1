"""The invoke workflow: EnsureThread → ExecuteGraphton → durable final status → callback.

Orchestration only: no I/O, clocks or randomness here; activities do the work. Names,
queues and signatures are Stigmer's (domain/workflow_contract.py).

The two status writes (IN_PROGRESS, the final phase) are local activities: the worker
that runs the workflow task writes them and records the result in the same task, which
spares Temporal an activity task and a workflow task round trip each. They are short,
idempotent and retried like any activity (a worker lost mid-write hands the workflow
task, and so the write, to another worker). The runner's activities stay on the runner
queue. The workflow runs outside the SDK's sandbox: it imports nothing with side
effects and keeps to Temporal's workflow APIs, and the sandbox's per-task cost was a
large share of the worker's CPU.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
)

with workflow.unsafe.imports_passed_through():
    from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
    from domain.status_rules import is_terminal
    from domain.workflow_contract import (
        AGENT_ERROR_TYPE,
        DEFAULT_RUNNER_TASK_QUEUE,
        ENSURE_THREAD,
        EXECUTE_GRAPHTON,
        MEMO_RUNNER_TASK_QUEUE,
        MEMO_TIMEOUTS,
        WORKFLOW_TYPE,
        CompleteExternalActivityInput,
        WorkflowTimeouts,
        stigmer_fields_only,
    )
    from workflows.activities import ServiceActivities
    from workflows.endings import ending

class ActivityOptions(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    schedule_to_close_timeout: timedelta


# Service-side writes must land: retry with backoff while storage is away. Content that
# can never be stored is not retried (the activity stores what it can instead), and the
# reconciler (application/reconciler.py) ends anything this still leaves unfinished.
DURABLE_WRITE = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=0,  # unlimited, bounded by the schedule-to-close below
    ),
    schedule_to_close_timeout=timedelta(hours=1),
)


class RunnerActivityOptions(TypedDict, total=False):
    task_queue: str
    schedule_to_start_timeout: timedelta
    start_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy


def ensure_thread_options(timeouts: WorkflowTimeouts, runner_queue: str) -> RunnerActivityOptions:
    """EnsureThread on the runner's queue; no runner polling it fails readably instead of
    waiting forever."""
    return RunnerActivityOptions(
        task_queue=runner_queue,
        schedule_to_start_timeout=timedelta(seconds=timeouts.runner_pickup_seconds),
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=3),
    )


def execute_graphton_options(timeouts: WorkflowTimeouts, runner_queue: str) -> RunnerActivityOptions:
    """ExecuteGraphton on the runner's queue. Long-running activities always get a
    heartbeat timeout: it is how a crashed runner is noticed (the runner heartbeats on a
    timer). One retry after a runner crash; agent errors are non-retryable."""
    return RunnerActivityOptions(
        task_queue=runner_queue,
        schedule_to_start_timeout=timedelta(seconds=timeouts.runner_pickup_seconds),
        start_to_close_timeout=timedelta(seconds=timeouts.execution_seconds),
        heartbeat_timeout=timedelta(seconds=timeouts.heartbeat_seconds),
        retry_policy=RetryPolicy(maximum_attempts=2, non_retryable_error_types=[AGENT_ERROR_TYPE]),
    )

# The failure type of a workflow whose execution ended FAILED (as Stigmer's own workflow,
# which fails after recording the status and completing the callback).
EXECUTION_FAILED_TYPE = "AgentExecutionFailed"


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class InvokeAgentExecutionWorkflow:
    @workflow.run
    async def run(self, execution: api_pb2.AgentExecution) -> None:
        # Whoever started it, what goes on to the runner carries Stigmer's fields only.
        execution = stigmer_fields_only(execution)
        execution_id = execution.metadata.id
        runner_queue = workflow.memo_value(
            MEMO_RUNNER_TASK_QUEUE, DEFAULT_RUNNER_TASK_QUEUE, type_hint=str
        )
        timeouts = workflow.memo_value(MEMO_TIMEOUTS, WorkflowTimeouts(), type_hint=WorkflowTimeouts)
        final = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
        try:
            await workflow.execute_local_activity_method(
                ServiceActivities.update_execution_status,
                args=[execution_id, api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)],
                **DURABLE_WRITE,
            )
            thread_id = await workflow.execute_activity(
                ENSURE_THREAD,
                args=[execution.spec.session_id, execution.spec.agent_id],
                result_type=str,
                **ensure_thread_options(timeouts, runner_queue),
            )
            result = await workflow.execute_activity(
                EXECUTE_GRAPHTON,
                args=[execution, thread_id],
                result_type=api_pb2.AgentExecutionStatus,
                **execute_graphton_options(timeouts, runner_queue),
            )
            final = closing_status(result)
        except (asyncio.CancelledError, ActivityError) as exc:
            cancelled, reason = ending(exc, timeouts, runner_queue, runner="runner", work="agent")
            final = ended(enum_pb2.EXECUTION_CANCELLED if cancelled else enum_pb2.EXECUTION_FAILED, reason)

        # Shielded: a cancel that arrives now must not stop the final write.
        recorded = await asyncio.shield(
            workflow.execute_local_activity_method(
                ServiceActivities.update_execution_status, args=[execution_id, final], **DURABLE_WRITE
            )
        )
        # What is stored decides (another write may have landed first, or the content was
        # dropped); a history recorded before the activity said so leaves `final` as is.
        if recorded is not None and is_terminal(recorded.phase):
            final = ended(recorded.phase, recorded.error)
        if execution.spec.callback_token:
            await asyncio.shield(
                workflow.execute_activity_method(
                    ServiceActivities.complete_external_activity,
                    CompleteExternalActivityInput(
                        callback_token=base64.b64encode(execution.spec.callback_token).decode(),
                        execution_id=execution_id,
                        error="" if final.phase == enum_pb2.EXECUTION_COMPLETED else final.error,
                    ),
                    **DURABLE_WRITE,
                )
            )
        # Everything is recorded; now Temporal shows the outcome too (ARCHITECTURE.md,
        # "Temporal contract"): a FAILED execution fails its workflow, a CANCELLED one
        # ends it cancelled, so operators filter on Temporal's own status.
        if final.phase == enum_pb2.EXECUTION_FAILED:
            # Stigmer's runner reports its error in a SYSTEM message, leaving `error` empty.
            reason = final.error or f"agent execution {execution_id} failed; its status says why"
            raise ApplicationError(reason, type=EXECUTION_FAILED_TYPE, non_retryable=True)
        if final.phase == enum_pb2.EXECUTION_CANCELLED:
            raise CancelledError(final.error)  # a workflow never asked to cancel: failed


def ended(phase: int, error: str) -> api_pb2.AgentExecutionStatus:
    return api_pb2.AgentExecutionStatus(phase=phase, error=error)  # type: ignore[arg-type]


def closing_status(result: api_pb2.AgentExecutionStatus) -> api_pb2.AgentExecutionStatus:
    """The runner's final status as the workflow records it: a runner that returned no
    terminal phase (some runners return only content) finished its work: COMPLETED."""
    final = stigmer_fields_only(result)
    if not is_terminal(final.phase):
        final.phase = enum_pb2.EXECUTION_COMPLETED
    return final
