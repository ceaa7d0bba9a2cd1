"""Small hub events and a feed with one watcher, for the hub's tests."""

from __future__ import annotations

from application.hub import Watcher, _Feed
from domain.events import PatchEvent, StateEvent


def event(version: int, phase: str = "EXECUTION_IN_PROGRESS") -> StateEvent:
    return StateEvent("aex_hub", version, {"status": {"phase": phase}, "version": version})


def feed_with_watcher(**options) -> tuple[_Feed, Watcher]:
    reloads: list[_Feed] = []
    feed = _Feed("aex_hub", reloads.append)
    watcher = Watcher(feed, **options)
    feed.watchers.add(watcher)
    return feed, watcher


def patch(version: int, text: str) -> PatchEvent:
    changes = [{"put_message": {"index": version - 2, "message": {"type": "MESSAGE_AI", "content": text}}}]
    return PatchEvent("aex_hub", version, version - 1, changes)
