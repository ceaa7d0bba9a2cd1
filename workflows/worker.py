"""The workflow worker: runs the invoke workflow and the service-side activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.worker import Worker

from application.reconciler import Reconciler
from infra.settings import Settings
from infra.temporal import run_worker_until
from stigmer_service.context import ServerContext
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Poll the workflow task queue until `stop` is set (or forever)."""
    context = await ServerContext.open(settings, with_hub=False)
    try:
        await work(context, settings, stop=stop)
    finally:
        await context.close()


async def work(context: ServerContext, settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """The worker on an open context: its own, or serve's (SERVE_RUNS_WORKER)."""
    assert context.temporal is not None  # TEMPORAL_ADDRESS is required to get here
    client = context.temporal
    activities = ServiceActivities(context.service, client)
    reconciler = Reconciler(context.service, client, grace_seconds=settings.reconcile_grace_seconds)
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
