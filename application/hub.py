"""Fan-out of execution changes to local watchers: one Redis subscription and one
periodic MongoDB check per execution per process, however many clients watch it
(ARCHITECTURE.md, "Watching").

Per watched execution the hub holds the current state (the REST body) and a log of the
recent patches, bounded in bytes. Each bus patch is applied to the held state; one that
does not follow it (a version gap, a change that does not fit) reloads the state from
MongoDB. Watchers hold no queue: each remembers the version it has delivered and, when
woken, takes the patches since then from the log, or the whole current state when the
log no longer reaches back that far (a slow watcher costs a fresh state, never a
backlog). A new watcher of an execution already watched is served from memory.

Anyone who can publish on Redis can put events on a channel, so the hub trusts an event
from the bus only as far as storage backs it: the next version that does not end the
execution is applied at once (the common, cheap case); an event that jumps past the
held version or ends the execution waits until MongoDB confirms it (its version is
stored, and for an end, the stored phase is that end; a live stream stores what it
published within its interval, so a version not yet stored may wait a few seconds),
and is dropped otherwise. A forged end cannot close streams on a result that was never
stored, and a forged far-ahead version cannot freeze a feed.

Clients' tasks only ever change in-memory state here (register, leave), with no await
between the two, so a client that leaves at any moment leaves nothing behind. Redis
commands run in the bus subscription's own supervised tasks (persistence/bus.py): it
subscribes the channels of the watched executions, reports each confirmation and event,
and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from redis.asyncio import Redis

from domain.errors import NotFound
from domain.events import BusEvent, PatchEvent, StateEvent, with_patch
from domain.status_changes import encoded_size
from domain.status_rules import is_terminal
from infra import metrics
from persistence.bus import BusSubscription

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT = 2.0
# Recent patches kept per watched execution, for watchers catching up and resumes.
PATCH_LOG_BYTES = 1024 * 1024
# Patches held while the state is (re)loaded; beyond this the load alone catches up.
MAX_HELD_PATCHES = 1000

# Reads the stored state of an execution; None when it no longer exists.
LoadState = Callable[[str], Awaitable[StateEvent | None]]
# Reads only the stored version of an execution; None when it no longer exists.
LoadVersion = Callable[[str], Awaitable[int | None]]
# Reads the stored version and phase name of an execution; None when it no longer exists.
LoadHead = Callable[[str], Awaitable[tuple[int, str] | None]]
# Events waiting for storage's confirmation per feed; beyond this they are dropped.
MAX_UNCONFIRMED = 1000
# How long a bus event ahead of storage may wait for it (a live stream stores at least
# every PERSIST_INTERVAL_MS), and how often storage is asked meanwhile.
CONFIRM_WINDOW_SECONDS = 3.0
CONFIRM_RETRY_SECONDS = 0.1


def state_phase(state: StateEvent | None) -> str:
    return (state.body.get("status") or {}).get("phase", "") if state else ""


def ending_phase(event: BusEvent) -> str:
    """The terminal phase `event` ends its execution in, or ""."""
    if isinstance(event, StateEvent):
        phase = state_phase(event)
        return phase if isinstance(phase, str) and is_terminal(phase) else ""
    for change in event.changes:
        fields = change.get("set") if isinstance(change, dict) else None
        value = fields.get("phase") if isinstance(fields, dict) else None
        if isinstance(value, str) and is_terminal(value):
            return value
    return ""


class Watcher:
    """One client's view of a feed: the version it has delivered, nothing else."""

    __slots__ = ("_feed", "_states_only", "_waiter", "version")

    def __init__(self, feed: _Feed, *, states_only: bool = False) -> None:
        self._feed = feed
        self._states_only = states_only  # whole states only (conflated), no patches
        self.version = -1  # the newest version delivered
        # A future only while the client waits: idle watchers stay small (1,000s per process).
        self._waiter: asyncio.Future[None] | None = None

    @property
    def gone(self) -> bool:
        """The execution was deleted."""
        return self._feed.gone

    @property
    def state(self) -> StateEvent | None:
        return self._feed.state

    def resume(self, after_version: int) -> Sequence[BusEvent]:
        """What a client that has seen `after_version` (0: nothing) is missing now."""
        feed_version = self._feed.version
        self.version = after_version if 0 < after_version <= feed_version else -1
        return self._take()

    def ended(self) -> str | None:
        """The terminal phase, once everything up to it was delivered."""
        phase = state_phase(self._feed.state)
        return phase if self.version >= self._feed.version and is_terminal(phase) else None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _take(self) -> Sequence[BusEvent]:
        feed = self._feed
        if feed.state is None or feed.version <= self.version:
            return []
        items: Sequence[BusEvent] | None = None
        if not self._states_only and self.version >= 0:
            items = feed.patches_after(self.version)
        if items is None:
            items = [feed.state]
        self.version = items[-1].version
        return items

    async def next(self, timeout: float | None = None) -> Sequence[BusEvent] | None:
        """What is new since the last call (patches in order, or one fresh state); None
        after `timeout` seconds without news, or once the execution is gone."""
        items = self._take()
        if not items and not self.gone:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                # that lands as the wait completes; a leaving client must stop this at once.
                async with asyncio.timeout(timeout):
                    await self._waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
            items = self._take()
        return items or None


