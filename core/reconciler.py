"""The reconciler: the net under every other rule. Any execution whose document is not
terminal although its workflow has ended, or never started, is brought to an end.

It catches what nobody foresaw: a create whose insert reached MongoDB while its reply
did not (PENDING, no workflow), a final write that kept failing until its workflow gave
up, a workflow terminated by an operator. It runs in the worker process, every
`reconcile_interval_seconds`, looking only at executions older than a grace period
(young ones are still being started or finished by the normal path). Each round also
removes status texts left by writes that raced their execution's delete.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from core.errors import NotFound, TerminalPhase
from core.service import ExecutionService
from core.workflow_contract import workflow_id_for

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # candidates read per query
CONCURRENT_DESCRIBES = 10  # workflows described at once

# What a workflow that ended without writing its execution's final phase leaves behind.
_ENDED_AS = {
    WorkflowExecutionStatus.CANCELED: (enum_pb2.EXECUTION_CANCELLED, "cancelled by request"),
    WorkflowExecutionStatus.TERMINATED: (enum_pb2.EXECUTION_FAILED, "its workflow was terminated"),
    WorkflowExecutionStatus.TIMED_OUT: (enum_pb2.EXECUTION_FAILED, "its workflow timed out"),
    WorkflowExecutionStatus.FAILED: (enum_pb2.EXECUTION_FAILED, "its workflow failed"),
    WorkflowExecutionStatus.COMPLETED: (
        enum_pb2.EXECUTION_FAILED, "its workflow ended without recording a final status"
    ),
}


@dataclass
class Repair:
    execution_id: str
    action: str  # "started", or the phase name it was ended with


class Reconciler:
    def __init__(
        self, service: ExecutionService, temporal: Client, *, grace_seconds: float = 60.0
    ) -> None:
        self._service = service
        self._temporal = temporal
        self._grace = timedelta(seconds=grace_seconds)

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                for repair in await self.run_once():
                    log.warning("reconciled %s: %s", repair.execution_id, repair.action)
            except Exception:  # storage or Temporal away: next round
                log.exception("reconcile round failed")
            await asyncio.sleep(interval_seconds)

    async def run_once(self, *, now: datetime | None = None) -> list[Repair]:
        """One pass over every unfinished execution older than the grace period, a page
        at a time (however many healthy long runs come first, an orphan behind them is
        reached in the same pass), describing a few workflows at once."""
        cutoff = (now or datetime.now(UTC)) - self._grace
        await self._service.executions.sweep_texts()
        repairs: list[Repair] = []
        after = ""
        while page := await self._service.executions.unfinished_before(cutoff, after=after, limit=PAGE_SIZE):
            for start in range(0, len(page), CONCURRENT_DESCRIBES):
                batch = page[start:start + CONCURRENT_DESCRIBES]
                found = await asyncio.gather(*(self._reconcile(*candidate) for candidate in batch))
                repairs.extend(repair for repair in found if repair is not None)
            after = page[-1][0]
        return repairs

    async def _reconcile(self, execution_id: str, phase: str) -> Repair | None:
        try:
            described = await self._temporal.get_workflow_handle(workflow_id_for(execution_id)).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if phase == "EXECUTION_PENDING" and self._service.workflows:
                try:
                    execution = await self._service.executions.get(execution_id)
                except NotFound:
                    return None  # deleted meanwhile
                await self._service.workflows.start(execution)
                return Repair(execution_id, "started")
            return await self._end(execution_id, enum_pb2.EXECUTION_FAILED, "its workflow no longer exists")
        if described.status in _ENDED_AS:
            return await self._end(execution_id, *_ENDED_AS[described.status])
        return None  # still running: the workflow will finish it

    async def _end(self, execution_id: str, phase: int, reason: str) -> Repair | None:
        status = api_pb2.AgentExecutionStatus(phase=phase, error=reason)  # type: ignore[arg-type]
        try:
            await self._service.update_status(execution_id, status)
        except (TerminalPhase, NotFound):
            return None  # finished or deleted meanwhile
        return Repair(execution_id, enum_pb2.ExecutionPhase.Name(phase))
