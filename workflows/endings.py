"""How an invoke workflow (of an agent or of a workflow execution) ends when its runner's
activity returns no status: cancelled, or failed with a reason people can read.

Orchestration helpers only: no I/O, clocks or randomness.
"""

from __future__ import annotations

import asyncio

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError as TemporalTimeoutError,
    TimeoutType,
)

from domain.workflow_contract import WorkflowTimeouts

CANCELLED_REASON = "cancelled by request"


def ending(
    exc: asyncio.CancelledError | ActivityError,
    timeouts: WorkflowTimeouts,
    runner_queue: str,
    *,
    runner: str,
    work: str,
) -> tuple[bool, str]:
    """Whether the run was cancelled (the workflow, or its activity), and why it ended.
    `runner` names who runs the work ("runner", "workflow runner"), `work` what it runs
    ("agent", "workflow")."""
    if isinstance(exc, asyncio.CancelledError) or isinstance(exc.cause, CancelledError):
        return True, CANCELLED_REASON
    return False, describe_failure(exc, timeouts, runner_queue, runner=runner, work=work)


def describe_failure(
    exc: ActivityError, timeouts: WorkflowTimeouts, runner_queue: str, *, runner: str, work: str
) -> str:
    """A readable reason for a failed activity, for people reading the execution."""
    cause = exc.cause
    if isinstance(cause, TemporalTimeoutError):
        if cause.type == TimeoutType.HEARTBEAT:
            return (
                f"the {runner} stopped responding (no heartbeat for {timeouts.heartbeat_seconds:g}s);"
                " it may have crashed"
            )
        if cause.type == TimeoutType.SCHEDULE_TO_START:
            return (
                f"no {runner} picked up the execution within {timeouts.runner_pickup_seconds:g}s "
                f"(is a runner polling task queue {runner_queue!r}?)"
            )
        return f"the {work} did not finish within {timeouts.execution_seconds:g}s"
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or exc)
