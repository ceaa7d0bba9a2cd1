"""The net under workflow executions, like application/reconciler.py for agent executions: an
unfinished execution older than a grace period whose Temporal workflow never started is
started; one whose workflow ended without writing a final phase (terminated by an
operator, timed out) is ended. Runs in the worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
from application.workflow_executions import WorkflowExecutionService
from domain.errors import NotFound, TerminalPhase
from domain.workflow_runner_contract import execution_workflow_id

log = logging.getLogger(__name__)

_ENDED_AS = {
    WorkflowExecutionStatus.CANCELED: (enum_pb2.EXECUTION_CANCELLED, "cancelled by request"),
    WorkflowExecutionStatus.TERMINATED: (enum_pb2.EXECUTION_FAILED, "its workflow was terminated"),
    WorkflowExecutionStatus.TIMED_OUT: (enum_pb2.EXECUTION_FAILED, "its workflow timed out"),
    WorkflowExecutionStatus.FAILED: (enum_pb2.EXECUTION_FAILED, "its workflow failed"),
    WorkflowExecutionStatus.COMPLETED: (enum_pb2.EXECUTION_FAILED, "its workflow ended without recording a final status"),
}


class WorkflowExecutionReconciler:
    def __init__(self, executions: WorkflowExecutionService, temporal: Client, *, grace_seconds: float = 120.0) -> None:
        self._executions = executions
        self._temporal = temporal
        self._grace = timedelta(seconds=grace_seconds)

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                for execution_id, action in await self.run_once():
                    log.warning("reconciled workflow execution %s: %s", execution_id, action)
            except Exception:  # storage or Temporal away: next round
                log.exception("workflow execution reconcile round failed")
            await asyncio.sleep(interval_seconds)

    async def run_once(self, *, now: datetime | None = None) -> list[tuple[str, str]]:
        """(execution id, what was done) for each execution repaired."""
        cutoff = (now or datetime.now(UTC)) - self._grace
        repairs = []
        for execution in await self._executions.executions.unfinished_before(cutoff):
            action = await self._reconcile(execution)
            if action:
                repairs.append((execution.metadata.id, action))
        return repairs

    async def _reconcile(self, execution: api_pb2.WorkflowExecution) -> str:
        execution_id = execution.metadata.id
        try:
            described = await self._temporal.get_workflow_handle(execution_workflow_id(execution_id)).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            control = self._executions.control
            if execution.status.phase == enum_pb2.EXECUTION_PENDING and control is not None:
                await control.start(execution)
                return "started"
            return await self._end(execution_id, enum_pb2.EXECUTION_FAILED, "its workflow no longer exists")
        if described.status in _ENDED_AS:
            return await self._end(execution_id, *_ENDED_AS[described.status])
        return ""  # still running: the workflow will finish it

    async def _end(self, execution_id: str, phase: int, reason: str) -> str:
        try:
            await self._executions.update_status(
                execution_id, api_pb2.WorkflowExecutionStatus(phase=phase, error=reason)  # type: ignore[arg-type]
            )
        except (TerminalPhase, NotFound):
            return ""  # finished or deleted meanwhile
        return enum_pb2.ExecutionPhase.Name(phase)
