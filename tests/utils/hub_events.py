"""Small hub events and a feed with one watcher, for the hub's tests."""

from __future__ import annotations

from typing import Any

from application.hub import LoadState, Watcher, _Feed, state_phase
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


def stored_as(load_state: LoadState) -> dict[str, Any]:
    """The hub's version and head readers, answered from what `load_state` returns."""

    async def load_version(execution_id: str) -> int | None:
        state = await load_state(execution_id)
        return None if state is None else state.version

    async def load_head(execution_id: str) -> tuple[int, str] | None:
        state = await load_state(execution_id)
        return None if state is None else (state.version, state_phase(state))

    return {"load_version": load_version, "load_head": load_head}
