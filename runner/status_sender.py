"""Sends an execution's status to the server without ever holding up the agent.

The agent only flips flags (`notify` is synchronous and O(1)); a background task does
the I/O. It always sends the *newest whole* snapshot, taken at send time, so there is
no queue to fall behind on:

* structural changes (phase, tool calls, todos, sub-agents) go out at once;
* while only tokens stream, at most one send per `update_interval`;
* a failed send is retried with capped exponential backoff — with whatever the status
  is by then, so a newer state supersedes the one that failed — and never raises into
  the agent;
* `close()` delivers the final state (bounded by a timeout).

Each send carries a strictly increasing sequence number that the server can use to
drop stale or reordered updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ai.stigmer.agentic.agentexecution.v1 import api_pb2

log = logging.getLogger(__name__)

SendStatus = Callable[[api_pb2.AgentExecutionStatus, int], Awaitable[None]]


class StatusSource(Protocol):
    """What the sender follows; `StatusBuilder` is one."""

    def snapshot(self) -> api_pb2.AgentExecutionStatus: ...

    def on_change(self, listener: Callable[[bool], None]) -> None: ...


class StatusSender:
    """Background, conflating, throttled sender of status snapshots."""

    def __init__(
        self,
        send: SendStatus,
        update_interval: float,
        *,
        send_timeout: float = 10.0,
        close_timeout: float = 15.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        first_sequence: int | None = None,
    ) -> None:
        """Configure the sender; nothing runs until `start`.

        `first_sequence` defaults to the wall clock in microseconds, so a retried
        runner attempt (a new sender) still orders after the previous attempt's sends.
        """
        self._send = send
        self._interval = update_interval
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        first = time.time_ns() // 1000 if first_sequence is None else first_sequence
        self._sequence = first - 1
        # Changes are counted; the initial state counts as one unsent change.
        self._version = 1
        self._sent_version = 0
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        self._sent = 0
        self._failed = 0
        self._source: StatusSource | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def sent(self) -> int:
        """Successful sends so far."""
        return self._sent

    @property
    def failed(self) -> int:
        """Failed send attempts so far (each retry counts)."""
        return self._failed

    @property
    def sequence(self) -> int:
        """The sequence number of the latest send attempt."""
        return self._sequence

    def start(self, source: StatusSource) -> None:
        """Follow `source`: send its current state now, then every change as described."""
        if self._task is not None:
            raise RuntimeError("StatusSender already started")
        self._source = source
        source.on_change(self.notify)
        self._dirty.set()
        self._urgent.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="status-sender")

    def notify(self, structural: bool) -> None:
        """Record a change; structural ones are sent without waiting for the interval."""
        self._version += 1
        self._dirty.set()
        if structural:
            self._urgent.set()

    async def close(self) -> bool:
        """Send the final state if not yet delivered, then stop; True if it was delivered.

        Waits at most `close_timeout` (a dead server must not hold up the runner).
        """
        if self._task is None:
            return False
        self._closing = True
        self._dirty.set()
        self._urgent.set()
        try:
            await asyncio.wait({self._task}, timeout=self._close_timeout)
        finally:
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if not self._delivered():
            log.warning("final status not delivered after %d failed attempts", self._failed)
        return self._delivered()

    def _delivered(self) -> bool:
        return self._sent_version == self._version

    async def _run(self) -> None:
        assert self._source is not None
        loop = asyncio.get_running_loop()
        next_send_at = loop.time()
        backoff = self._min_backoff
        while True:
            if self._delivered():
                if self._closing:
                    return
                self._dirty.clear()
                await self._dirty.wait()
                continue
            if not self._urgent.is_set():
                await _wait(self._urgent, next_send_at - loop.time())
            urgent = self._urgent.is_set()
            self._urgent.clear()
            version = self._version
            self._sequence += 1
            try:
                await asyncio.wait_for(
                    self._send(self._source.snapshot(), self._sequence), self._send_timeout
                )
            except Exception as exc:  # noqa: BLE001 - a failed send must never reach the agent
                self._failed += 1
                log.warning(
                    "status send %d failed (retry in %.2fs): %r", self._sequence, backoff, exc
                )
                if urgent:
                    self._urgent.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            else:
                self._sent += 1
                self._sent_version = version
                backoff = self._min_backoff
            next_send_at = loop.time() + self._interval


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Wait until `event` is set or `timeout` seconds pass, whichever comes first."""
    if timeout <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
