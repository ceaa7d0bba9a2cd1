"""The subscription hub: conflation per watcher, one Redis subscription and one MongoDB
check per execution however many watch it."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from core.hub import SubscriptionHub, Watcher
from persistence.bus import StateEvent
from tests.integration.http_fixtures import wait_until


def event(version: int, phase: str = "EXECUTION_IN_PROGRESS") -> StateEvent:
    return StateEvent("aex_hub", version, {"status": {"phase": phase}, "version": version})


async def test_a_slow_watcher_gets_only_the_newest_state() -> None:
    watcher = Watcher()
    for version in (2, 3, 5):
        watcher.offer(event(version))
    watcher.offer(event(4))  # older than what is held: ignored
    assert (await watcher.next(1)).version == 5
    assert await watcher.next(0.01) is None  # nothing new: idle
    assert not watcher.gone


async def test_a_closed_watcher_reports_the_execution_gone() -> None:
    watcher = Watcher()
    waiting = asyncio.create_task(watcher.next())
    await asyncio.sleep(0)
    watcher.close()
    assert await asyncio.wait_for(waiting, 1) is None
    assert watcher.gone


async def test_many_watchers_share_one_subscription_and_one_check(services) -> None:
    loads = 0

    async def load_state(execution_id: str) -> StateEvent:
        nonlocal loads
        loads += 1
        return event(100 + loads)

    redis = Redis.from_url(services.redis_url)
    hub = SubscriptionHub(redis, load_state, check_seconds=0.05)
    await hub.start()
    received: list[list[int]] = [[] for _ in range(20)]

    async def watch(index: int, ready: asyncio.Event, done: asyncio.Event) -> None:
        async with hub.watch("aex_hub") as watcher:
            ready.set()
            while not done.is_set():
                news = await watcher.next(0.05)
                if news is not None:
                    received[index].append(news.version)

    done = asyncio.Event()
    readies = [asyncio.Event() for _ in received]
    tasks = [asyncio.create_task(watch(i, readies[i], done)) for i in range(20)]
    try:
        for ready in readies:
            await ready.wait()
        assert hub.subscription_count == 1 and hub.watcher_count("aex_hub") == 20
        numsub = dict(await redis.pubsub_numsub("stigmer:agent-execution:aex_hub"))
        assert numsub[b"stigmer:agent-execution:aex_hub"] == 1
        await wait_until(lambda: all(r and r[-1] >= 105 for r in received), what="five checks")
        # Five rounds reached all 20 watchers with about five reads; one check per
        # watcher would have made at least a hundred.
        assert loads < 40
    finally:
        done.set()
        await asyncio.gather(*tasks)
        await wait_until(lambda: hub.subscription_count == 0, what="the feed to close")
        await hub.stop()
        await redis.aclose()
