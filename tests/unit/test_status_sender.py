"""StatusSender: prompt, conflating, retrying background sends of what the newest
status adds to the acknowledged one (the whole status first and after a resync)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings, strategies as st

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, patch_pb2
from domain.convert import to_json
from domain.limits import MAX_PATCH_CHANGES
from domain.status_changes import apply_changes, diff_status, encoded_size
from runner.service_client import patch_message
from runner.status_builder import StatusBuilder
from runner.status_sender import StatusChannel, StatusSender
from tests.utils.agent_events import STEPS, ScriptedRun


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
    """A `StatusChannel` standing in for the server: it applies patches only on top of
    their predecessor (else answers `resync_needed`), records (sequence, counter) of
    each attempt, and can fail its first attempts."""

    def __init__(self, source: CountingSource, failures: int = 0) -> None:
        self.source = source
        self.failures = failures
        self.attempts: list[tuple[int, int]] = []
        self.delivered: list[tuple[int, int]] = []
        self.kinds: list[str] = []  # "whole" or "patch", per delivered send
        self.patch_bytes = 0
        self.resync_at: set[int] = set()  # sequences answered with resync_needed
        self.lose_answer_at: set[int] = set()  # stored, but the answer never arrives
        self.status: dict = {}
        self.stored_sequence = 0

    def _attempt(self, sequence: int, value: int) -> None:
        self.attempts.append((sequence, value))
        if len(self.attempts) <= self.failures:
            self.source.bump()  # the agent moves on while the server is unreachable
            raise ConnectionError("server unavailable")

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        self._attempt(sequence, int(status.error))
        new = to_json(status)
        self.status = apply_changes(self.status, diff_status(self.status, new))
        self._stored(sequence, "whole")

    async def send_changes(
        self, changes: list[dict], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        after = apply_changes(self.status, changes)
        self._attempt(sequence, int(after.get("error", "0")))
        if sequence in self.resync_at or sequence != self.stored_sequence + 1:
            return patch_pb2.AgentExecutionStatusPatchResult(
                resync_needed=True, stored_sequence=self.stored_sequence
            )
        self.status = after
        self.patch_bytes += encoded_size(changes)
        self._stored(sequence, "patch")
        return patch_pb2.AgentExecutionStatusPatchResult(applied=True, stored_sequence=sequence)

    def _stored(self, sequence: int, kind: str) -> None:
        self.stored_sequence = sequence
        self.delivered.append((sequence, int(self.status.get("error", "0"))))
        self.kinds.append(kind)
        if sequence in self.lose_answer_at:
            raise ConnectionError("answer lost")


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before deadline"
        await asyncio.sleep(0.002)


def started(recorder: Recorder, interval: float, **options: float) -> StatusSender:
    sender = StatusSender(recorder, interval, **options)
    sender.start(recorder.source)
    return sender


class GatedRecorder(Recorder):
    """A Recorder whose sends are held in flight while `gate` is clear."""

    def __init__(self, source: CountingSource) -> None:
        super().__init__(source)
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()  # set once a send waits at the gate

    async def _hold(self) -> None:
        if not self.gate.is_set():
            self.holding.set()
            await self.gate.wait()

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        await self._hold()
        await super().send_whole(status, sequence)

    async def send_changes(
        self, changes: list[dict], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        await self._hold()
        return await super().send_changes(changes, sequence)


async def test_a_token_goes_out_at_once_when_no_send_is_in_flight() -> None:
    source = CountingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.0)
    await eventually(lambda: len(recorder.delivered) == 1)
    for n in range(1, 4):
        source.bump()  # a token-only change, nothing in flight: no waiting for anything
        await eventually(lambda n=n: recorder.delivered[-1][1] == n)
    assert sender.sent == 4
    assert await sender.close()
    assert sender.sent == 4


async def test_changes_made_while_a_send_is_in_flight_ride_on_the_next_send() -> None:
    source = CountingSource()
    recorder = GatedRecorder(source)
    sender = started(recorder, interval=0.0)
    await recorder.holding.wait()  # the initial state is in flight
    for _ in range(100):
        source.bump()
    recorder.gate.set()
    await eventually(lambda: len(recorder.delivered) == 2)
    assert recorder.delivered[1][1] == 100  # one send carries all hundred
    assert await sender.close()
    assert sender.sent == 2


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
    # Bounded by close_timeout, whatever the retries: well within this deadline.
    assert not await asyncio.wait_for(sender.close(), timeout=30)
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


class StreamingSource(CountingSource):
    """An AI answer streamed in chunks: the status grows with the run."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def snapshot(self) -> api_pb2.AgentExecutionStatus:
        status = super().snapshot()
        status.messages.add(type=2, content=self.text)  # MESSAGE_AI
        return status

    def stream(self, chunk: str) -> None:
        self.text += chunk
        self.bump(structural=True)


