"""Incremental status as pure functions: diff, apply, and the MongoDB layout agree."""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import event, given, settings, strategies as st

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, patch_pb2
from domain.convert import to_json
from domain.errors import InvalidArgument
from domain.limits import MAX_PATCH_CHANGES, MAX_PATCH_REMOVED_ITEMS, check_patch_bounds
from domain.status_changes import PatchDoesNotFit, apply_changes, diff_status
from persistence.status_layout import (
    escape_key,
    fit_conditions,
    mongo_update,
    status_from_document,
    status_to_document,
    unescape_key,
)

LIST_FIELDS = ("messages", "tool_calls", "sub_agent_executions")


PHASE_ORDER = ["EXECUTION_PENDING", "EXECUTION_IN_PROGRESS"]


def merged(old: dict, new: dict) -> dict:
    """ARCHITECTURE.md, "Status merge" written out independently: non-empty fields of `new`
    replace, except a phase earlier than the old one."""
    result = dict(old)
    for field in ("phase", "error", "started_at", "completed_at", *LIST_FIELDS, "todos"):
        if new.get(field) and not (field == "phase" and earlier(new["phase"], old.get("phase"))):
            result[field] = new[field]
    return result


def earlier(phase: str, than: str | None) -> bool:
    """Whether `phase` comes before `than` (every terminal phase comes after the others)."""
    def rank(p: str | None) -> int:
        return PHASE_ORDER.index(p) + 1 if p in PHASE_ORDER else (3 if p else 0)
    return rank(phase) < rank(than)


def apply_update(doc: dict, update: dict) -> dict:
    """A tiny MongoDB: `$set`/`$unset` of dotted object paths and `$inc`."""
    doc = copy.deepcopy(doc)
    for path, value in update.get("$set", {}).items():
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(value)
    for path in update.get("$unset", {}):
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target.get(part, {})
        target.pop(last, None)
    for path, amount in update.get("$inc", {}).items():
        doc[path] = doc.get(path, 0) + amount
    return doc


def canonical(status: dict) -> dict:
    """What the wire makes of a status dict (proto JSON, empty fields absent)."""
    return to_json(json_format.ParseDict(without_none(status), api_pb2.AgentExecutionStatus()))


def without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


# -- strategies: statuses and how a running agent's status evolves ------------------

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
keys = st.sampled_from(["t1", "t2", "a.b", "$x", "", "%2E", "p%"])
phases = st.sampled_from([None, "EXECUTION_IN_PROGRESS", "EXECUTION_COMPLETED", "EXECUTION_FAILED"])
stamps = st.sampled_from([None, "2026-01-02T03:04:05Z", "2026-01-02T03:04:06.500Z"])
tool_status = st.sampled_from([None, "TOOL_CALL_RUNNING", "TOOL_CALL_COMPLETED", "TOOL_CALL_FAILED"])


def tool_calls() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"id": st.sampled_from(["c1", "c2"]), "name": texts, "status": tool_status, "result": texts},
        optional={"args": st.dictionaries(st.sampled_from(["q", "n.x"]), texts, max_size=2)},
    )


messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["MESSAGE_AI", "MESSAGE_HUMAN", "MESSAGE_TOOL"]), "content": texts},
    optional={"tool_calls": st.lists(tool_calls(), max_size=2), "timestamp": stamps},
)
sub_agents = st.fixed_dictionaries(
    {"id": texts, "name": texts, "output": texts,
     "status": st.sampled_from([None, "SUB_AGENT_IN_PROGRESS", "SUB_AGENT_COMPLETED"])}
)
todos = st.fixed_dictionaries(
    {"content": texts, "status": st.sampled_from([None, "TODO_PENDING", "TODO_COMPLETED"])}
)


