"""Fan-out of bus events to local watchers: one Redis subscription per execution per
process, however many clients watch it (DESIGN §4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from persistence.bus import CHANNEL_PREFIX, StateEvent, channel_for
from stigmer_service import metrics

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT = 2.0


class Watcher:
    """One client's view: holds only the newest state (slow clients get conflation)."""

    def __init__(self) -> None:
        self._latest: StateEvent | None = None
        self._ready = asyncio.Event()

    def offer(self, event: StateEvent) -> None:
        if self._latest is None or event.version > self._latest.version:
            self._latest = event
            self._ready.set()

    async def next(self, timeout: float) -> StateEvent | None:
        """The newest state offered since the last call, or None after `timeout`."""
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # lands as the wait completes, and a leaving client must stop this at once.
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return None
        self._ready.clear()
        event, self._latest = self._latest, None
        return event


class SubscriptionHub:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._watchers: dict[str, set[Watcher]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._pubsub = redis.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.connected = False

    @property
    def subscription_count(self) -> int:
        return len(self._watchers)

    def watcher_count(self, execution_id: str | None = None) -> int:
        if execution_id is not None:
            return len(self._watchers.get(execution_id, ()))
        return sum(len(w) for w in self._watchers.values())

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="subscription-hub")

    async def stop(self) -> None:
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
        watchers = self._watchers.setdefault(execution_id, set())
        watchers.add(watcher)
        metrics.ACTIVE_WATCHERS.inc()
        if len(watchers) == 1:
            metrics.HUB_SUBSCRIPTIONS.set(len(self._watchers))
            self._confirmations[channel] = asyncio.get_running_loop().create_future()
            async with self._lock:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(channel)
        confirmed = self._confirmations.get(channel)
        if confirmed is not None and not confirmed.done():
            # Race-free watching needs the subscription live before the snapshot is read;
            # if Redis is away, watchers fall back to MongoDB checks instead.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_CONFIRM_TIMEOUT)
        try:
            yield watcher
        finally:
            metrics.ACTIVE_WATCHERS.dec()
            watchers.discard(watcher)
            if not watchers and self._watchers.get(execution_id) is watchers:
                del self._watchers[execution_id]
                self._confirmations.pop(channel, None)
                metrics.HUB_SUBSCRIPTIONS.set(len(self._watchers))
                async with self._lock:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._pubsub.subscribed:
                    channels = [channel_for(i) for i in self._watchers]
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
        if message["type"] == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if message["type"] != "message" or not channel.startswith(CHANNEL_PREFIX):
            return
        try:
            event = StateEvent.decode(message["data"])
        except (ValueError, KeyError) as exc:
            log.warning("dropping malformed bus event on %s: %s", channel, exc)
            return
        for watcher in self._watchers.get(event.execution_id, ()):
            watcher.offer(event)
