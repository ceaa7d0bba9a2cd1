"""Fan-out of execution states to local watchers: one Redis subscription and one
periodic MongoDB check per execution per process, however many clients watch it
(DESIGN §4).

Clients' tasks only ever change in-memory state here (register, leave), with no await
between the two, so a client that leaves at any moment leaves nothing behind. Redis
commands run in the hub's own supervised tasks: the reader, and the channel syncer that
makes the subscribed channels match the watched executions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import metrics
from core.background import SupervisedTask
from persistence.bus import CHANNEL_PREFIX, StateEvent, channel_for

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT = 2.0
READ_TIMEOUT_SECONDS = 1.0
REDIS_RETRY_MAX_SECONDS = 2.0

# Reads the stored state of an execution; None when it no longer exists.
LoadState = Callable[[str], Awaitable[StateEvent | None]]


class Watcher:
    """One client's view: holds only the newest state (slow clients get conflation), and
    never the same version twice (a periodic check re-reading it is not news)."""

    __slots__ = ("_latest", "_version", "_waiter", "gone")

    def __init__(self) -> None:
        self._latest: StateEvent | None = None
        self._version = -1  # the newest version ever offered
        # A future only while the client waits: idle watchers stay small (1,000s per process).
        self._waiter: asyncio.Future[None] | None = None
        self.gone = False  # the execution was deleted

    def offer(self, event: StateEvent) -> None:
        if event.version > self._version:
            self._version = event.version
            self._latest = event
            self._wake()

    def close(self) -> None:
        self.gone = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> StateEvent | None:
        """The newest state offered since the last call; None after `timeout` seconds
        without one, or once the execution is gone (then `gone` is set)."""
        if self._latest is None and not self.gone:
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
        event, self._latest = self._latest, None
        return event


class _Feed:
    """Everything this process holds for one watched execution."""

    def __init__(self) -> None:
        self.watchers: set[Watcher] = set()
        self.confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.checker: asyncio.Task[None] | None = None
        self.version = -1  # the newest version offered to the watchers

    def offer(self, event: StateEvent) -> None:
        if event.version <= self.version:
            return
        self.version = event.version
        for watcher in self.watchers:
            watcher.offer(event)


class SubscriptionHub:
    def __init__(
        self,
        redis: Redis,
        load_state: LoadState,
        *,
        check_seconds: float = 2.0,
        idle_check_seconds: float = 5.0,
    ) -> None:
        self._redis = redis
        self._load_state = load_state
        self._check_seconds = check_seconds
        self._idle_check_seconds = idle_check_seconds
        self._feeds: dict[str, _Feed] = {}
        self._pubsub = redis.pubsub()
        self._subscribed: set[str] = set()  # channels subscribed on the current connection
        self._confirmed: set[str] = set()  # ... and confirmed by Redis
        self._feeds_changed = asyncio.Event()
        self._has_channels = asyncio.Event()
        self._lock = asyncio.Lock()  # one Redis command sequence on the connection at a time
        self._tasks = (
            SupervisedTask("hub-reader", self._read_forever),
            SupervisedTask("hub-channel-sync", self._sync_forever),
        )
        self.connected = False

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
        return {task.name: task.state for task in self._tasks}

    async def start(self) -> None:
        for task in self._tasks:
            task.start()

    async def stop(self) -> None:
        for feed in self._feeds.values():
            if feed.checker:
                feed.checker.cancel()
        for task in self._tasks:
            await task.stop()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    @contextlib.asynccontextmanager
    async def watch(self, execution_id: str) -> AsyncIterator[Watcher]:
        """Register a watcher; returns once Redis confirmed the subscription (or is down)."""
        watcher = Watcher()
        feed = self._feeds.get(execution_id)
        if feed is None:
            feed = self._feeds[execution_id] = _Feed()
            metrics.HUB_SUBSCRIPTIONS.set(len(self._feeds))
            feed.checker = asyncio.create_task(self._check_forever(execution_id, feed))
            self._feeds_changed.set()
        feed.watchers.add(watcher)
        metrics.ACTIVE_WATCHERS.inc()
        try:
            if not feed.confirmed.done():
                # Race-free watching needs the subscription live before the snapshot is
                # read; if Redis is away, the MongoDB checks keep watchers converging.
                # (asyncio.wait neither cancels the shared future nor swallows a cancel.)
                await asyncio.wait({feed.confirmed}, timeout=SUBSCRIBE_CONFIRM_TIMEOUT)
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
            if feed.checker:
                feed.checker.cancel()
            self._feeds_changed.set()  # the syncer unsubscribes

    async def _check_forever(self, execution_id: str, feed: _Feed) -> None:
        """MongoDB is the truth: now and then, offer its state to the execution's watchers
        (covers publishes lost while Redis was away), once for all of them."""
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                event = await self._load_state(execution_id)
            except Exception as exc:  # storage away (or a bad document): try next round
                log.warning("state check of %s failed: %s", execution_id, exc)
                continue
            if event is None:
                for watcher in feed.watchers:
                    watcher.close()
                return
            feed.offer(event)

    async def _sync_forever(self) -> None:
        """Make the subscribed channels match the watched executions, whenever they change."""
        backoff = 0.1
        while True:
            await self._feeds_changed.wait()
            self._feeds_changed.clear()
            try:
                async with self._lock:
                    await self._sync_channels()
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning("redis (un)subscribe failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX_SECONDS)
                self._feeds_changed.set()

    async def _sync_channels(self) -> None:
        wanted = {channel_for(execution_id) for execution_id in self._feeds}
        if added := wanted - self._subscribed:
            await self._pubsub.subscribe(*added)
            self._subscribed |= added
        if removed := self._subscribed - wanted:
            await self._pubsub.unsubscribe(*removed)
            self._subscribed -= removed
            self._confirmed -= removed
        # A feed opened again on a channel that stayed subscribed gets no new
        # confirmation from Redis: the one already received stands for it.
        for execution_id, feed in self._feeds.items():
            if not feed.confirmed.done() and channel_for(execution_id) in self._confirmed:
                feed.confirmed.set_result(None)
        if self._subscribed:
            self._has_channels.set()
        else:
            self._has_channels.clear()

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self._pubsub.subscribed:
                    message = await self._pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
                    if message is not None:
                        self._dispatch(message)
                elif not self.connected:
                    await self._redis.ping()  # starting or recovering: check at once
                else:
                    # Nothing to read: wait for a channel, checking the connection now
                    # and then rather than polling Redis.
                    try:
                        async with asyncio.timeout(self._idle_check_seconds):
                            await self._has_channels.wait()
                        continue
                    except TimeoutError:
                        await self._redis.ping()
                self.connected = True
                backoff = 0.1
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("redis subscription lost: %s", exc)
                self.connected = False
                await self._reconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX_SECONDS)

    async def _reconnect(self) -> None:
        """A fresh connection; the syncer subscribes every watched channel on it again."""
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._redis.pubsub()
            self._subscribed.clear()
            self._confirmed.clear()
            self._has_channels.clear()
            self._feeds_changed.set()

    def _dispatch(self, message: dict) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not channel.startswith(CHANNEL_PREFIX):
            return
        if message["type"] == "subscribe":
            self._confirmed.add(channel)
        elif message["type"] == "unsubscribe":
            self._confirmed.discard(channel)
        execution_id = channel.removeprefix(CHANNEL_PREFIX)
        feed = self._feeds.get(execution_id)
        if feed is None:
            return
        if message["type"] == "subscribe":
            if not feed.confirmed.done():
                feed.confirmed.set_result(None)
            return
        if message["type"] != "message":
            return
        try:
            event = StateEvent.decode(message["data"])
            if event.execution_id != execution_id or not isinstance(event.body, dict):
                raise ValueError("not a state of this channel's execution")
        except Exception as exc:  # anyone can publish on a channel: never trust its shape
            log.warning("dropping malformed bus event on %s: %s", channel, exc)
            return
        feed.offer(event)