@st.composite
def statuses(draw: Any) -> dict:
    return canonical({
        "phase": draw(phases),
        "error": draw(texts),
        "started_at": draw(stamps),
        "completed_at": draw(stamps),
        "messages": draw(st.lists(messages, max_size=4)),
        "tool_calls": draw(st.lists(tool_calls(), max_size=3)),
        "sub_agent_executions": draw(st.lists(sub_agents, max_size=2)),
        "todos": draw(st.dictionaries(keys, todos, max_size=3)),
    })


@st.composite
def evolved(draw: Any, old: dict) -> dict:
    """A later status of the same run: text streamed into a message, items added,
    changed, dropped or reordered, todos changed; sometimes an unrelated status."""
    if draw(st.integers(0, 5)) == 0:
        return draw(statuses())
    new = copy.deepcopy(old)
    for field, items in (("messages", messages), ("tool_calls", tool_calls()),
                         ("sub_agent_executions", sub_agents)):
        current = new.get(field, [])
        action = draw(st.sampled_from(["keep", "add", "change", "shrink", "reorder", "stream"]))
        if action == "add":
            current = current + draw(st.lists(items, min_size=1, max_size=2))
        elif action == "change" and current:
            current[draw(st.integers(0, len(current) - 1))] = draw(items)
        elif action == "shrink":
            current = current[: draw(st.integers(0, len(current)))]
        elif action == "reorder":
            current = draw(st.permutations(current))
        elif action == "stream" and field == "messages" and current:
            index = draw(st.integers(0, len(current) - 1))
            current[index] = {**current[index], "content": current[index].get("content", "") + draw(texts)}
        new[field] = list(current)
    if draw(st.booleans()):
        new["todos"] = draw(st.dictionaries(keys, todos, max_size=3))
    if draw(st.booleans()):
        new["phase"] = draw(phases)
        new["error"] = draw(texts)
    return canonical(new)


@st.composite
def runs(draw: Any) -> list[dict]:
    history = [draw(statuses())]
    for _ in range(draw(st.integers(1, 4))):
        history.append(draw(evolved(history[-1])))
    return history


# -- the invariants -----------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(runs())
def test_applying_the_diff_gives_the_merged_status(history: list[dict]) -> None:
    state = history[0]
    for new in history[1:]:
        assert apply_changes(state, diff_status(state, new)) == merged(state, new)
        state = merged(state, new)


@settings(max_examples=100, deadline=None)
@given(runs())
def test_the_stored_layout_after_the_update_reads_back_as_the_applied_status(history: list[dict]) -> None:
    for stored, state in stored_and_applied(history):
        assert status_from_document(stored["status"]) == state


def stored_and_applied(history: list[dict]) -> Iterator[tuple[dict, dict]]:
    """After each status of `history`: the stored document its updates made, and the
    status its changes applied to the first one made."""
    stored = {"status": status_to_document(history[0])}
    state = history[0]
    for new in history[1:]:
        changes = diff_status(state, new)
        stored = apply_update(stored, mongo_update(changes))
        state = apply_changes(state, changes)
        yield stored, state


@settings(max_examples=60, deadline=None)
@given(statuses())
def test_layout_round_trips_byte_exact(status: dict) -> None:
    assert status_from_document(status_to_document(status)) == status


@settings(max_examples=60, deadline=None)
@given(runs())
def test_every_change_is_its_own_proto_json(history: list[dict]) -> None:
    for old, new in itertools.pairwise(history):
        patch = {"execution_id": "aex_1", "sequence": "7", "changes": diff_status(old, new)}
        parsed = json_format.ParseDict(patch, patch_pb2.AgentExecutionStatusPatch())
        assert to_json(parsed) == (patch if patch["changes"] else {"execution_id": "aex_1", "sequence": "7"})


@settings(max_examples=60, deadline=None)
@given(runs())
def test_replaying_a_stored_update_changes_nothing(history: list[dict]) -> None:
    stored = {"status": status_to_document(history[0])}
    for old, new in itertools.pairwise(history):
        update = mongo_update(diff_status(old, new))
        once = apply_update(stored, update)
        twice = apply_update(once, update)
        assert twice["status"] == once["status"]
        stored = once


