"""Redis event bus: every stored change of an execution (domain/events.py), published
with its version (`EventBus`), and one process's subscription to the executions it
watches (`BusSubscription`): subscribe, confirm, read, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.events import BusEvent, PatchEvent, StateEvent
from infra.background import SupervisedTask

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "stigmer:agent-execution:"
READ_TIMEOUT_SECONDS = 1.0
REDIS_RETRY_MAX_SECONDS = 2.0
_LAST_VERSION_PREFIX = "stigmer:agent-execution-version:"
_LAST_VERSION_TTL_SECONDS = 24 * 3600

# Publish only if this version is newer than the last one published for the execution,
# so replicas racing each other can never put an older state after a newer one.
_PUBLISH_IF_NEWER = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > last then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return redis.call('PUBLISH', KEYS[2], ARGV[2])
end
return -1
"""


def channel_for(execution_id: str) -> str:
    return CHANNEL_PREFIX + execution_id


def encode_event(event: BusEvent) -> str:
    """An event as its bus message (JSON)."""
    if isinstance(event, PatchEvent):
        return json.dumps({
            "id": event.execution_id, "version": event.version,
            "base_version": event.base_version, "changes": event.changes,
        }, ensure_ascii=False)
    return json.dumps({"id": event.execution_id, "version": event.version, "body": event.body})


def decode_event(raw: str | bytes) -> BusEvent:
    """A bus message as its event; ValueError (or KeyError/TypeError) when malformed."""
    data = json.loads(raw)
    version = int(data["version"])
    if "changes" in data:
        base, changes = int(data["base_version"]), data["changes"]
        if not isinstance(changes, list) or not 0 <= base < version:
            raise ValueError("a patch needs a list of changes and base_version < version")
        return PatchEvent(str(data["id"]), version, base, changes)
    if not isinstance(data["body"], dict):
        raise ValueError("a state's body must be an object")
    return StateEvent(str(data["id"]), version, data["body"])


class EventBus:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publish_script = redis.register_script(_PUBLISH_IF_NEWER)

    async def publish(self, event: BusEvent) -> bool:
        """True when published; False when a newer state was already out."""
        result = await self._publish_script(
            keys=[_LAST_VERSION_PREFIX + event.execution_id, channel_for(event.execution_id)],
            args=[event.version, encode_event(event), _LAST_VERSION_TTL_SECONDS],
        )
        return int(result) >= 0


class BusSubscription:
    """One Redis subscription per process for the executions it watches: the channels
    subscribed follow `wanted()` (call `wanted_changed` when it changes), each
    confirmation from Redis goes to `on_confirmed(execution_id)` and each well-formed
    event to `on_event(execution_id, event)`. Anyone who can publish on Redis can put
    anything on a channel: malformed events, and events of another execution, are
    dropped here; whether an event is true is the receiver's to check.

    Two supervised tasks run the Redis commands: the reader (and the connection check
    while nothing is subscribed), and the syncer that makes the subscribed channels match
    the wanted ones. A lost connection is replaced, and every wanted channel subscribed
    on the new one."""

    def __init__(
        self,
        redis: Redis,
        *,
        wanted: Callable[[], Iterable[str]],
        on_confirmed: Callable[[str], None],
        on_event: Callable[[str, BusEvent], None],
        idle_check_seconds: float = 5.0,
        task_prefix: str = "bus",
    ) -> None:
        self._redis = redis
        self._wanted = wanted
        self._on_confirmed = on_confirmed
        self._on_event = on_event
        self._idle_check_seconds = idle_check_seconds
        self._pubsub = redis.pubsub()
        self._subscribed: set[str] = set()  # channels subscribed on the current connection
        self._confirmed: set[str] = set()  # ... and confirmed by Redis
        self._wanted_changed = asyncio.Event()
        self._has_channels = asyncio.Event()
        self._lock = asyncio.Lock()  # one Redis command sequence on the connection at a time
        self._tasks = (
            SupervisedTask(f"{task_prefix}-reader", self._read_forever),
            SupervisedTask(f"{task_prefix}-channel-sync", self._sync_forever),
        )
        self.connected = False

    def wanted_changed(self) -> None:
        self._wanted_changed.set()

    def task_states(self) -> dict[str, str]:
        """Each background task: `ok` or why it is down (for /readyz)."""
        return {task.name: task.state for task in self._tasks}

    def start(self) -> None:
        for task in self._tasks:
            task.start()

    async def stop(self) -> None:
        for task in self._tasks:
            await task.stop()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    async def _sync_forever(self) -> None:
        """Make the subscribed channels match the wanted ones, whenever they change."""
        backoff = 0.1
        while True:
            await self._wanted_changed.wait()
            self._wanted_changed.clear()
            try:
                async with self._lock:
                    await self._sync_channels()
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning("redis (un)subscribe failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX_SECONDS)
                self._wanted_changed.set()

    async def _sync_channels(self) -> None:
        wanted_ids = list(self._wanted())
        wanted = {channel_for(execution_id) for execution_id in wanted_ids}
        if added := wanted - self._subscribed:
            await self._pubsub.subscribe(*added)
            self._subscribed |= added
        if removed := self._subscribed - wanted:
            await self._pubsub.unsubscribe(*removed)
            self._subscribed -= removed
            self._confirmed -= removed
        # A channel wanted again while it stayed subscribed gets no new confirmation
        # from Redis: the one already received stands for it.
        for execution_id in wanted_ids:
            if channel_for(execution_id) in self._confirmed:
                self._on_confirmed(execution_id)
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
                    except TimeoutError:
                        await self._redis.ping()
                    else:
                        if not self._pubsub.subscribed:
                            # Our view and the connection's disagree (a confirmation
                            # raced a change): have the syncer subscribe again, and
                            # never spin meanwhile (a set Event's wait does not yield).
                            await self._resync_channels()
                        continue
                self.connected = True
                backoff = 0.1
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("redis subscription lost: %s", exc)
                self.connected = False
                await self._reconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX_SECONDS)

    async def _resync_channels(self) -> None:
        async with self._lock:
            self._subscribed = {
                c.decode() if isinstance(c, bytes) else str(c) for c in self._pubsub.channels
            }
            self._confirmed &= self._subscribed
            if not self._subscribed:
                self._has_channels.clear()
            self._wanted_changed.set()
        await asyncio.sleep(0.05)

    async def _reconnect(self) -> None:
        """A fresh connection; the syncer subscribes every wanted channel on it again."""
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._redis.pubsub()
            self._subscribed.clear()
            self._confirmed.clear()
            self._has_channels.clear()
            self._wanted_changed.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not channel.startswith(CHANNEL_PREFIX):
            return
        execution_id = channel.removeprefix(CHANNEL_PREFIX)
        if message["type"] == "subscribe":
            self._confirmed.add(channel)
            self._on_confirmed(execution_id)
            return
        if message["type"] == "unsubscribe":
            self._confirmed.discard(channel)
            return
        if message["type"] != "message":
            return
        try:
            event = decode_event(message["data"])
            if event.execution_id != execution_id:
                raise ValueError("not an event of this channel's execution")
        except Exception as exc:  # anyone can publish on a channel: never trust its shape
            log.warning("dropping malformed bus event on %s: %s", channel, exc)
            return
        self._on_event(execution_id, event)
