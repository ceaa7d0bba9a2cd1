"""The terminal client follows an execution from `state` and `patch` events, against a
real local HTTP server that plays recorded event streams (tests/utils/recorded_server.py)."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
from rich.console import Console

from client.api import MAX_RESYNCS, ApiClient
from client.commands import watch
from tests.utils.recorded_server import (
    EXECUTION_ID,
    RecordedServer,
    body,
    end_event,
    patch_event,
    recorded_server,
    state_event,
)
from tests.utils.status_runs import patch_events, random_run


@pytest.fixture
def server() -> Iterator[RecordedServer]:
    with recorded_server() as recorded:
        yield recorded


def follow(server: RecordedServer) -> list[dict]:
    with ApiClient(server.url, sleep=lambda _: None, reconnect_window=5) as client:
        return list(client.follow(EXECUTION_ID))


@pytest.mark.parametrize("seed", range(4))
def test_follow_applies_patches_to_the_held_state(server: RecordedServer, seed: int) -> None:
    run = random_run(random.Random(seed))
    patches = patch_events(run)
    final = patches[-1]
    server.streams = [state_event(run[0], 1) + b"".join(map(patch_event, patches)) + end_event(run[-1]["phase"])]

    seen = follow(server)

    assert [b["version"] for b in seen] == [1, *(p.version for p in patches)]
    assert [b["status"] for b in seen] == [run[0], *(p.status for p in patches)]
    assert seen[-1]["status"]["phase"] == run[-1]["phase"]
    assert seen[-1]["spec"] == {"message": "plan a trip"}  # the rest of the body is kept
    assert server.asked == [(None, None)]
    assert final.status == dict(run[-1].items())


def test_run_view_shows_the_answer_built_from_patches(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_HUMAN", "content": "hi"}]}
    answer = "Take tram 28 🚋 to Alfama."
    run = [start]
    for end in range(4, len(answer) + 1, 4):
        run.append({**start, "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer[:end]}]})
    run.append({**run[-1], "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer}],
                "phase": "EXECUTION_COMPLETED"})
    patches = patch_events(run)
    assert any("append_text" in c for p in patches for c in p.changes)  # the answer streams as appends
    server.streams = [state_event(start, 1) + b"".join(map(patch_event, patches)) + end_event("EXECUTION_COMPLETED")]
    output = io.StringIO()

    with ApiClient(server.url) as client:
        code = watch(client, body(start, 1), Console(file=output, width=100))

    assert code == 0
    assert answer in output.getvalue() and "COMPLETED" in output.getvalue()


def test_a_missed_patch_reconnects_without_last_event_id_for_a_fresh_state(server: RecordedServer) -> None:
    run = random_run(random.Random(7), steps=12)
    patches = patch_events(run)
    gap = len(patches) // 2
    last = patches[-1]
    server.streams = [
        # The patch to version gap+2 never arrives: the next one starts from a version not held.
        state_event(run[0], 1) + b"".join(map(patch_event, patches[:gap] + patches[gap + 1:])),
        state_event(last.status, last.version) + end_event(run[-1]["phase"]),
    ]

    seen = follow(server)

    assert seen[-1]["status"] == last.status and seen[-1]["version"] == last.version
    assert [b["version"] for b in seen] == [1, *(p.version for p in patches[:gap]), last.version]
    assert server.asked == [(None, None), (None, None)]


def test_a_patch_that_does_not_fit_reconnects_for_a_fresh_state(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "abc"}]}
    done = {**start, "phase": "EXECUTION_COMPLETED"}
    beyond = {"version": 2, "base_version": 1, "changes": [{"append_text": {"offset": 9, "text": "d"}}]}
    server.streams = [
        state_event(start, 1) + patch_event(beyond),
        state_event(done, 3) + end_event("EXECUTION_COMPLETED"),
    ]

    seen = follow(server)

    assert [(b["version"], b["status"]) for b in seen] == [(1, start), (3, done)]
    assert server.asked == [(None, None), (None, None)]


def test_a_dropped_stream_resumes_after_the_last_patch(server: RecordedServer) -> None:
    run = random_run(random.Random(3), steps=10)
    patches = patch_events(run)
    server.streams = [
        state_event(run[0], 1) + b"".join(map(patch_event, patches[:3])),  # drops, no `end`
        b"".join(map(patch_event, patches[2:])) + end_event(run[-1]["phase"]),  # one overlap
    ]

    seen = follow(server)

    assert [b["version"] for b in seen] == [1, *(p.version for p in patches)]  # the overlap is dropped
    assert seen[-1]["status"] == patches[-1].status
    assert server.asked == [(None, None), (str(patches[2].version), None)]


def test_patches_that_never_fit_fall_back_to_whole_states(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "todos": {"a": {"id": "a", "content": "plan"}}}
    done = {**start, "phase": "EXECUTION_CANCELLED"}
    broken = {"version": 2, "base_version": 1, "changes": [{"truncate": {"list": "STATUS_LIST_NOTHING"}}]}
    patching = state_event(start, 1) + patch_event(broken)
    # Asked for whole states only, patches that do not apply are ignored until the next state.
    whole_states = state_event(start, 1) + patch_event(broken) + state_event(done, 2) + end_event("EXECUTION_CANCELLED")
    server.streams = [patching] * MAX_RESYNCS + [whole_states]

    seen = follow(server)

    assert seen[-1]["status"] == done and seen[-2]["status"] == start
    assert server.asked == [(None, None)] * MAX_RESYNCS + [(None, "state")]


def test_plain_state_streams_still_work(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS"}
    done = {"phase": "EXECUTION_COMPLETED", "messages": [{"type": "MESSAGE_AI", "content": "ok"}]}
    server.streams = [state_event(start, 1) + state_event(done, 2) + end_event("EXECUTION_COMPLETED")]

    assert [b["status"] for b in follow(server)] == [start, done]
