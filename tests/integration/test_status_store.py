"""The status store against the real Mongo wire server: patches, whole statuses, order."""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from devtools.embedded import ServiceEndpoints
from domain.errors import InvalidArgument, NotFound, TerminalPhase, UnstorableContent
from domain.status_changes import apply_changes, diff_status
from persistence import status_layout
from persistence.executions import ExecutionRepository
from persistence.spill import CONTENT_COLLECTION, REFERENCE_KEY, fill
from persistence.status_layout import status_from_document, status_to_document
from persistence.status_store import KnownHeads, StatusWrite, apply_whole_status, store_patch

PENDING = {"phase": "EXECUTION_PENDING"}


@pytest.fixture
async def executions(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[AsyncCollection]:
    client: AsyncMongoClient = AsyncMongoClient(services.mongodb_uri)
    yield client[mongo_db_name]["agent_executions"]
    await client.drop_database(mongo_db_name)
    await client.close()


async def new_execution(collection: AsyncCollection, status: dict[str, Any] = PENDING) -> str:
    execution_id = f"aex_{uuid.uuid4().hex[:16]}"
    await collection.insert_one({
        "_id": execution_id,
        "spec": {"message": "hi"},
        "status": status_to_document(status),
        "version": 1,
        "status_sequence": 0,
    })
    return execution_id


async def stored(collection: AsyncCollection, execution_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored status (long texts filled in) and the raw document (with references)."""
    doc = await collection.find_one({"_id": execution_id})
    assert doc is not None
    filled = {**doc, "status": copy.deepcopy(doc["status"])}
    await fill(collection, [filled])
    return status_from_document(filled["status"]), doc


# -- a run of a realistic agent: monotone statuses, terminal only at the end --------

short_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6)
# Some texts are long enough to be stored beside the document (persistence/spill.py).
texts = st.one_of(short_texts, short_texts, short_texts.map(lambda text: text * 1100))


@st.composite
def agent_runs(draw: Any) -> list[dict[str, Any]]:
    status: dict[str, Any] = {
        "phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_HUMAN", "content": "go"}]
    }
    history = [status]
    for _ in range(draw(st.integers(1, 7))):
        status = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                  for k, v in status.items()}
        step = draw(st.sampled_from(
            ["tokens", "tokens", "message", "tool_start", "tool_end", "todos", "sub_agent"]
        ))
        if step == "tokens" and status["messages"][-1]["type"] == "MESSAGE_AI":
            last = status["messages"][-1]
            status["messages"][-1] = {**last, "content": last.get("content", "") + draw(texts)}
        elif step in ("tokens", "message"):
            status["messages"].append({"type": "MESSAGE_AI", "content": draw(texts)})
        elif step == "tool_start":
            calls = status.get("tool_calls", [])
            started = {"id": f"c{len(calls)}", "name": "search", "status": "TOOL_CALL_RUNNING"}
            status["tool_calls"] = [*calls, started]
        elif step == "tool_end" and status.get("tool_calls"):
            calls = status["tool_calls"]
            calls[-1] = {**calls[-1], "status": "TOOL_CALL_COMPLETED", "result": draw(texts)}
        elif step == "todos":
            status["todos"] = {draw(st.sampled_from(["plan", "a.b", "$x"])): {"content": draw(texts)}}
        elif step == "sub_agent":
            sub_agent = {"id": draw(short_texts), "output": draw(texts)}
            status["sub_agent_executions"] = [*status.get("sub_agent_executions", []), sub_agent]
        history.append(status)
    final = draw(st.sampled_from(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_IN_PROGRESS"]))
    history.append({**status, "phase": final, "completed_at": "2026-11-30T08:00:00Z"})
    return history


@st.composite
def deliveries(draw: Any) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """A run, how each step is sent (patch or whole), and the order the server sees the
    sends in: shuffled, some repeated."""
    history = draw(agent_runs())
    sends = [(draw(st.sampled_from(["patch", "patch", "whole"])), k) for k in range(1, len(history) + 1)]
    repeats = draw(st.lists(st.sampled_from(sends), max_size=4))
    order = draw(st.permutations(sends + repeats))
    return history, order


async def deliver(
    collection: AsyncCollection, execution_id: str, history: list[dict[str, Any]], how: str, k: int,
    heads: KnownHeads | None = None,
) -> StatusWrite:
    """Send step k (1-based) as the runner would; a resync answer gets the whole status.
    `heads`: what the receiving server process knows of the execution."""
    if how == "whole":
        return await whole(collection, execution_id, history[k - 1], k, heads)
    before = history[k - 2] if k > 1 else {}
    result = await store_patch(collection, execution_id, diff_status(before, history[k - 1]), k, heads=heads)
    event("stale patch" if not result.applied and not result.resync_needed else "patch placed or resync")
    if result.resync_needed:
        event("resync")
        return await whole(collection, execution_id, history[k - 1], k, heads)
    return result


async def whole(
    collection: AsyncCollection, execution_id: str, status: dict[str, Any], k: int, heads: KnownHeads | None
) -> StatusWrite:
    """A whole status; the document it says it left is the one a fresh read finds."""
    result = await apply_whole_status(collection, execution_id, status, k, heads=heads)
    if result.document is not None:
        read = await collection.find_one({"_id": execution_id})
        await fill(collection, [read])
        assert status_layout.document_to_execution(result.document) == status_layout.document_to_execution(read)
    return result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
async def test_any_delivery_order_with_duplicates_ends_like_in_order_delivery(
    executions: AsyncCollection, delivery: tuple[list[dict[str, Any]], list[tuple[str, int]]]
) -> None:
    history, order = delivery
    in_order = await new_execution(executions)
    one_server = KnownHeads()
    for how, k in sorted(set(order), key=lambda send: send[1]):
        assert (await deliver(executions, in_order, history, how, k, one_server)).applied
    shuffled = await new_execution(executions)
    # Two server processes take turns: each one's knowledge of the execution goes stale.
    servers = [KnownHeads(), KnownHeads(), None]
    for n, (how, k) in enumerate(order):
        await deliver(executions, shuffled, history, how, k, servers[n % 3])

    expected = {**PENDING, **history[-1]}
    in_order_status, in_order_doc = await stored(executions, in_order)
    shuffled_status, shuffled_doc = await stored(executions, shuffled)
    assert in_order_status == expected
    assert shuffled_status == expected
    assert in_order_doc["status_sequence"] == shuffled_doc["status_sequence"] == len(history)


async def test_streamed_text_is_stored_byte_exact_one_append_at_a_time(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    status: dict[str, Any] = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI"}]}
    await apply_whole_status(executions, execution_id, status, 1)
    pieces = ["Hel", "lo ", "wörld ", "🙂", " \x00tab\t", "$x.y", ""]
    for sequence, piece in enumerate(pieces, start=2):
        text = status["messages"][0].get("content", "") + piece
        new = {**status, "messages": [{"type": "MESSAGE_AI", "content": text}]}
        result = await store_patch(executions, execution_id, diff_status(status, new), sequence)
        assert result.applied and result.stored_sequence == sequence
        status = new
    text, doc = await stored(executions, execution_id)
    assert text["messages"][0]["content"] == "Hello wörld 🙂 \x00tab\t$x.y"
    assert len(doc["status"]["messages"]["m00000"]["content_parts"]) == 6
    assert doc["version"] == 2 + 6  # created, the whole status, one per non-empty piece
    assert doc["status_sequence"] == 1 + len(pieces)  # the empty piece still moved the sequence


async def test_duplicate_patch_is_acknowledged_without_change(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    changes = [{"set": {"phase": "EXECUTION_IN_PROGRESS"}}, {"append_text": {"text": "a"}}]
    first_message = [{"put_message": {"message": {"type": "MESSAGE_AI"}}}]
    assert (await store_patch(executions, execution_id, first_message, 1)).applied
    first = await store_patch(executions, execution_id, changes, 2)
    again = await store_patch(executions, execution_id, changes, 2)
    older = await store_patch(executions, execution_id, changes, 1)
    assert first.applied and not again.applied and not older.applied
    assert first.version == again.version == older.version
    assert not again.resync_needed and not older.resync_needed
    status, _ = await stored(executions, execution_id)
    assert status["messages"] == [{"type": "MESSAGE_AI", "content": "a"}]


async def test_patch_after_a_gap_asks_for_the_whole_status_and_changes_nothing(
    executions: AsyncCollection,
) -> None:
    execution_id = await new_execution(executions)
    await apply_whole_status(executions, execution_id, {"phase": "EXECUTION_IN_PROGRESS", "error": "a"}, 5)
    gap = await store_patch(executions, execution_id, [{"set": {"error": "c"}}], 7)
    assert gap.resync_needed and not gap.applied and gap.stored_sequence == 5
    status, doc = await stored(executions, execution_id)
    assert status["error"] == "a" and doc["status_sequence"] == 5

    await apply_whole_status(executions, execution_id, {"phase": "EXECUTION_IN_PROGRESS", "error": "c"}, 7)
    follows = await store_patch(executions, execution_id, [{"set": {"error": "d"}}], 8)
    assert follows.applied and not follows.resync_needed
    assert (await stored(executions, execution_id))[0]["error"] == "d"


async def test_terminal_phase_is_final_for_patches_and_whole_statuses(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    await store_patch(executions, execution_id, [{"set": {"phase": "EXECUTION_IN_PROGRESS"}}], 1)
    done = await store_patch(executions, execution_id, [{"set": {"phase": "EXECUTION_COMPLETED"}}], 2)
    assert done.applied and done.phase == "EXECUTION_COMPLETED"

    with pytest.raises(TerminalPhase):
        await store_patch(executions, execution_id, [{"set": {"error": "late"}}], 3)
    with pytest.raises(TerminalPhase):
        await store_patch(executions, execution_id, [{"set": {"phase": "EXECUTION_FAILED"}}], 3)
    with pytest.raises(TerminalPhase):
        await apply_whole_status(executions, execution_id, {"phase": "EXECUTION_IN_PROGRESS"})
    with pytest.raises(TerminalPhase):
        await apply_whole_status(executions, execution_id, {"phase": "EXECUTION_CANCELLED"}, 9)
    repeat = await apply_whole_status(
        executions, execution_id, {"phase": "EXECUTION_COMPLETED", "error": "x"}
    )
    stale = await store_patch(executions, execution_id, [{"set": {"error": "old"}}], 2)
    assert not repeat.applied and not stale.applied

    status, doc = await stored(executions, execution_id)
    assert status == {"phase": "EXECUTION_COMPLETED"} and doc["version"] == done.version


async def test_whole_status_stores_only_what_changed(executions: AsyncCollection) -> None:
    long_answer = "x" * 5000
    before = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": long_answer}],
              "todos": {"plan": {"content": "p"}}}
    execution_id = await new_execution(executions, before)
    after = {**before, "messages": [*before["messages"], {"type": "MESSAGE_AI", "content": "done"}]}
    _, old_doc = await stored(executions, execution_id)
    size_before = len(bson.encode(old_doc))

    result = await apply_whole_status(executions, execution_id, after)  # an old runner: no sequence
    assert result.applied and result.changes == [
        {"put_message": {"index": 1, "message": {"type": "MESSAGE_AI", "content": "done"}}}
    ]
    status, doc = await stored(executions, execution_id)
    assert status == after and doc["version"] == old_doc["version"] + 1
    assert doc["status_bytes"] - size_before < 200  # the long answer was not written again


async def test_shrunk_lists_and_removed_todos_leave_nothing_behind(executions: AsyncCollection) -> None:
    before = {
        "phase": "EXECUTION_IN_PROGRESS",
        "messages": [{"type": "MESSAGE_AI", "content": c} for c in ("a", "b", "c")],
        "tool_calls": [{"id": "1"}, {"id": "2"}],
        "todos": {"a.b": {"content": "x"}, "$y": {"content": "y"}, "": {"content": "z"}, "%2E": {}},
    }
    execution_id = await new_execution(executions)
    await apply_whole_status(executions, execution_id, before, 1)
    after = {**before, "messages": [{"type": "MESSAGE_AI", "content": "c"}], "tool_calls": [{"id": "2"}],
             "todos": {"": {"content": "z2"}, "%2E": {}}}
    result = await store_patch(executions, execution_id, diff_status(before, after), 2)
    assert result.applied
    status, doc = await stored(executions, execution_id)
    assert status == after
    # Removed items and todos are nulls: nothing of their content stays.
    assert [k for k, v in sorted(doc["status"]["messages"].items()) if v is not None] == ["m00000"]
    assert [k for k, v in sorted(doc["status"]["tool_calls"].items()) if v is not None] == ["t00000"]
    assert sorted(k for k, v in doc["status"]["todos"].items() if v is not None) == ["%", "%252E"]


async def test_a_status_that_would_outgrow_the_limit_is_refused_readably(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    limit = 4096
    message = {"put_message": {"message": {"type": "MESSAGE_AI", "content": "a" * 1000}}}
    # The same message put again and again: the counter overestimates, the store corrects it.
    for sequence in range(1, 8):
        result = await store_patch(executions, execution_id, [message], sequence, max_status_bytes=limit)
        assert result.applied
    with pytest.raises(UnstorableContent, match="outgrew the 4096-byte limit"):
        await store_patch(
            executions, execution_id, [{"append_text": {"offset": 1000, "text": "b" * 4000}}], 8,
            max_status_bytes=limit,
        )
    status, doc = await stored(executions, execution_id)
    assert status["messages"][0]["content"] == "a" * 1000 and doc["status_sequence"] == 7


async def test_hub_applies_the_stored_changes_to_reach_the_stored_state(executions: AsyncCollection) -> None:
    """What a watcher holds (the first state plus every published change) is what is stored."""
    rng = random.Random(7)
    execution_id = await new_execution(executions)
    watcher, _ = await stored(executions, execution_id)
    status: dict[str, Any] = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI"}]}
    for sequence in range(1, 30):
        if rng.random() < 0.2:
            status = {**status, "todos": {f"t{rng.randint(0, 2)}": {"content": str(sequence)}}}
        else:
            last = status["messages"][-1]
            grown = {**last, "content": last.get("content", "") + "ab"}
            status = {**status, "messages": [*status["messages"][:-1], grown]}
        result = await apply_whole_status(executions, execution_id, status, sequence)
        watcher = apply_changes(watcher, result.changes)
    assert watcher == (await stored(executions, execution_id))[0]


async def test_malformed_changes_are_refused_as_invalid_and_change_nothing(
    executions: AsyncCollection,
) -> None:
    execution_id = await new_execution(executions)
    for changes in (
        [{}],
        [{"rewrite": {}}],
        [{"put_message": {"index": -1, "message": {}}}],
        [{"append_text": {"offset": 10**12, "text": "x"}}],
        [{"truncate": {"list": "STATUS_LIST_MESSAGES", "previous_length": 2**31}}],
        [{"truncate": {"list": "EVERYTHING"}}],
    ):
        with pytest.raises(InvalidArgument):
            await store_patch(executions, execution_id, changes, 1)
    with pytest.raises(InvalidArgument):
        await store_patch(executions, execution_id, [], 0)
    _, doc = await stored(executions, execution_id)
    assert doc["version"] == 1 and doc["status_sequence"] == 0


async def test_content_mongodb_cannot_hold_is_refused_as_unstorable(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    bad_call = {"put_tool_call": {"tool_call": {"id": "c", "args": {"bad\x00key": 1}}}}
    with pytest.raises(UnstorableContent):
        await store_patch(executions, execution_id, [bad_call], 1)
    assert (await stored(executions, execution_id))[1]["status_sequence"] == 0


async def test_long_texts_live_beside_a_document_that_stays_small(executions: AsyncCollection) -> None:
    """A growing run: each step adds a 10 KB tool result and a 2 KB message. The document
    keeps references, so its size (what each update rewrites) grows by bytes per step."""
    execution_id = await new_execution(executions)
    status: dict[str, Any] = dict(PENDING)
    sizes = []
    heads = KnownHeads()
    for step in range(1, 21):
        grown = {
            **status,
            "phase": "EXECUTION_IN_PROGRESS",
            "tool_calls": [*status.get("tool_calls", []), {"id": f"c{step}", "result": f"{step}" + "r" * 10_000}],
            "messages": [*status.get("messages", []), {"type": "MESSAGE_AI", "content": f"{step}" + "m" * 2_000}],
        }
        written = await store_patch(executions, execution_id, diff_status(status, grown), step, heads=heads)
        assert written.applied and written.version == step + 1 and written.phase == "EXECUTION_IN_PROGRESS"
        status = grown
        sizes.append(len(bson.encode(await executions.find_one({"_id": execution_id}))))
    held, doc = await stored(executions, execution_id)
    assert held == status
    assert sizes[-1] < 20 * 12_000 / 20  # references, not 240 KB of text
    assert sizes[-1] - sizes[0] < 19 * 400
    assert set(doc["status"]["tool_calls"]["t00000"]["result"]) == {REFERENCE_KEY}
    assert doc["status_bytes"] > 20 * 12_000  # the size limit counts the texts wherever they live

    # A whole status that says nothing new (diffed against the filled-in texts) changes nothing.
    again = await apply_whole_status(executions, execution_id, status, 21)
    assert again.changes == [] and again.version == doc["version"]

    content = executions.database[CONTENT_COLLECTION]
    assert await content.count_documents({"execution_id": execution_id}) == 40
    repository = ExecutionRepository(executions.database)
    await executions.update_one({"_id": execution_id}, {"$set": {"spec.session_id": execution_id}})
    (listed,) = (await repository.list(session_id=execution_id)).entries
    assert [m.content for m in listed.status.messages] == [m["content"] for m in status["messages"]]
    execution = await repository.delete(execution_id)
    assert execution.status.tool_calls[19].result == "20" + "r" * 10_000  # read whole before it went
    assert await content.count_documents({"execution_id": execution_id}) == 0


async def test_a_retried_patch_with_long_text_stores_it_once(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    answer = [{"put_message": {"message": {"type": "MESSAGE_AI", "content": "é" * 4000}}}]
    assert (await store_patch(executions, execution_id, answer, 1)).applied
    assert not (await store_patch(executions, execution_id, answer, 1)).applied  # a retry
    content = executions.database[CONTENT_COLLECTION]
    assert await content.count_documents({"execution_id": execution_id}) == 1
    assert (await stored(executions, execution_id))[0]["messages"][0]["content"] == "é" * 4000


async def test_a_server_that_missed_a_write_still_reports_the_true_outcome(executions: AsyncCollection) -> None:
    execution_id = await new_execution(executions)
    first_server, second_server = KnownHeads(), KnownHeads()
    start = [{"set": {"phase": "EXECUTION_IN_PROGRESS"}}]
    assert (await store_patch(executions, execution_id, start, 1, heads=first_server)).version == 2
    # Another process stores an unordered whole status: the first server's head is stale.
    other = await apply_whole_status(
        executions, execution_id, {"phase": "EXECUTION_IN_PROGRESS", "error": "seen elsewhere"}, heads=second_server
    )
    assert other.applied and other.version == 3 and other.stored_sequence == 1
    result = await store_patch(executions, execution_id, [{"set": {"started_at": "2026-11-30T10:00:00Z"}}], 2,
                                 heads=first_server)
    assert (result.applied, result.version, result.stored_sequence) == (True, 4, 2)
    status, doc = await stored(executions, execution_id)
    assert status["error"] == "seen elsewhere" and status["started_at"] == "2026-11-30T10:00:00Z"
    assert doc["version"] == 4
    known = first_server.get(execution_id)
    assert known is not None and (known.version, known.stored_sequence) == (4, 2)


async def test_refused_writes_leave_no_texts_behind(executions: AsyncCollection) -> None:
    content = executions.database[CONTENT_COLLECTION]

    def answer(n: int) -> list[dict[str, Any]]:
        return [{"put_message": {"index": 1, "message": {"type": "MESSAGE_AI", "content": f"{n} " + "é" * 4000}}}]

    execution_id = await new_execution(executions)
    opening = [{"set": {"phase": "EXECUTION_IN_PROGRESS"}}, {"put_message": {"message": {"type": "MESSAGE_HUMAN"}}}]
    assert (await store_patch(executions, execution_id, opening, 1)).applied
    assert not (await store_patch(executions, execution_id, answer(0), 1)).applied  # stale
    gap = await store_patch(executions, execution_id, answer(0), 5)
    misfit = await store_patch(executions, execution_id, [*answer(0), {"append_text": {"index": 0, "offset": 3}}], 2)
    assert gap.resync_needed and misfit.resync_needed
    assert await content.count_documents({"execution_id": execution_id}) == 0
    done = await store_patch(executions, execution_id, [{"set": {"phase": "EXECUTION_COMPLETED"}}], 2)
    assert done.applied
    for n in range(50):
        with pytest.raises(TerminalPhase):
            await store_patch(executions, execution_id, answer(n), 3)
        with pytest.raises(TerminalPhase):
            await apply_whole_status(executions, execution_id, {"phase": "EXECUTION_FAILED", "error": "é" * 2000 + str(n)})
    assert await content.count_documents({"execution_id": execution_id}) == 0


async def test_the_sweep_removes_texts_whose_execution_is_gone(executions: AsyncCollection) -> None:
    """Deletes racing writes of long texts may leave texts of a deleted execution; the
    sweep removes them and nothing else."""
    content = executions.database[CONTENT_COLLECTION]
    repository = ExecutionRepository(executions.database)
    kept = await new_execution(executions)
    long_text = [{"put_message": {"message": {"type": "MESSAGE_AI", "content": "kept " * 500}}}]
    assert (await store_patch(executions, kept, long_text, 1)).applied

    async def write_until_gone(execution_id: str) -> None:
        for sequence in range(1, 20):
            changes = [{"put_message": {"message": {"type": "MESSAGE_AI", "content": f"{sequence} " * 600}}}]
            try:
                await store_patch(executions, execution_id, changes, sequence)
            except NotFound:
                return

    doomed = [await new_execution(executions) for _ in range(30)]
    await asyncio.gather(*(write_until_gone(e) for e in doomed), *(repository.delete(e) for e in doomed))
    # And one whose delete certainly came between a text and its status update.
    late = await new_execution(executions)
    await content.insert_one({"_id": f"{late}:0", "execution_id": late, "text": "orphan"})
    await executions.delete_one({"_id": late})

    assert await repository.sweep_texts() >= 1
    owners = set(await content.distinct("execution_id"))
    assert owners == {kept}
    assert (await stored(executions, kept))[0]["messages"][0]["content"] == "kept " * 500
    assert await repository.sweep_texts() == 0


class CommandNames(monitoring.CommandListener):
    """The MongoDB commands a client sends, by name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_new_executions_first_status_write_is_one_read_and_one_update(
    services: ServiceEndpoints, mongo_db_name: str, executions: AsyncCollection
) -> None:
    commands = CommandNames()
    client: AsyncMongoClient = AsyncMongoClient(services.mongodb_uri, event_listeners=[commands])
    try:
        repository = ExecutionRepository(client[mongo_db_name])
        execution = api_pb2.AgentExecution(metadata={"id": f"aex_{uuid.uuid4().hex[:16]}"})
        execution.spec.message = "hi"
        execution.status.phase = enum_pb2.EXECUTION_PENDING
        await repository.insert(execution)
        commands.names.clear()
        status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
        status.messages.add(type=enum_pb2.MESSAGE_AI, content="hello")
        result = await repository.apply_status_update(execution.metadata.id, status, 1)
        # The size counter is right from the insert: nothing to measure before the write.
        assert commands.names == ["find", "update"]
    finally:
        await client.close()
    assert result.execution.status.messages[0].content == "hello"
    doc = await executions.find_one({"_id": execution.metadata.id})
    assert doc is not None and doc["status_bytes"] >= len(bson.encode({k: v for k, v in doc.items() if k != "status_bytes"}))