class _Feed:
    """Everything this process holds for one watched execution."""

    def __init__(self, execution_id: str, reload: Callable[[_Feed], None]) -> None:
        self.execution_id = execution_id
        self.watchers: set[Watcher] = set()
        self.confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.checker: asyncio.Task[None] | None = None
        self.loader: asyncio.Task[None] | None = None  # a (re)load of the state in flight
        self.confirmer: asyncio.Task[None] | None = None  # a storage confirmation in flight
        self.stored_version = -1  # the newest version storage is known to hold
        self.unconfirmed: list[BusEvent] = []  # bus events waiting for `confirmer`
        self.state: StateEvent | None = None
        self.version = -1  # the version of `state`
        self.gone = False
        self._reload = reload
        self._log: deque[tuple[PatchEvent, int]] = deque()  # each patch with its size
        self._log_bytes = 0
        self._held: list[PatchEvent] = []  # patches that came while the state was loading

    def offer(self, event: BusEvent) -> None:
        if isinstance(event, StateEvent):
            self.set_state(event)
        elif self.state is None or self.loader is not None:
            if len(self._held) < MAX_HELD_PATCHES:
                self._held.append(event)
        elif event.version > self.version:
            if not self._apply(event):
                self._held.append(event)
                self._reload(self)
            self._wake()

    def set_state(self, state: StateEvent) -> None:
        """A whole state (loaded, or published): newer than the held one replaces it."""
        if state.version > self.version:
            self.state, self.version = state, state.version
            self._log.clear()  # the log must lead, without a gap, up to `state`
            self._log_bytes = 0
        held, self._held = sorted(self._held, key=lambda p: p.version), []
        for patch in held:
            if patch.version > self.version and not self._apply(patch):
                break  # the next periodic check or patch finds the gap again
        self._wake()

    def _apply(self, patch: PatchEvent) -> bool:
        """Apply a patch that follows the held state; False when it does not."""
        if self.state is None or patch.base_version != self.version:
            return False
        try:
            self.state = with_patch(self.state, patch)
        except Exception as exc:  # does not fit (a missed patch) or malformed: reload
            log.info("patch v%s of %s does not apply: %s", patch.version, self.execution_id, exc)
            return False
        self.version = patch.version
        size = encoded_size(patch.changes)
        self._log.append((patch, size))
        self._log_bytes += size
        while self._log_bytes > PATCH_LOG_BYTES and len(self._log) > 1:
            self._log_bytes -= self._log.popleft()[1]
        return True

    def patches_after(self, version: int) -> list[PatchEvent] | None:
        """The logged patches from `version` up to the held state; None when the log no
        longer reaches back to `version`."""
        if not self._log or self._log[0][0].base_version > version:
            return None
        items: list[PatchEvent] = []
        for patch, _ in reversed(self._log):
            if patch.version <= version:
                break
            items.append(patch)
        items.reverse()
        return items if items and items[0].base_version == version else None

    def close(self) -> None:
        self.gone = True
        self._wake()

    def _wake(self) -> None:
        for watcher in self.watchers:
            watcher.wake()

    def trusted_at_once(self, event: BusEvent) -> bool:
        """The next version, not an end, with nothing waiting before it (module doc)."""
        if self.unconfirmed or ending_phase(event):
            return False
        return event.version <= max(self.stored_version, self.version + 1 if self.state is not None else -1)

    def cancel_tasks(self) -> None:
        for task in (self.checker, self.loader, self.confirmer):
            if task is not None:
                task.cancel()