def test_a_recorder_is_a_status_channel() -> None:
    assert isinstance(Recorder(CountingSource()), StatusChannel)


async def test_after_the_first_whole_status_only_changes_are_sent() -> None:
    source = StreamingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.01)
    for n in range(1, 6):
        source.stream(f"chunk {n}. ")
        await eventually(lambda: recorder.status.get("error") == str(source.value))
    assert await sender.close()
    assert recorder.kinds == ["whole"] + ["patch"] * (len(recorder.kinds) - 1) and len(recorder.kinds) > 1
    assert recorder.status == to_json(source.snapshot())
    assert sender.whole_sends == 1


async def test_resync_answer_makes_the_next_send_the_whole_status() -> None:
    source = StreamingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.01, first_sequence=1)
    await eventually(lambda: recorder.kinds == ["whole"])
    recorder.resync_at = {2}
    source.stream("a")
    await eventually(lambda: len(recorder.kinds) == 2)
    source.stream("b")
    assert await sender.close()
    assert recorder.kinds == ["whole", "whole", "patch"]
    assert [sequence for sequence, _ in recorder.attempts] == [1, 2, 3, 4]
    assert (sender.resyncs, sender.failed) == (1, 0)
    assert recorder.status == to_json(source.snapshot())


async def test_send_whose_answer_was_lost_is_followed_by_the_whole_status() -> None:
    source = StreamingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.01, first_sequence=1, min_backoff=0.01)
    await eventually(lambda: recorder.kinds == ["whole"])
    recorder.lose_answer_at = {2}
    source.stream("stored, but the runner never heard so")
    await eventually(lambda: len(recorder.kinds) == 3)
    source.stream(" and on")
    assert await sender.close()
    assert recorder.kinds == ["whole", "patch", "whole", "patch"]
    assert sender.failed == 1
    assert recorder.status == to_json(source.snapshot())


async def test_each_send_costs_the_size_of_the_change_not_of_the_status() -> None:
    source = StreamingSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.0)
    chunk = "x" * 50
    for _ in range(200):
        source.stream(chunk)
        await eventually(lambda: recorder.status.get("error") == str(source.value))
    assert await sender.close()
    whole_each_time = sum(encoded_size(chunk * n) for n in range(1, 201))  # what snapshots cost
    final_size = encoded_size(to_json(source.snapshot()))
    assert recorder.kinds.count("patch") >= 199  # the first chunk may ride on the whole status
    # Each patch: the counter and the chunk (~115 bytes); whole snapshots: ~1 MB in all.
    assert recorder.patch_bytes < 3 * final_size < whole_each_time / 30


async def test_server_ends_with_the_final_status_despite_resyncs_and_lost_answers() -> None:
    troubles = 0
    for seed in range(5):
        rng = random.Random(seed)
        source = StreamingSource()
        recorder = Recorder(source)
        recorder.resync_at = {s for s in range(2, 60) if rng.random() < 0.2}
        recorder.lose_answer_at = {s for s in range(2, 60) if rng.random() < 0.1}
        sender = started(recorder, interval=0.0, first_sequence=1, min_backoff=0.001, max_backoff=0.002)
        for n in range(30):
            source.stream(f"{n} ")
            if rng.random() < 0.7:  # else the next chunk conflates with this one
                await eventually(lambda: recorder.status.get("error") == str(source.value))
        assert await sender.close()
        assert recorder.status == to_json(source.snapshot()), seed
        troubles += sender.resyncs + sender.failed
    assert troubles >= 5  # the schedules did hit sends


