"""The workflow worker: runs InvokeAgentExecutionWorkflow and the service-side activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.worker import Worker

from api.context import ServerContext
from stigmer_service.settings import Settings
from stigmer_service.temporal_connection import connect_temporal
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Poll the workflow task queue until `stop` is set (or forever)."""
    context = await ServerContext.open(settings, with_workflows=False)
    client = await connect_temporal(settings)
    activities = ServiceActivities(context.service, client)
    worker = Worker(
        client,
        task_queue=settings.workflow_task_queue,
        workflows=[InvokeAgentExecutionWorkflow],
        activities=[activities.update_execution_status, activities.complete_external_activity],
    )
    log.info("worker polling task queue %r", settings.workflow_task_queue)
    try:
        async with worker:
            await (stop or asyncio.Event()).wait()
    finally:
        await context.close()
