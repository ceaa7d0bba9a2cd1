"""SupervisedTask: a background loop that fails is logged, restarted and reported."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from infra.background import SupervisedTask


def metric(name: str, task: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"task": task})


async def test_a_failing_loop_is_logged_restarted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0
    recovered = asyncio.Event()
    failed = asyncio.Event()
    resume = asyncio.Event()

    async def flaky_loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            failed.set()
            await resume.wait()
            raise TypeError("a message of the wrong shape")
        recovered.set()
        await asyncio.Event().wait()  # runs for good

    task = SupervisedTask("test-flaky", flaky_loop)
    assert task.state == "down: not started"
    task.start()
    try:
        await asyncio.wait_for(failed.wait(), 2)
        assert task.state == "ok"
        assert metric("stigmer_background_task_up", "test-flaky") == 1
        with caplog.at_level(logging.ERROR, logger="infra.background"):
            resume.set()
            await asyncio.wait_for(recovered.wait(), 5)
        assert runs == 2 and task.restarts == 1
        assert task.state == "ok"
        assert metric("stigmer_background_task_restarts_total", "test-flaky") == 1
        assert any("test-flaky" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        await task.stop()
    assert task.state == "down: stopped"
    assert metric("stigmer_background_task_up", "test-flaky") == 0


async def test_a_loop_that_keeps_failing_is_reported_down_between_restarts() -> None:
    attempts = 0

    async def broken_loop() -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("broken for good")

    task = SupervisedTask("test-broken", broken_loop)
    task.start()
    try:
        async with asyncio.timeout(5):
            while task.state == "ok" or task.state.endswith("not started"):
                await asyncio.sleep(0.01)
        assert task.state == "down: RuntimeError: broken for good"
        assert metric("stigmer_background_task_up", "test-broken") == 0
        async with asyncio.timeout(5):
            while attempts < 3:  # and it keeps trying
                await asyncio.sleep(0.01)
    finally:
        await task.stop()
