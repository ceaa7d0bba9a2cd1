"""StatusSender: throttled, conflating, retrying background sends of the newest status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from runner.status_sender import StatusSender


class CountingSource:
    """A status source whose state is one counter (shown as the status' error text)."""

    def __init__(self) -> None:
        self.value = 0
        self._listeners: list[Callable[[bool], None]] = []

    def snapshot(self) -> api_pb2.AgentExecutionStatus:
        return api_pb2.AgentExecutionStatus(error=str(self.value))

    def on_change(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def bump(self, structural: bool = False) -> None:
        self.value += 1
        for listener in self._listeners:
            listener(structural)


class Recorder:
    """A `send` that records (sequence, counter) and can fail its first attempts."""

    def __init__(self, source: CountingSource, failures: int = 0) -> None:
        self.source = source
        self.failures = failures
        self.attempts: list[tuple[int, int]] = []
        self.delivered: list[tuple[int, int]] = []

    async def __call__(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        self.attempts.append((sequence, int(status.error)))
        if len(self.attempts) <= self.failures:
            self.source.bump()  # the agent moves on while the server is unreachable
            raise ConnectionError("server unavailable")
        self.delivered.append((sequence, int(status.error)))


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before deadline"
        await asyncio.sleep(0.002)


def started(recorder: Recorder, interval: float, **options: float) -> StatusSender:
    sender = StatusSender(recorder, interval, **options)  # type: ignore[arg-type]
    sender.start(recorder.source)
    return sender


async def test_token_changes_are_sent_at_most_once_per_interval() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    interval = 0.1
    sender = started(recorder, interval)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i in range(1000):
        source.bump()
        if i % 20 == 19:
            await asyncio.sleep(0.01)  # pacing the simulated token stream, ~0.5 s in all
    elapsed = loop.time() - began
    assert await sender.close()

    # The initial state, one send per elapsed interval, and the final state.
    assert 3 <= sender.sent <= 2 + int(elapsed / interval) + 1 <= 9
    assert recorder.delivered[-1] == (sender.sequence, 1000)


async def test_structural_change_is_sent_immediately_despite_the_interval() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=30.0)
    await eventually(lambda: len(recorder.delivered) == 1)
    source.bump()
    source.bump()
    source.bump(structural=True)
    await eventually(lambda: len(recorder.delivered) == 2, timeout=1.0)
    assert recorder.delivered[1][1] == 3
    await sender.close()


async def test_final_state_is_sent_on_close_even_within_the_interval() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=30.0)
    await eventually(lambda: len(recorder.delivered) == 1)
    for _ in range(5):
        source.bump()
    assert await asyncio.wait_for(sender.close(), timeout=1.0)
    assert recorder.delivered[-1][1] == 5
    assert sender.sent == 2


async def test_close_sends_once_even_without_changes() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    sender = StatusSender(recorder, 30.0)
    sender.start(source)
    assert await sender.close()
    assert recorder.delivered and recorder.delivered[-1][1] == 0


async def test_failed_sends_are_retried_with_the_newest_state() -> None:
    source = CountingSource()
    recorder = Recorder(source, failures=3)
    sender = started(recorder, interval=0.01, min_backoff=0.01, max_backoff=0.04)
    await eventually(lambda: len(recorder.delivered) == 1)
    assert [value for _, value in recorder.attempts] == [0, 1, 2, 3]
    assert recorder.delivered == [recorder.attempts[-1]]
    assert (sender.failed, sender.sent) == (3, 1)
    assert await sender.close()


async def test_sequence_strictly_increases_across_attempts() -> None:
    source = CountingSource()
    recorder = Recorder(source, failures=2)
    sender = started(recorder, interval=0.01, min_backoff=0.01)
    await eventually(lambda: sender.sent == 1)
    for expected in range(2, 6):
        source.bump(structural=True)
        await eventually(lambda n=expected: sender.sent == n)
    await sender.close()
    assert sender.failed == 2
    sequences = [sequence for sequence, _ in recorder.attempts]
    assert sequences == sorted(set(sequences))
    assert sequences[-1] == sender.sequence


async def test_explicit_first_sequence_is_used_and_default_is_clock_based() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.01, first_sequence=1)
    await sender.close()
    assert recorder.delivered[0][0] == 1

    later = started(Recorder(CountingSource()), interval=0.01)
    await later.close()
    assert later.sequence > 1_600_000_000 * 1_000_000  # microseconds since the epoch


async def test_close_is_bounded_when_the_server_stays_down() -> None:
    source = CountingSource()
    recorder = Recorder(source, failures=10**9)
    sender = started(recorder, interval=0.01, min_backoff=0.01, close_timeout=0.2)
    began = asyncio.get_running_loop().time()
    assert not await sender.close()
    assert asyncio.get_running_loop().time() - began < 1.0
    assert sender.failed >= 1 and sender.sent == 0


async def test_hanging_send_times_out_and_is_retried() -> None:
    source = CountingSource()
    hung = asyncio.Event()
    delivered: list[int] = []

    async def send(status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        if not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # never returns
        delivered.append(int(status.error))

    sender = StatusSender(send, 0.01, send_timeout=0.05, min_backoff=0.01)
    sender.start(source)
    await eventually(lambda: bool(delivered))
    assert sender.failed == 1
    assert await sender.close()
