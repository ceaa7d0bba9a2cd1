"""Redis event bus: every stored execution state, published with its version."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

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


@dataclass(frozen=True)
class StateEvent:
    """One stored state of an execution as it travels over the bus."""

    execution_id: str
    version: int
    body: dict[str, Any]  # the REST/SSE body (convert.execution_to_body)

    @functools.cached_property
    def body_json(self) -> str:
        """The body as compact JSON, encoded once however many watchers send it."""
        return json.dumps(self.body, separators=(",", ":"))

    def encode(self) -> str:
        return json.dumps({"id": self.execution_id, "version": self.version, "body": self.body})

    @classmethod
    def decode(cls, raw: str | bytes) -> "StateEvent":
        data = json.loads(raw)
        return cls(data["id"], int(data["version"]), data["body"])


class EventBus:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publish_script = redis.register_script(_PUBLISH_IF_NEWER)

    async def publish(self, event: StateEvent) -> bool:
        """True when published; False when a newer state was already out."""
        result = await self._publish_script(
            keys=[_LAST_VERSION_PREFIX + event.execution_id, channel_for(event.execution_id)],
            args=[event.version, event.encode(), _LAST_VERSION_TTL_SECONDS],
        )
        return int(result) >= 0
