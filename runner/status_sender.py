"""Sends an execution's status to the server without ever holding up the agent.

The agent only flips flags (`notify` is synchronous and O(1)); a background task does
the I/O. It always sends what the *newest* snapshot, taken at send time, adds to the
last status the server acknowledged, so there is no queue to fall behind on and a send
costs the size of the change:

* the first send is the whole status; later ones are the changes since the last
  acknowledged status (domain/status_changes.py `diff_status`), each with the next sequence;
* when the server answers that a patch's predecessor is missing (`resync_needed`), or a
  send failed and nobody knows whether it was stored, the next send is the whole
  status again, and patches continue from it;
* a channel whose server lacks the incremental call turns its `incremental` flag off
  (and asks for a resync): from then on every send is the whole status;
* one send is in flight at a time: a change made while nothing is in flight goes out
  at once, and everything that arrives while a send is in flight rides on the next one
  (batching grows with the load, by itself);
* while only tokens stream, two sends start at least `update_interval` apart (a small
  gap, 20 ms by default, that bounds the send rate of a fast token stream); structural
  changes (phase, tool calls, todos, sub-agents) do not wait for it;
* a failed send is retried with capped exponential backoff — with whatever the status
  is by then, so a newer state supersedes the one that failed — and never raises into
  the agent;
* `close()` delivers the final state (bounded by a timeout).

Each send carries a strictly increasing sequence number that the server uses to drop
stale or reordered updates and to detect a missing patch.

A send's cost stays near the size of the change on this side too. A source that keeps
its streamed text as changes (`ChangeSource`: `StatusBuilder.take_changes`) hands them
over as they are, so a token-only send builds no snapshot and diffs nothing; other
sends diff a snapshot, whose JSON reuses the converted list items (messages, tool
calls, sub-agents) that did not change since the previous send (`StatusJson`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, patch_pb2
from domain.convert import to_json
from domain.errors import InvalidArgument
from domain.limits import check_patch_bounds
from domain.status_changes import Change, apply_changes, diff_status

log = logging.getLogger(__name__)

SendStatus = Callable[[api_pb2.AgentExecutionStatus, int], Awaitable[None]]


@runtime_checkable
class StatusChannel(Protocol):
    """The two calls the sender needs from the server; the gRPC client is one."""

    async def send_changes(
        self, changes: list[Change], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        """Send a patch (the changes' proto JSON) numbered `sequence`; return the answer."""
        ...

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        """Send the whole status numbered `sequence` (merged by the server's rules)."""
        ...


def sends_changes(channel: StatusChannel) -> bool:
    """Whether `channel` takes patches now. A channel may have an `incremental` flag
    that turns False mid-run (a server without the incremental call): from then on
    every send is whole."""
    return bool(getattr(channel, "incremental", True))


class WholeStatusChannel:
    """A channel over a plain `SendStatus`: every send is the whole status (servers
    without the incremental call)."""

    incremental = False

    def __init__(self, send: SendStatus) -> None:
        self._send = send

    async def send_changes(
        self, changes: list[Change], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        raise NotImplementedError("this channel only sends whole statuses")

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        await self._send(status, sequence)


class StatusSource(Protocol):
    """What the sender follows; `StatusBuilder` is one."""

    def snapshot(self) -> api_pb2.AgentExecutionStatus: ...

    def on_change(self, listener: Callable[[bool], None]) -> None: ...


@runtime_checkable
class ChangeSource(Protocol):
    """A source that also says what changed since it was last asked, when it can."""

    def take_changes(self) -> list[Change] | None:
        """The changes since the previous take, or None (then the caller diffs a
        `snapshot()`, taken at once); the next take starts from now either way."""
        ...


class StatusSender:
    """Background, conflating sender of status changes: one send in flight at a time,
    token-only sends at least `update_interval` seconds apart (start to start)."""

    def __init__(
        self,
        send: StatusChannel | SendStatus,
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
        `send` is a `StatusChannel`, or a `SendStatus` function for whole statuses only.
        """
        self._channel: StatusChannel = send if isinstance(send, StatusChannel) else WholeStatusChannel(send)
        # The status as the server has it after our acknowledged sends (None: unknown).
        self._acknowledged: dict[str, Any] | None = None
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
        self._wholes = 0
        self._resyncs = 0
        self._source: StatusSource | None = None
        self._task: asyncio.Task[None] | None = None
        self._take_changes: Callable[[], list[Change] | None] = lambda: None
        self._to_json = StatusJson()

    @property
    def sent(self) -> int:
        """Successful sends so far."""
        return self._sent

    @property
    def failed(self) -> int:
        """Failed send attempts so far (each retry counts)."""
        return self._failed

    @property
    def whole_sends(self) -> int:
        """Successful sends of the whole status (the first, and after each resync)."""
        return self._wholes

    @property
    def resyncs(self) -> int:
        """Patches the server could not place (their predecessor was missing)."""
        return self._resyncs

    @property
    def sequence(self) -> int:
        """The sequence number of the latest send attempt."""
        return self._sequence

    def start(self, source: StatusSource) -> None:
        """Follow `source`: send its current state now, then every change as described."""
        if self._task is not None:
            raise RuntimeError("StatusSender already started")
        self._source = source
        if isinstance(source, ChangeSource):
            self._take_changes = source.take_changes
        source.on_change(self.notify)
        self._dirty.set()
        self._urgent.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="status-sender")

    def notify(self, structural: bool) -> None:
        """Record a change: it goes out with the next send, at once when nothing is in
        flight; structural ones do not wait for the gap between token-only sends."""
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
            # The gap runs from the start of a send: a send slower than the gap is
            # followed at once by the next (with everything that arrived meanwhile).
            next_send_at = loop.time() + self._interval
            try:
                async with asyncio.timeout(self._send_timeout):  # (no task per send, as wait_for makes)
                    await self._send_newest()
            except _ResyncNeeded:
                self._resyncs += 1
                self._acknowledged = None
                self._urgent.set()  # the whole status goes out at once, no backoff
                continue
            except Exception as exc:
                self._failed += 1
                self._acknowledged = None  # its fate is unknown: the next send is whole
                log.warning(
                    "status send %d failed (retry in %.2fs): %r", self._sequence, backoff, exc
                )
                if urgent:
                    self._urgent.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            else:
                self._sent_version = version
                backoff = self._min_backoff

    async def _send_newest(self) -> None:
        """Send what the newest status adds to the acknowledged one (or all of it)."""
        assert self._source is not None
        incremental = sends_changes(self._channel)
        # The source's own changes build on its previous take, which was the previous
        # send: they build on the acknowledged status while that is known.
        taken = self._take_changes()
        if taken is not None and self._acknowledged is not None and incremental:
            if not taken:
                return  # nothing the server lacks
            if within_patch_bounds(taken):
                await self._send_changes(taken)
                return
        snapshot = self._source.snapshot()  # in the same step as the take: nothing between
        changes: list[Change] = []
        if self._acknowledged is not None and incremental:
            changes = diff_status(self._acknowledged, self._to_json(snapshot))
            if not changes:
                return  # nothing the server lacks
            if not within_patch_bounds(changes):
                self._acknowledged = None  # more than one patch may change: send it whole
        if self._acknowledged is None or not incremental:
            self._sequence += 1
            await self._channel.send_whole(snapshot, self._sequence)
            self._sent += 1
            self._wholes += 1
            if incremental:  # the base of the patches that follow
                self._acknowledged = self._to_json(snapshot)
            return
        await self._send_changes(changes)

    async def _send_changes(self, changes: list[Change]) -> None:
        """Send `changes` as the next patch on top of the acknowledged status."""
        assert self._acknowledged is not None
        self._sequence += 1
        answer = await self._channel.send_changes(changes, self._sequence)
        if answer.resync_needed or (not answer.applied and answer.stored_sequence > self._sequence):
            # A missing predecessor, or another sender got ahead: restart from the whole.
            self._sequence = max(self._sequence, answer.stored_sequence)
            raise _ResyncNeeded
        self._sent += 1
        self._acknowledged = apply_changes(self._acknowledged, changes)


def within_patch_bounds(changes: list[Change]) -> bool:
    """Whether the server takes `changes` as one patch (domain/limits.py)."""
    try:
        check_patch_bounds(changes)
    except InvalidArgument:
        return False
    return True


# The status' lists: their items are converted once and reused while unchanged.
_LIST_FIELDS = ("messages", "tool_calls", "sub_agent_executions")


class StatusJson:
    """`to_json` of successive snapshots, converting only the list items that changed
    since the previous call (an item is known by its list and serialized bytes, which the C
    runtime makes cheaply). The result equals `to_json(status)`; its items are shared
    between calls, so nobody may change them in place (the status_patch functions do
    not)."""

    def __init__(self) -> None:
        # Keyed by field too: items of different types can serialize to the same bytes.
        self._items: dict[tuple[str, bytes], dict[str, Any]] = {}

    def __call__(self, status: api_pb2.AgentExecutionStatus) -> dict[str, Any]:
        lists = [field for field in _LIST_FIELDS if len(getattr(status, field))]
        if not lists:
            self._items = {}
            return to_json(status)
        rest = api_pb2.AgentExecutionStatus()
        rest.CopyFrom(status)
        for field in lists:
            rest.ClearField(field)
        result = to_json(rest)
        items: dict[tuple[str, bytes], dict[str, Any]] = {}
        for field in lists:
            converted = []
            for item in getattr(status, field):
                key = (field, item.SerializeToString(deterministic=True))
                found = items.get(key) or self._items.get(key)
                if found is None:
                    found = to_json(item)
                items[key] = found
                converted.append(found)
            result[field] = converted
        self._items = items
        return result


class _ResyncNeeded(Exception):
    """The server cannot place a patch; send the whole status."""


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Wait until `event` is set or `timeout` seconds pass, whichever comes first."""
    if timeout <= 0:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
