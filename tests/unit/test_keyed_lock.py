"""KeyedLocks: one lock per key, dropped when nobody holds or waits for it."""

from __future__ import annotations

import asyncio
import contextlib

from infra.keyed_lock import KeyedLocks


async def test_callers_of_one_key_run_one_at_a_time_and_the_entry_goes_after() -> None:
    locks = KeyedLocks()
    inside = 0
    most = 0

    async def use() -> None:
        nonlocal inside, most
        async with locks.hold("a"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(use() for _ in range(5)))
    assert most == 1
    assert len(locks) == 0


async def test_a_waiter_cancelled_before_it_gets_the_lock_leaves_nothing() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()

    async def hold_until_released() -> None:
        async with locks.hold("a"):
            await release.wait()

    holder = asyncio.create_task(hold_until_released())
    waiter = asyncio.create_task(hold_until_released())
    await asyncio.sleep(0)
    assert locks.users("a") == 2
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    assert locks.users("a") == 1
    release.set()
    await holder
    assert len(locks) == 0


async def test_an_error_inside_releases_the_key() -> None:
    locks = KeyedLocks()
    with contextlib.suppress(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with asyncio.timeout(1):
        async with locks.hold("a"):
            pass
