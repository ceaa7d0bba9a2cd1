"""The subscription hub: conflation per watcher, one Redis subscription and one MongoDB
check per execution however many watch it."""

from __future__ import annotations

import asyncio
import contextlib
import json

from redis.asyncio import Redis

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from application.executions import WatchEnd
from application.hub import SubscriptionHub
from domain.events import BusEvent, PatchEvent, StateEvent
from persistence.bus import channel_for, encode_event
from stigmer_service.context import ServerContext
from tests.utils.http import serve_app, wait_until
from tests.utils.hub_events import event, stored_as


async def test_many_watchers_share_one_subscription_and_one_check(services) -> None:
    loads = 0

    async def load_state(execution_id: str) -> StateEvent:
        nonlocal loads
        loads += 1
        return event(100 + loads)

    redis = Redis.from_url(services.redis_url)
    hub = SubscriptionHub(redis, load_state, **stored_as(load_state), check_seconds=0.05)
    await hub.start()
    received: list[list[int]] = [[] for _ in range(20)]

    async def watch(index: int, ready: asyncio.Event, done: asyncio.Event) -> None:
        async with hub.watch("aex_hub") as watcher:
            ready.set()
            while not done.is_set():
                news = await watcher.next(0.05)
                if news is not None:
                    received[index].append(news[-1].version)

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


async def _open_hub(redis: Redis, load_state=None, **options) -> SubscriptionHub:
    async def nothing_stored(execution_id: str) -> StateEvent | None:
        return event(1)

    load_state = load_state or nothing_stored
    hub = SubscriptionHub(redis, load_state, **{**stored_as(load_state), **options})
    await hub.start()
    return hub


async def test_watchers_cancelled_while_subscribing_leave_nothing_behind(services) -> None:
    redis = Redis.from_url(services.redis_url)
    hub = await _open_hub(redis, check_seconds=0.05)

    async def watch_forever(execution_id: str) -> None:
        async with hub.watch(execution_id) as watcher:
            await watcher.next()

    try:
        # Clients that leave at every moment of joining: before, during and after Redis
        # confirms the subscription.
        for steps in range(12):
            tasks = [asyncio.create_task(watch_forever(f"aex_churn{i % 3}")) for i in range(6)]
            for _ in range(steps):
                await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert hub.watcher_count() == 0, f"watchers left after {steps} steps"
            assert hub.subscription_count == 0
        channels = [f"stigmer:agent-execution:aex_churn{i}" for i in range(3)]

        async def redis_has_no_subscribers() -> bool:
            return all(count == 0 for _, count in await redis.pubsub_numsub(*channels))

        await wait_until(redis_has_no_subscribers, what="Redis to drop every channel")
    finally:
        await hub.stop()
        await redis.aclose()


async def test_an_idle_hub_sends_redis_almost_nothing(services) -> None:
    redis = Redis.from_url(services.redis_url)
    probe = Redis.from_url(services.redis_url)
    hub = await _open_hub(redis, idle_check_seconds=5.0)

    async def pings() -> int:
        stats = await probe.info("commandstats")
        return int(stats.get("cmdstat_ping", {}).get("calls", 0))

    try:
        await wait_until(lambda: hub.connected, timeout=2, what="the hub to check its connection")
        before = await pings()
        await asyncio.sleep(1.0)  # the measured window itself, not a wait for anything
        assert await pings() - before <= 1
    finally:
        await hub.stop()
        await redis.aclose()
        await probe.aclose()


async def test_malformed_bus_messages_are_dropped_and_delivery_goes_on(services) -> None:
    redis = Redis.from_url(services.redis_url)
    hub = await _open_hub(redis, check_seconds=3600)  # only Redis can deliver here
    channel = "stigmer:agent-execution:aex_hub"
    garbage = [
        b"\xff\xfe", b"null", b"[1]", b"1", b"{}", b'{"id": "aex_hub"}',
        b'{"id": "aex_hub", "version": "x", "body": {}}',
        b'{"id": "aex_hub", "version": 2, "body": []}',
        b'{"id": "aex_other", "version": 2, "body": {}}',
        b'{"id": "aex_hub", "version": 2, "base_version": 1, "changes": {}}',
        b'{"id": "aex_hub", "version": 2, "base_version": 3, "changes": []}',
    ]
    try:
        async with hub.watch("aex_hub") as watcher:
            watcher.resume(0)
            for raw in garbage:
                await redis.publish(channel, raw)
            await redis.publish(channel, encode_event(event(2)))
            news = await watcher.next(5)
            assert news is not None and news[-1].version == 2 and news[-1].body == event(2).body
    finally:
        await hub.stop()
        await redis.aclose()


async def test_the_periodic_check_does_not_re_offer_a_version_already_held(services) -> None:
    redis = Redis.from_url(services.redis_url)

    async def always_version_3(execution_id: str) -> StateEvent:
        return event(3)

    hub = await _open_hub(redis, always_version_3, check_seconds=0.02)
    try:
        async with hub.watch("aex_hub") as watcher:
            assert (await watcher.next(5))[-1].version == 3
            # Many checks run in this window; none brings anything new.
            assert await watcher.next(0.3) is None
    finally:
        await hub.stop()
        await redis.aclose()


async def test_readyz_and_metrics_show_a_hub_loop_that_is_down(context: ServerContext) -> None:
    async with serve_app(context) as api:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["hub-reader"] == "ok"
        await context.hub.stop()  # its loops no longer run
        response = await api.client.get("/readyz")
        metrics_text = (await api.client.get("/metrics")).text
    assert response.status_code == 503
    assert response.json()["checks"]["hub-reader"].startswith("down:")
    assert 'stigmer_background_task_up{task="hub-reader"} 0.0' in metrics_text