class ToolCallSource(CountingSource):
    """A status whose tool calls all appear in one step."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def snapshot(self) -> api_pb2.AgentExecutionStatus:
        status = super().snapshot()
        for n in range(self.calls):
            status.tool_calls.add(id=f"c{n}", name="clock")
        return status


async def test_a_step_that_changes_more_than_one_patch_may_is_sent_whole() -> None:
    source = ToolCallSource()
    recorder = Recorder(source)
    sender = started(recorder, interval=0.01)
    await eventually(lambda: recorder.kinds == ["whole"])
    source.calls = 3
    source.bump(structural=True)
    await eventually(lambda: len(recorder.kinds) == 2)
    source.calls = 3 + MAX_PATCH_CHANGES + 1  # more changes than the server takes in one patch
    source.bump(structural=True)
    await eventually(lambda: len(recorder.kinds) == 3)
    assert await sender.close()
    assert recorder.kinds == ["whole", "patch", "whole"]
    assert recorder.status == to_json(source.snapshot())


# -- with the StatusBuilder, whose streamed text comes as changes -------------------


class ApplyingServer:
    """A `StatusChannel` that holds the status as a client applying the patches would
    (whole statuses merged by the rules, patches applied only on their predecessor),
    answers `resync_needed` or loses answers at chosen sequences, and counts sends."""

    def __init__(self) -> None:
        self.status: dict = {}
        self.stored_sequence = 0
        self.kinds: list[str] = []
        self.resync_at: set[int] = set()
        self.lose_answer_at: set[int] = set()
        self.fail_at: set[int] = set()

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        self._refuse(sequence)
        self.status = apply_changes(self.status, diff_status(self.status, to_json(status)))
        self._stored(sequence, "whole")

    async def send_changes(
        self, changes: list[dict], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        self._refuse(sequence)
        if sequence in self.resync_at or sequence != self.stored_sequence + 1:
            return patch_pb2.AgentExecutionStatusPatchResult(
                resync_needed=True, stored_sequence=self.stored_sequence
            )
        self.status = apply_changes(self.status, changes)
        self._stored(sequence, "patch")
        return patch_pb2.AgentExecutionStatusPatchResult(applied=True, stored_sequence=sequence)

    def _refuse(self, sequence: int) -> None:
        if sequence in self.fail_at:
            raise ConnectionError("server unavailable")

    def _stored(self, sequence: int, kind: str) -> None:
        self.stored_sequence = sequence
        self.kinds.append(kind)
        if sequence in self.lose_answer_at:
            raise ConnectionError("answer lost")


class CountedSnapshots(StatusBuilder):
    """A StatusBuilder that counts the snapshots others take of it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.snapshots = 0

    def snapshot(self) -> api_pb2.AgentExecutionStatus:
        self.snapshots += 1
        return super().snapshot()

    def state(self) -> dict:
        """The status' proto JSON (not counted)."""
        return to_json(super().snapshot())


async def test_a_token_only_send_takes_no_snapshot_and_sends_appends() -> None:
    builder = CountedSnapshots("question")
    server = ApplyingServer()
    sender = StatusSender(server, 0.0, first_sequence=1)
    sender.start(builder)
    run = ScriptedRun(builder)
    builder.mark_in_progress()
    run.step("token")  # a new message: diffed from a snapshot
    await eventually(lambda: server.status == builder.state())
    snapshots, patches = builder.snapshots, server.kinds.count("patch")
    for _ in range(50):
        run.step("token")
        await eventually(lambda: server.status == builder.state())
    assert builder.snapshots == snapshots
    assert server.kinds.count("patch") == patches + 50
    assert await sender.close()
    assert server.status == builder.state()
    assert server.kinds.count("whole") == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.sampled_from([*STEPS, *["wait"] * 8]), max_size=80),
    troubles=st.lists(st.sampled_from(["resync", "lost", "fail", *[None] * 9]), max_size=40),
)
async def test_the_server_applies_its_way_to_the_builders_status(
    steps: list[str], troubles: list[str | None]
) -> None:
    """A run of any shape, sends conflated or not, patches refused, answers lost, sends
    failed: what the server holds, applying what it was sent, is the builder's status."""
    builder = CountedSnapshots("question")
    server = ApplyingServer()
    for sequence, trouble in enumerate(troubles, start=2):
        if trouble is not None:
            {"resync": server.resync_at, "lost": server.lose_answer_at, "fail": server.fail_at}[trouble].add(sequence)
    sender = StatusSender(server, 0.0, first_sequence=1, min_backoff=0.0001, max_backoff=0.0002)
    sender.start(builder)
    run = ScriptedRun(builder)
    builder.mark_in_progress()
    for step in steps:
        if step == "wait":  # let the sender catch up, or not (the next steps conflate)
            for _ in range(10):
                await asyncio.sleep(0)
        else:
            run.step(step)
    run.finish()
    assert await sender.close()
    assert server.status == builder.state()


def test_a_patch_message_equals_the_parse_of_its_json() -> None:
    changes = [
        {"set": {"phase": "EXECUTION_IN_PROGRESS"}},
        {"append_text": {"index": 1, "offset": 12, "text": " Lisbon ☀"}},
        {"append_text": {"index": 2, "text": "first"}},
        {"put_sub_agent": {"sub_agent": {"id": "c1", "output": "facts"}}},
        {"put_sub_agent": {"index": 2, "sub_agent": {"id": "c3", "status": "SUB_AGENT_COMPLETED", "output": "☀"}}},
        {"put_sub_agent": {"index": 1, "sub_agent": {"id": "c2", "metadata": {"k": "v"}}}},
        {"put_todo": {"key": "todo-1", "todo": {"content": "x", "status": "TODO_PENDING"}}},
    ]
    parsed = json_format.ParseDict(
        {"execution_id": "aex_1", "sequence": "17", "changes": changes}, patch_pb2.AgentExecutionStatusPatch()
    )
    assert patch_message("aex_1", 17, changes) == parsed
