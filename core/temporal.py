"""What every Temporal worker process shares: run a worker until asked to stop."""

from __future__ import annotations

import asyncio

from temporalio.worker import Worker


async def run_worker_until(worker: Worker, stop: asyncio.Event | None) -> None:
    """Poll until `stop` is set (or forever); leaving drains in-flight tasks gracefully."""
    async with worker:
        await (stop or asyncio.Event()).wait()
