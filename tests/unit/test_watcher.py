"""The hub's watchers as pure objects: conflation, patches since a version, fresh states
when the log no longer reaches back, never a version twice (no services needed)."""

from __future__ import annotations

import asyncio

from application import hub as hub_module
from application.hub import Watcher, _Feed
from domain.events import PatchEvent, StateEvent
from tests.utils.hub_events import event, feed_with_watcher, patch


async def test_a_slow_watcher_gets_only_the_newest_state() -> None:
    feed, watcher = feed_with_watcher()
    for version in (1, 2, 3, 5):
        feed.offer(event(version))
    feed.offer(event(4))  # older than what is held: ignored
    assert [e.version for e in await watcher.next(1)] == [5]
    assert await watcher.next(0.01) is None  # nothing new: idle
    assert not watcher.gone


async def test_a_watcher_behind_gets_the_patches_since_its_version_in_order() -> None:
    feed, watcher = feed_with_watcher()
    feed.offer(event(1))
    assert watcher.resume(0) == [feed.state]
    for version in (2, 3, 4):
        feed.offer(patch(version, f"text {version}"))
    news = await watcher.next(1)
    assert [(type(e), e.version) for e in news] == [(PatchEvent, 2), (PatchEvent, 3), (PatchEvent, 4)]
    contents = [m["content"] for m in feed.state.body["status"]["messages"]]
    assert contents == ["text 2", "text 3", "text 4"] and feed.state.version == 4


async def test_a_watcher_that_fell_behind_the_patch_log_gets_one_fresh_state(monkeypatch) -> None:
    monkeypatch.setattr(hub_module, "PATCH_LOG_BYTES", 300)  # about three patches
    feed, watcher = feed_with_watcher()
    feed.offer(event(1))
    watcher.resume(0)
    for version in range(2, 12):
        feed.offer(patch(version, "x" * 50))
    news = await watcher.next(1)
    assert [(type(e), e.version) for e in news] == [(StateEvent, 11)]
    assert len(news[0].body["status"]["messages"]) == 10
    # A resume the log still covers gets patches; one it does not, the state.
    assert [e.version for e in Watcher(feed).resume(10)] == [11]
    assert [type(e) for e in Watcher(feed).resume(2)] == [StateEvent]


async def test_states_only_watchers_never_get_patches() -> None:
    feed, watcher = feed_with_watcher(states_only=True)
    feed.offer(event(1))
    watcher.resume(0)
    feed.offer(patch(2, "a"))
    feed.offer(patch(3, "b"))
    news = await watcher.next(1)
    assert [(type(e), e.version) for e in news] == [(StateEvent, 3)]


async def test_a_patch_that_does_not_follow_the_held_state_asks_for_a_reload() -> None:
    reloads: list[_Feed] = []
    feed = _Feed("aex_hub", reloads.append)
    feed.offer(event(1))
    feed.offer(patch(3, "gap"))  # version 2 never came
    assert reloads == [feed] and feed.version == 1
    feed.offer(PatchEvent("aex_hub", 2, 1, [{"append_text": {"index": 7, "offset": 3, "text": "x"}}]))
    assert feed.version == 1  # does not fit: the state stays as it was


async def test_a_closed_watcher_reports_the_execution_gone() -> None:
    feed, watcher = feed_with_watcher()
    waiting = asyncio.create_task(watcher.next())
    await asyncio.sleep(0)
    feed.close()
    assert await waiting is None
    assert watcher.gone


async def test_a_watcher_never_hands_out_a_version_twice() -> None:
    feed, watcher = feed_with_watcher()
    feed.offer(event(4))
    assert [e.version for e in await watcher.next(1)] == [4]
    feed.offer(event(4))  # the same state again (a periodic check)
    feed.offer(event(3))
    assert await watcher.next(0.01) is None
