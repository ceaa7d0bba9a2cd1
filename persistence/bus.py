"""Redis event bus: every stored change of an execution (domain/events.py), published
with its version."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from domain.events import BusEvent, PatchEvent, StateEvent

CHANNEL_PREFIX = "stigmer:agent-execution:"
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
