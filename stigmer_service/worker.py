"""`stigmer-service worker`: the workflow worker in a process of its own."""

from __future__ import annotations

import asyncio

from infra.settings import Settings
from stigmer_service.context import ServerContext
from workflows.worker import work


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """The workflow worker on a context of its own (no hub: it serves no watchers), until
    `stop` is set (or forever)."""
    context = await ServerContext.open(settings, with_hub=False)
    try:
        assert context.temporal is not None  # TEMPORAL_ADDRESS is required to get here
        await work(
            context.service, context.workflows, context.workflow_executions, context.temporal, settings, stop=stop
        )
    finally:
        await context.close()
