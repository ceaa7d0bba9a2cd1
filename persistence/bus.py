"""Redis event bus: every stored change of an execution, published with its version.

An event is either a whole state (`StateEvent`: a new execution, a spec edit) or a patch
(`PatchEvent`: the status changes that turned version `base_version` into `version`).
"""

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
    def decode(cls, raw: str | bytes) -> StateEvent:
        return decode_event(raw)  # type: ignore[return-value]


@dataclass(frozen=True)
class PatchEvent:
    """The status changes (domain/status_changes.py) that made `version` out of `base_version`."""

    execution_id: str
    version: int
    base_version: int
    changes: list[dict[str, Any]]

    @functools.cached_property
    def data_json(self) -> str:
        """What SSE sends, encoded once for every watcher."""
        return json.dumps(
            {"version": self.version, "base_version": self.base_version, "changes": self.changes},
            separators=(",", ":"), ensure_ascii=False,
        )

    def encode(self) -> str:
        return json.dumps({
            "id": self.execution_id, "version": self.version,
            "base_version": self.base_version, "changes": self.changes,
        }, ensure_ascii=False)


BusEvent = StateEvent | PatchEvent


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
            args=[event.version, event.encode(), _LAST_VERSION_TTL_SECONDS],
        )
        return int(result) >= 0