async def test_watching_again_right_after_the_last_watcher_left_does_not_wait(services) -> None:
    redis = Redis.from_url(services.redis_url)
    hub = await _open_hub(redis, check_seconds=3600)
    try:
        async with hub.watch("aex_hub"):
            pass
        # The channel is still subscribed (nothing ran in between): Redis sends no new
        # confirmation, and none is needed.
        async with asyncio.timeout(1):  # the confirmation timeout is 2 s
            async with hub.watch("aex_hub") as watcher:
                watcher.resume(0)
                await redis.publish("stigmer:agent-execution:aex_hub", encode_event(event(2)))
                assert (await watcher.next(5))[-1].version == 2
    finally:
        await hub.stop()
        await redis.aclose()


async def test_watching_one_execution_after_another_keeps_the_event_loop_free(services) -> None:
    """The reader once spun without yielding when its view of the subscriptions and the
    connection's disagreed (after one execution's watchers left and another's arrived),
    freezing the whole server."""
    redis = Redis.from_url(services.redis_url)
    hub = await _open_hub(redis, check_seconds=3600)
    try:
        for round_ in range(5):
            execution_id = f"aex_seq{round_}"
            async with hub.watch(execution_id) as watcher:
                watcher.resume(0)
                state = StateEvent(execution_id, 2, {"status": {"phase": "EXECUTION_IN_PROGRESS"}, "version": 2})
                await redis.publish(f"stigmer:agent-execution:{execution_id}", encode_event(state))
                got = await watcher.next(5)
                assert got, f"nothing delivered in round {round_}"
                assert got[-1].version == 2
            # The loop must stay responsive between watches: other tasks get their turns.
            turns = await _turns_of_another_task_during(0.2)
            assert turns > 10, f"event loop stalled after round {round_}: {turns} turns"
    finally:
        await hub.stop()
        await redis.aclose()


async def test_forged_bus_events_that_storage_does_not_back_never_reach_watchers(context: ServerContext, agent) -> None:
    """A forged end at the next version and a forged state far ahead, published on the
    real Redis channel: watchers see neither, and the stored changes still flow."""
    service = context.service
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "hello"
    created, _ = await service.create(request)
    execution_id = created.metadata.id
    channel = channel_for(execution_id)
    redis = Redis.from_url(context.settings.redis_url)
    seen: list[BusEvent | WatchEnd] = []
    try:
        async with contextlib.aclosing(service.watch(execution_id)) as items:
            async for item in items:
                if item is None:
                    continue
                seen.append(item)
                if isinstance(item, WatchEnd):
                    break
                if item.version == 1:
                    forged_end = PatchEvent(execution_id, 2, 1, [
                        {"set": {"phase": "EXECUTION_COMPLETED", "error": "FORGED"}}])
                    far_ahead = StateEvent(execution_id, 1_000_001, {
                        "metadata": {"id": execution_id}, "status": {"phase": "EXECUTION_IN_PROGRESS"},
                        "version": 1_000_001})
                    await redis.publish(channel, encode_event(forged_end))
                    await redis.publish(channel, encode_event(far_ahead))
                    await service.update_status(
                        execution_id, api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS))
                elif item.version == 2:
                    final = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
                    final.messages.add(type=enum_pb2.MESSAGE_AI, content="the real answer")
                    await service.update_status(execution_id, final)
    finally:
        await redis.aclose()
    events = [item for item in seen if not isinstance(item, WatchEnd)]
    assert [e.version for e in events] == [1, 2, 3]
    assert "FORGED" not in json.dumps([encode_event(e) for e in events])
    assert seen[-1] == WatchEnd("EXECUTION_COMPLETED")
    stored = await service.get(execution_id)
    assert stored.status.version == 3 and stored.status.messages[0].content == "the real answer"


async def _turns_of_another_task_during(seconds: float) -> int:
    """How often a task that only yields got to run while this one slept `seconds`."""
    turns = 0

    async def yielding() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(yielding())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return turns


async def test_a_bus_event_ahead_of_storage_waits_for_it_and_is_then_applied(services) -> None:
    """A live stream publishes before it stores: a watcher in another process holding the
    stored state gets the published patches once storage has caught up, not never."""
    redis = Redis.from_url(services.redis_url)
    stored = {"state": event(1)}

    async def load_state(execution_id: str) -> StateEvent:
        return stored["state"]

    hub = await _open_hub(redis, load_state, check_seconds=60)
    try:
        async with hub.watch("aex_hub") as watcher:
            assert [e.version for e in await watcher.next(5)] == [1]
            # A stream elsewhere published 2 and 3 and has not stored them yet; this
            # process holds 1 and gets only 3: ahead of what it holds and of storage.
            ahead = PatchEvent("aex_hub", 3, 2, [{"set": {"error": "three"}}])
            await redis.publish(channel_for("aex_hub"), encode_event(ahead))
            assert await watcher.next(0.3) is None  # waiting for storage, not applied
            stored["state"] = StateEvent(
                "aex_hub", 3, {"status": {"phase": "EXECUTION_IN_PROGRESS", "error": "three"}, "version": 3}
            )  # the stream's batch is stored
            news = await watcher.next(5)
            assert news is not None and news[-1].version == 3
            assert news[-1].body["status"]["error"] == "three"  # type: ignore[union-attr]
    finally:
        await hub.stop()
        await redis.aclose()
