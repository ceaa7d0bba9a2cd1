"""The workflow worker: runs the invoke workflow and the service-side activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from application.executions import ExecutionService
from application.reconciler import Reconciler
from infra.settings import Settings
from infra.temporal import run_worker_until
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow

log = logging.getLogger(__name__)


async def work(
    service: ExecutionService, client: Client, settings: Settings, *, stop: asyncio.Event | None = None
) -> None:
    """Poll the workflow task queue until `stop` is set (or forever), over a service the
    caller opened: the worker process's own, or serve's (SERVE_RUNS_WORKER)."""
    activities = ServiceActivities(service, client)
    reconciler = Reconciler(service, client, grace_seconds=settings.reconcile_grace_seconds)
    reconciling = asyncio.create_task(
        reconciler.run_forever(settings.reconcile_interval_seconds), name="reconciler"
    )
    worker = Worker(
        client,
        task_queue=settings.workflow_task_queue,
        workflows=[InvokeAgentExecutionWorkflow],
        activities=[activities.update_execution_status, activities.complete_external_activity],
    )
    log.info("worker polling task queue %r", settings.workflow_task_queue)
    try:
        await run_worker_until(worker, stop)
    finally:
        reconciling.cancel()
