"""Fan-out of execution states to local watchers: one Redis subscription and one
periodic MongoDB check per execution per process, however many clients watch it
(DESIGN §4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import metrics
from persistence.bus import CHANNEL_PREFIX, StateEvent, channel_for

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT = 2.0

# Reads the stored state of an execution; None when it no longer exists.
LoadState = Callable[[str], Awaitable[StateEvent | None]]


class Watcher:
    """One client's view: holds only the newest state (slow clients get conflation)."""

    __slots__ = ("_latest", "_waiter", "gone")

    def __init__(self) -> None:
        self._latest: StateEvent | None = None
        # A future only while the client waits: idle watchers stay small (1,000s per process).
        self._waiter: asyncio.Future[None] | None = None
        self.gone = False  # the execution was deleted

    def offer(self, event: StateEvent) -> None:
        if self._latest is None or event.version > self._latest.version:
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

    def offer(self, event: StateEvent) -> None:
        for watcher in self.watchers:
            watcher.offer(event)


class SubscriptionHub:
    def __init__(self, redis: Redis, load_state: LoadState, *, check_seconds: float = 2.0) -> None:
        self._redis = redis
        self._load_state = load_state
        self._check_seconds = check_seconds
        self._feeds: dict[str, _Feed] = {}
        self._pubsub = redis.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # serialises (un)subscribe commands on the connection
        self.connected = False

    @property
    def subscription_count(self) -> int:
        return len(self._feeds)

    def watcher_count(self, execution_id: str | None = None) -> int:
        if execution_id is not None:
            feed = self._feeds.get(execution_id)
            return len(feed.watchers) if feed else 0
        return sum(len(f.watchers) for f in self._feeds.values())

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="subscription-hub")

    async def stop(self) -> None:
        for feed in self._feeds.values():
            if feed.checker:
                feed.checker.cancel()
        if self._reader:
            # Cancel until it really ends: on Python 3.11, redis-py's socket-timeout
            # `asyncio.wait_for` swallows a cancel that lands as a command completes
            # (CPython gh-86296), and the loop would carry on forever.
            while not self._reader.done():
                self._reader.cancel()
                await asyncio.wait({self._reader}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    @contextlib.asynccontextmanager
    async def watch(self, execution_id: str) -> AsyncIterator[Watcher]:
        """Register a watcher; returns once Redis confirmed the subscription (or is down)."""
        watcher = Watcher()
        channel = channel_for(execution_id)
        feed = self._feeds.get(execution_id)
        if feed is None:
            feed = self._feeds[execution_id] = _Feed()
            metrics.HUB_SUBSCRIPTIONS.set(len(self._feeds))
            feed.checker = asyncio.create_task(self._check_forever(execution_id, feed))
            async with self._lock:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(channel)
        feed.watchers.add(watcher)
        metrics.ACTIVE_WATCHERS.inc()
        if not feed.confirmed.done():
            # Race-free watching needs the subscription live before the snapshot is read;
            # if Redis is away, the MongoDB checks keep watchers converging instead.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(feed.confirmed), SUBSCRIBE_CONFIRM_TIMEOUT)
        try:
            yield watcher
        finally:
            metrics.ACTIVE_WATCHERS.dec()
            feed.watchers.discard(watcher)
            if not feed.watchers and self._feeds.get(execution_id) is feed:
                del self._feeds[execution_id]
                metrics.HUB_SUBSCRIPTIONS.set(len(self._feeds))
                if feed.checker:
                    feed.checker.cancel()
                async with self._lock:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)

    async def _check_forever(self, execution_id: str, feed: _Feed) -> None:
        """MongoDB is the truth: now and then, offer its state to the execution's watchers
        (covers publishes lost while Redis was away), once for all of them."""
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                event = await self._load_state(execution_id)
            except Exception as exc:  # storage away: try again next round
                log.warning("state check of %s failed: %s", execution_id, exc)
                continue
            if event is None:
                for watcher in feed.watchers:
                    watcher.close()
                return
            feed.offer(event)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._pubsub.subscribed:
                    channels = [channel_for(i) for i in self._feeds]
                    if channels:
                        async with self._lock:
                            await self._pubsub.subscribe(*channels)
                if not self._pubsub.subscribed:
                    # Nothing to read yet; get_message would return at once.
                    await self._redis.ping()
                    self.connected = True
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                self.connected = True
                backoff = 0.1
                if message is not None:
                    self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("redis subscription lost: %s", exc)
                self.connected = False
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                self._pubsub = self._redis.pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _dispatch(self, message: dict) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not channel.startswith(CHANNEL_PREFIX):
            return
        feed = self._feeds.get(channel.removeprefix(CHANNEL_PREFIX))
        if feed is None:
            return
        if message["type"] == "subscribe":
            if not feed.confirmed.done():
                feed.confirmed.set_result(None)
            return
        if message["type"] != "message":
            return
        try:
            feed.offer(StateEvent.decode(message["data"]))
        except (ValueError, KeyError) as exc:
            log.warning("dropping malformed bus event on %s: %s", channel, exc)