@given(st.text(max_size=8))
def test_escaped_keys_are_valid_field_names_and_reversible(key: str) -> None:
    field = escape_key(key)
    assert field and "." not in field and not field.startswith("$")
    assert unescape_key(field) == key


# -- the shape of specific changes --------------------------------------------------


def test_streamed_text_is_one_append_at_the_old_length() -> None:
    old = {"messages": [{"type": "MESSAGE_HUMAN", "content": "hi"}, {"type": "MESSAGE_AI", "content": "Hel"}]}
    new = {"messages": [old["messages"][0], {"type": "MESSAGE_AI", "content": "Hello wörld"}]}
    changes = diff_status(old, new)
    assert changes == [{"append_text": {"index": 1, "offset": 3, "text": "lo wörld"}}]
    assert mongo_update(changes)["$set"] == {"status.messages.m00001.content_parts.o000000003": "lo wörld",
                                             "status.messages.m00001.content_chars": 11}


def test_tool_call_status_change_puts_only_that_call() -> None:
    running = {"id": "c1", "name": "search", "status": "TOOL_CALL_RUNNING"}
    done = {**running, "status": "TOOL_CALL_COMPLETED", "result": "ok"}
    other = {"id": "c0", "name": "plan", "status": "TOOL_CALL_COMPLETED"}
    changes = diff_status({"tool_calls": [other, running]}, {"tool_calls": [other, done]})
    assert changes == [{"put_tool_call": {"index": 1, "tool_call": done}}]
    assert list(mongo_update(changes)["$set"]) == ["status.tool_calls.t00001"]


def test_empty_fields_of_a_whole_status_change_nothing() -> None:
    old = canonical({"phase": "EXECUTION_IN_PROGRESS", "error": "e", "messages": [{"content": "a"}],
                     "todos": {"t": {"content": "x"}}})
    assert diff_status(old, {}) == []
    assert diff_status(old, old) == []


def test_shorter_list_puts_then_truncates_and_nulls_the_tail() -> None:
    old = {"sub_agent_executions": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    new = {"sub_agent_executions": [{"id": "c"}]}
    changes = diff_status(old, new)
    assert changes == [
        {"put_sub_agent": {"sub_agent": {"id": "c"}}},
        {"truncate": {"list": "STATUS_LIST_SUB_AGENT_EXECUTIONS", "length": 1, "previous_length": 3}},
    ]
    assert mongo_update(changes)["$set"] == {
        "status.sub_agent_executions.s00000": {"id": "c"},
        "status.sub_agent_executions.s00001": None, "status.sub_agent_executions.s00002": None,
    }


def test_removed_todo_is_nulled_and_escaped() -> None:
    changes = diff_status({"todos": {"a.b": {"content": "x"}, "$k": {}}}, {"todos": {"$k": {"content": "y"}}})
    assert changes == [{"put_todo": {"key": "$k", "todo": {"content": "y"}}}, {"remove_todo": {"key": "a.b"}}]
    update = mongo_update(changes)
    assert update["$set"] == {"status.todos.%24k": {"content": "y"}, "status.todos.a%2Eb": None}
    assert "$unset" not in update


def test_put_then_append_in_one_update_never_names_a_path_and_its_parent() -> None:
    changes = [
        {"put_message": {"index": 2, "message": {"type": "MESSAGE_AI", "content": "Hi"}}},
        {"append_text": {"index": 2, "offset": 2, "text": " there"}},
    ]
    update = mongo_update(changes)
    assert update["$set"] == {
        "status.messages.m00002": {"type": "MESSAGE_AI", "content_chars": 8,
                                   "content_parts": {"o000000000": "Hi", "o000000002": " there"}}
    }


def test_byte_counter_counts_what_is_written() -> None:
    small = mongo_update([{"append_text": {"offset": 5, "text": "ab"}}])["$inc"]["status_bytes"]
    large = mongo_update([{"append_text": {"offset": 5, "text": "ab" * 1000}}])["$inc"]["status_bytes"]
    # The text, and the stored length written beside it (7 → 2005 characters).
    assert 0 < small < 100 and large - small == 1998 + len("2005") - len("7")


def test_a_change_that_does_not_fit_what_is_held_is_refused() -> None:
    status = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"content": "abc"}]}
    for change in (
        {"append_text": {"offset": 4, "text": "x"}},
        {"append_text": {"offset": 1, "text": "x"}},
        {"append_text": {"index": 1, "text": "x"}},
        {"put_message": {"index": 2, "message": {}}},
        {"truncate": {"list": "STATUS_LIST_MESSAGES", "previous_length": 2}},
        {"truncate": {"list": "STATUS_LIST_TOOL_CALLS", "previous_length": 1}},
        {"set": {"phase": "EXECUTION_PENDING"}},
    ):
        try:
            apply_changes(status, [change])
        except PatchDoesNotFit:
            continue
        raise AssertionError(f"{change} applied past the end")


