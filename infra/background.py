"""Background tasks the service depends on: kept running, and visible when they are not.

A loop that dies on one bad input would silently degrade everything that relies on it,
so a `SupervisedTask` logs whatever ended its loop, restarts it after a backoff, and
reports its state to `/readyz` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from infra import metrics

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# A loop that ran this long before failing counts as healthy: the next restart is quick.
HEALTHY_RUN_SECONDS = 30.0


class SupervisedTask:
    __slots__ = ("_problem", "_run", "_task", "name", "restarts")

    def __init__(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._problem: str | None = "not started"
        self.restarts = 0

    @property
    def state(self) -> str:
        """`ok` while the loop runs, else `down: <why>` (the /readyz wording)."""
        return "ok" if self._problem is None else f"down: {self._problem}"[:300]

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # Cancel until it really ends: on Python 3.11 an `asyncio.wait_for` inside a
            # client library can swallow a cancel that lands as its wait completes
            # (CPython gh-86296), and the loop would carry on.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._mark_down("stopped")

    async def _supervise(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            self._mark_up()
            started = time.monotonic()
            try:
                await self._run()
                problem = "its loop returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever it was, the loop must come back
                problem = f"{type(exc).__name__}: {exc}"
                log.exception("background task %s failed; restarting it", self.name)
            if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                backoff = FIRST_BACKOFF_SECONDS
            self._mark_down(problem)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            self.restarts += 1
            metrics.BACKGROUND_TASK_RESTARTS.labels(task=self.name).inc()

    def _mark_up(self) -> None:
        self._problem = None
        metrics.BACKGROUND_TASK_UP.labels(task=self.name).set(1)

    def _mark_down(self, problem: str) -> None:
        self._problem = problem
        metrics.BACKGROUND_TASK_UP.labels(task=self.name).set(0)
