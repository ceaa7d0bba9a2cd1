"""The runner process: a Temporal worker for the agent activities on its own task queue."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.worker import Worker

from core.settings import Settings
from core.temporal import connect_temporal, run_worker_until
from runner.activities import RunnerActivities
from runner.service_client import ServiceClient

log = logging.getLogger(__name__)


async def run_runner(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    client = await connect_temporal(settings)
    service = ServiceClient(
        settings.server_grpc_target, settings.runner_key()
    )
    activities = RunnerActivities(settings, service)
    worker = Worker(
        client,
        task_queue=settings.runner_task_queue,
        activities=[activities.ensure_thread, activities.execute_graphton],
        # Cancellation reaches an activity with a heartbeat reply: keep that prompt.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    log.info("runner polling task queue %r", settings.runner_task_queue)
    try:
        await run_worker_until(worker, stop)
    finally:
        await service.close()