def test_unknown_change_is_refused() -> None:
    for change in ({"replace_everything": {}}, {}, {"set": {}, "truncate": {}}):
        try:
            apply_changes({}, [change])
        except ValueError:
            continue
        raise AssertionError(f"{change} accepted")


def test_positions_the_storage_keys_cannot_spell_are_refused() -> None:
    for change in (
        {"put_tool_call": {"index": -1, "tool_call": {}}},
        {"put_sub_agent": {"index": 100_000, "sub_agent": {}}},
        {"append_text": {"offset": -3, "text": "x"}},
        {"truncate": {"list": "STATUS_LIST_TOOL_CALLS", "previous_length": 10**9}},
    ):
        try:
            mongo_update([change])
        except ValueError:
            continue
        raise AssertionError(f"{change} accepted")


# -- changes that may not fit: the stored filter agrees with the applier ---------------

MISSING = object()


def lookup(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return MISSING
        doc = doc[part]
    return doc


def matches(doc: dict, conditions: dict) -> bool:
    """A tiny MongoDB filter: equality, `$type: object`, `$in: [None]` and `$nin`."""
    for path, condition in conditions.items():
        value = lookup(doc, path)
        if condition == {"$type": "object"}:
            ok = isinstance(value, dict)
        elif condition == {"$in": [None]}:
            ok = value is MISSING or value is None
        elif isinstance(condition, dict) and set(condition) == {"$nin"}:
            ok = value is MISSING or value not in condition["$nin"]
        else:
            ok = value == condition
        if not ok:
            return False
    return True


@st.composite
def maybe_unfit_changes(draw: Any, status: dict) -> list[dict]:
    """Changes a runner might send after missing some: positions near the ends of what is
    held, offsets at, inside or past the text, truncates from right or wrong lengths,
    phases forwards or backwards."""
    messages_held = len(status.get("messages", []))
    near = st.integers(0, messages_held + 2)
    change = st.one_of(
        st.builds(lambda i, m: {"put_message": {"index": i, "message": m}}, near, messages),
        st.builds(lambda i, c: {"put_tool_call": {"index": i, "tool_call": c}},
                  st.integers(0, len(status.get("tool_calls", [])) + 2), tool_calls()),
        st.builds(lambda i, o, t: {"append_text": {"index": i, "offset": o, "text": t}},
                  near, st.integers(0, 14), texts),
        st.builds(lambda i, t: {"append_text": {"index": i, "offset": len(
            status.get("messages", [{}] * (i + 1))[i].get("content", "")) if i < messages_held else 0, "text": t}},
                  near, texts),
        st.builds(lambda f, n, p: {"truncate": {"list": f, "length": min(n, p), "previous_length": p}},
                  st.sampled_from(["STATUS_LIST_MESSAGES", "STATUS_LIST_TOOL_CALLS"]),
                  st.integers(0, 4), st.integers(0, messages_held + 2)),
        st.builds(lambda p: {"set": {"phase": p}}, st.sampled_from(
            ["EXECUTION_PENDING", "EXECUTION_IN_PROGRESS", "EXECUTION_COMPLETED"])),
        st.builds(lambda k: {"remove_todo": {"key": k}}, keys),
        st.builds(lambda k, t: {"put_todo": {"key": k, "todo": t}}, keys, todos),
    )
    return [canonical_change(c) for c in draw(st.lists(change, min_size=1, max_size=5))]


def canonical_change(change: dict) -> dict:
    patch = json_format.ParseDict({"changes": [without_none(change)]}, patch_pb2.AgentExecutionStatusPatch())
    return to_json(patch)["changes"][0]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_stored_filter_holds_exactly_when_the_changes_fit(data: Any) -> None:
    history = data.draw(runs())
    # A stored status with some history: removed items are nulls, texts appended in parts.
    stored, state = [({"status": status_to_document(history[0])}, history[0]), *stored_and_applied(history)][-1]
    changes = data.draw(maybe_unfit_changes(state))
    try:
        expected = apply_changes(state, changes)
    except PatchDoesNotFit:
        expected = None
    try:
        fits = matches(stored, fit_conditions(changes))
    except PatchDoesNotFit:
        fits = False
    event("fits" if fits else "does not fit")
    assert fits == (expected is not None), changes
    if fits:
        after = apply_update(stored, mongo_update(changes))
        assert status_from_document(after["status"]) == expected
        assert "$unset" not in mongo_update(changes)


def test_building_an_update_costs_work_linear_in_its_changes() -> None:
    """Counted in Python lines executed, not timed: relative to a baseline eight times
    smaller, a linear builder does ~8 times the work and a quadratic one ~64 times."""
    def lines_executed(n: int) -> int:
        changes = [{"put_todo": {"key": f"k{i}", "todo": {"content": "x"}}} for i in range(n)]
        changes.append({"truncate": {"list": "STATUS_LIST_MESSAGES", "length": 0, "previous_length": n}})
        count = 0

        def trace(frame: Any, event: str, arg: Any) -> Any:
            nonlocal count
            if event == "line":
                count += 1
            return trace

        sys.settrace(trace)
        try:
            mongo_update(changes)
            fit_conditions(changes)
        finally:
            sys.settrace(None)
        return count

    small, large = lines_executed(500), lines_executed(4_000)
    assert large < 12 * small, (small, large)


def test_a_patch_may_change_only_so_much() -> None:
    put = {"put_todo": {"key": "k", "todo": {}}}
    check_patch_bounds([put] * MAX_PATCH_CHANGES)
    with pytest.raises(InvalidArgument, match="changes; at most"):
        check_patch_bounds([put] * (MAX_PATCH_CHANGES + 1))
    def cut(n: int) -> dict:
        return {"truncate": {"list": "STATUS_LIST_MESSAGES", "length": 1, "previous_length": 1 + n}}
    check_patch_bounds([cut(MAX_PATCH_REMOVED_ITEMS // 2)] * 2)
    with pytest.raises(InvalidArgument, match="removes 1001 list items"):
        check_patch_bounds([cut(MAX_PATCH_REMOVED_ITEMS // 2), cut(MAX_PATCH_REMOVED_ITEMS // 2 + 1)])


def test_a_patch_that_contradicts_itself_fits_nothing() -> None:
    for changes in (
        [{"truncate": {"list": "STATUS_LIST_MESSAGES", "length": 1, "previous_length": 3}},
         {"put_message": {"index": 2, "message": {}}}],
        [{"put_message": {"index": 4, "message": {"content": "ab"}}},
         {"append_text": {"index": 4, "offset": 1, "text": "x"}}],
        [{"set": {"phase": "EXECUTION_IN_PROGRESS"}}, {"set": {"phase": "EXECUTION_PENDING"}}],
    ):
        with pytest.raises(PatchDoesNotFit):
            fit_conditions(changes)