class SubscriptionHub:
    def __init__(
        self,
        redis: Redis,
        load_state: LoadState,
        *,
        load_version: LoadVersion,
        load_head: LoadHead,
        check_seconds: float = 2.0,
        idle_check_seconds: float = 5.0,
    ) -> None:
        self._load_state = load_state
        self._load_version = load_version
        self._load_head = load_head
        self._check_seconds = check_seconds
        self._feeds: dict[str, _Feed] = {}
        self._bus = BusSubscription(
            redis,
            wanted=lambda: self._feeds.keys(),
            on_confirmed=self._confirmed,
            on_event=self._from_bus,
            idle_check_seconds=idle_check_seconds,
            task_prefix="hub",
        )

    @property
    def connected(self) -> bool:
        """Whether the bus's connection answered at its last use."""
        return self._bus.connected

    @property
    def subscription_count(self) -> int:
        return len(self._feeds)

    def watcher_count(self, execution_id: str | None = None) -> int:
        if execution_id is not None:
            feed = self._feeds.get(execution_id)
            return len(feed.watchers) if feed else 0
        return sum(len(f.watchers) for f in self._feeds.values())

    def task_states(self) -> dict[str, str]:
        """Each background task of the hub: `ok` or why it is down (for /readyz)."""
        return self._bus.task_states()

    async def start(self) -> None:
        self._bus.start()

    async def stop(self) -> None:
        for feed in self._feeds.values():
            feed.cancel_tasks()
        await self._bus.stop()

    @contextlib.asynccontextmanager
    async def watch(self, execution_id: str, *, states_only: bool = False) -> AsyncIterator[Watcher]:
        """Register a watcher once Redis confirmed the subscription (or is down) and the
        state is held (read from MongoDB only if no one here watches it yet). NotFound
        when the execution does not exist."""
        feed = self._feeds.get(execution_id)
        if feed is None:
            feed = self._feeds[execution_id] = _Feed(execution_id, self._start_reload)
            metrics.HUB_SUBSCRIPTIONS.set(len(self._feeds))
            feed.checker = asyncio.create_task(self._check_forever(feed))
            self._bus.wanted_changed()
        watcher = Watcher(feed, states_only=states_only)
        feed.watchers.add(watcher)
        metrics.ACTIVE_WATCHERS.inc()
        try:
            if not feed.confirmed.done():
                # Race-free watching needs the subscription live before the snapshot is
                # read; if Redis is away, the MongoDB checks keep watchers converging.
                # (asyncio.wait neither cancels the shared future nor swallows a cancel.)
                await asyncio.wait({feed.confirmed}, timeout=SUBSCRIBE_CONFIRM_TIMEOUT)
            if feed.state is None:
                if feed.loader is None:
                    self._start_reload(feed)
                assert feed.loader is not None
                loader = feed.loader
                await asyncio.wait({loader})
                if loader.exception() is not None:
                    raise loader.exception()  # type: ignore[misc]
            if feed.state is None or feed.gone:
                raise NotFound(f"agent execution {execution_id!r} not found")
            yield watcher
        finally:
            self._leave(execution_id, feed, watcher)

    def _leave(self, execution_id: str, feed: _Feed, watcher: Watcher) -> None:
        """Synchronous on purpose: nothing can interrupt it half-way."""
        metrics.ACTIVE_WATCHERS.dec()
        feed.watchers.discard(watcher)
        if not feed.watchers and self._feeds.get(execution_id) is feed:
            del self._feeds[execution_id]
            metrics.HUB_SUBSCRIPTIONS.set(len(self._feeds))
            feed.cancel_tasks()
            self._bus.wanted_changed()  # the bus unsubscribes

    def _start_reload(self, feed: _Feed) -> None:
        """Read the state from MongoDB once, however many ask (single flight)."""
        if feed.loader is None:
            feed.loader = asyncio.create_task(self._reload(feed))

    async def _reload(self, feed: _Feed) -> None:
        try:
            state = await self._load_state(feed.execution_id)
        finally:
            feed.loader = None
        if state is None:
            feed.close()
        else:
            feed.stored_version = max(feed.stored_version, state.version)
            feed.set_state(state)

    def _offer(self, feed: _Feed, event: BusEvent) -> None:
        """Hand a bus event to its feed once it can be trusted (module doc)."""
        if isinstance(event, PatchEvent) and event.version != event.base_version + 1:
            log.warning("dropping bus patch v%s of %s: not one version after its base",
                        event.version, feed.execution_id)
            return
        if feed.trusted_at_once(event):
            feed.offer(event)
            return
        if len(feed.unconfirmed) < MAX_UNCONFIRMED:
            feed.unconfirmed.append(event)
        if feed.confirmer is None:
            feed.confirmer = asyncio.create_task(self._confirm(feed))

    async def _confirm(self, feed: _Feed) -> None:
        """Offer the waiting events that storage backs; drop the others. One read covers
        every event that arrived before it started. A live stream publishes before it
        stores (application/live_status.py), so an event that does not end the execution
        may wait up to `CONFIRM_WINDOW_SECONDS` for storage to reach it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_WINDOW_SECONDS
        try:
            while feed.unconfirmed:
                events, feed.unconfirmed = feed.unconfirmed, []
                try:
                    head = await self._load_head(feed.execution_id)
                except Exception as exc:  # storage away: the periodic check catches up later
                    log.warning("confirming bus events of %s failed: %s", feed.execution_id, exc)
                    head = None
                stored_version, stored_phase = head if head is not None else (-1, "")
                feed.stored_version = max(feed.stored_version, stored_version)
                waiting: list[BusEvent] = []
                for event in events:
                    ends = ending_phase(event)
                    if event.version <= stored_version and (not ends or ends == stored_phase):
                        feed.offer(event)
                    elif head is not None and not ends and loop.time() < deadline:
                        waiting.append(event)  # a live stream stores it within its interval
                    else:
                        metrics.BUS_EVENTS_REFUSED.inc()
                        log.warning(
                            "dropping bus event v%s of %s: storage holds v%s (%s)",
                            event.version, feed.execution_id, stored_version, stored_phase or "nothing",
                        )
                if waiting:
                    feed.unconfirmed = waiting + feed.unconfirmed
                    await asyncio.sleep(CONFIRM_RETRY_SECONDS)
        finally:
            feed.confirmer = None

    async def _check_forever(self, feed: _Feed) -> None:
        """MongoDB is the truth: now and then compare its version with the held one, once
        for all watchers, and reload the state when it moved without the bus saying so
        (publishes lost while Redis was away, a replica's patch dropped as a gap)."""
        ahead = -1  # a stored version seen ahead of the held one at the previous check
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                version = await self._load_version(feed.execution_id)
            except Exception as exc:  # storage away (or a bad document): try next round
                log.warning("state check of %s failed: %s", feed.execution_id, exc)
                continue
            if version is None:
                feed.close()
                return
            feed.stored_version = max(feed.stored_version, version)
            # A patch may be on its way: reload only when Redis is away, or when the
            # feed still lags a version already stored one check ago.
            if version > feed.version and (not self.connected or feed.version < ahead):
                self._start_reload(feed)
                ahead = -1
            else:
                ahead = version if version > feed.version else -1

    def deliver_local(self, event: BusEvent) -> None:
        """An event this process stored or published: its watchers here get it at once,
        without the round trip through Redis (whose copy then finds it held)."""
        feed = self._feeds.get(event.execution_id)
        if feed is not None:
            feed.offer(event)  # true as it is: no confirmation from storage needed

    def _confirmed(self, execution_id: str) -> None:
        """Redis confirmed the subscription of this execution's channel."""
        feed = self._feeds.get(execution_id)
        if feed is not None and not feed.confirmed.done():
            feed.confirmed.set_result(None)

    def _from_bus(self, execution_id: str, event: BusEvent) -> None:
        feed = self._feeds.get(execution_id)
        if feed is not None:
            self._offer(feed, event)
