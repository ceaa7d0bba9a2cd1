"""Incremental status: what changed between two statuses, and applying it.

A status here is its proto JSON (snake_case names, enum names, empty fields absent).
A change is the proto JSON of one `StatusChange` (proto/…/patch.proto): a dict with
exactly one key. Numbers equal to 0 are absent, as proto3 JSON writes them. A client,
the hub and the service apply a patch's changes in order, like `apply_changes`:

    {"set": {"phase": "EXECUTION_COMPLETED", "error": "…", "started_at": "…",
             "completed_at": "…"}}           each given field overwrites the stored one
    {"put_message": {"index": i, "message": {…AgentMessage}}}
                                             messages[i] = message (i == len: append)
    {"append_text": {"index": i, "offset": n, "text": "…"}}
                                             messages[i].content += text; n is the
                                             content's length before it (Unicode code
                                             points)
    {"put_tool_call": {"index": i, "tool_call": {…ToolCall}}}        tool_calls[i]
    {"put_sub_agent": {"index": i, "sub_agent": {…SubAgentExecution}}}
                                             sub_agent_executions[i]
    {"put_todo": {"key": k, "todo": {…TodoItem}}}                    todos[k] = todo
    {"remove_todo": {"key": k}}                                      del todos[k]
    {"truncate": {"list": "STATUS_LIST_MESSAGES", "length": n, "previous_length": p}}
                                             keep the first n of the list's p items
                                             (also STATUS_LIST_TOOL_CALLS,
                                             STATUS_LIST_SUB_AGENT_EXECUTIONS)

A patch on the wire, on Redis and on SSE is the proto JSON of
`AgentExecutionStatusPatch`: `{"execution_id": …, "sequence": "17…" (int64, so a JSON
string), "changes": [change, …]}`. A change that does not fit what it is applied to
(`PatchDoesNotFit`: an index past the end, an offset other than the text's length, a
truncate whose `previous_length` is not the list's length, a phase earlier than the
current one) means a patch was missed: fetch the whole state again. The server refuses
such a patch whole and asks its runner to resync.

How MongoDB stores a status and turns changes into one update: persistence/status_layout.py.
"""

from __future__ import annotations

import json
from typing import Any

Status = dict[str, Any]
Change = dict[str, Any]

SCALAR_FIELDS = ("phase", "error", "started_at", "completed_at")
# The order of phases: a status never moves to an earlier one (terminal phases are
# final, which domain/status_rules.py decides).
PHASE_RANK = {
    "EXECUTION_PHASE_UNSPECIFIED": 0,
    "EXECUTION_PENDING": 1,
    "EXECUTION_IN_PROGRESS": 2,
    "EXECUTION_COMPLETED": 3,
    "EXECUTION_FAILED": 3,
    "EXECUTION_CANCELLED": 3,
}

# (status field, put change, the put's item field, truncate list name)
_LISTS = (
    ("messages", "put_message", "message", "STATUS_LIST_MESSAGES"),
    ("tool_calls", "put_tool_call", "tool_call", "STATUS_LIST_TOOL_CALLS"),
    ("sub_agent_executions", "put_sub_agent", "sub_agent", "STATUS_LIST_SUB_AGENT_EXECUTIONS"),
)
LIST_FIELDS = tuple(field for field, _, _, _ in _LISTS)
# put change → (status list field, the put's item field)
PUTS = {put: (field, item) for field, put, item, _ in _LISTS}
_LIST_BY_NAME = {name: field for field, _, _, name in _LISTS}


class PatchDoesNotFit(ValueError):
    """A change does not fit what it is applied to: a patch was missed."""


# -- diff -------------------------------------------------------------------------


def diff_status(old: Status, new: Status) -> list[Change]:
    """The changes that turn `old` into `old` merged with the whole status `new`.

    Merge rules (ARCHITECTURE.md, "Status merge"): empty or absent fields of `new` leave `old` alone; set
    scalars overwrite, except a phase earlier than the stored one; non-empty lists and the
    todos map replace.
    """
    changes: list[Change] = []
    fields = {k: new[k] for k in SCALAR_FIELDS if new.get(k) and new[k] != old.get(k)}
    if "phase" in fields and phase_rank(fields["phase"]) < phase_rank(old.get("phase")):
        del fields["phase"]  # a late status never moves the phase back
    if fields:
        changes.append({"set": fields})
    for field, put, item_field, list_name in _LISTS:
        old_items, new_items = old.get(field) or [], new.get(field) or []
        changes.extend(_diff_list(old_items, new_items, field, put, item_field, list_name))
    changes.extend(_diff_todos(old.get("todos") or {}, new.get("todos") or {}))
    return changes


def _diff_list(
    old: list[Any], new: list[Any], field: str, put: str, item_field: str, list_name: str
) -> list[Change]:
    if not new:
        return []
    changes: list[Change] = []
    for index, item in enumerate(new):
        before = old[index] if index < len(old) else None
        if before == item:
            continue
        appended = _appended_text(before, item) if field == "messages" else None
        if appended is not None:
            offset = len(before.get("content", ""))  # type: ignore[union-attr]
            changes.append({"append_text": _without_zeros(index=index, offset=offset, text=appended)})
        else:
            changes.append({put: _without_zeros(index=index, **{item_field: item})})
    if len(new) < len(old):
        changes.append(
            {"truncate": {"list": list_name, "length": len(new), "previous_length": len(old)}}
        )
    return changes


def _appended_text(before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    """The text added to `before`'s content when that is all that changed, else None."""
    if before is None:
        return None
    old_text, new_text = before.get("content", ""), after.get("content", "")
    if len(new_text) <= len(old_text) or not new_text.startswith(old_text):
        return None
    rest_before = {k: v for k, v in before.items() if k != "content"}
    rest_after = {k: v for k, v in after.items() if k != "content"}
    return new_text[len(old_text):] if rest_before == rest_after else None


def _diff_todos(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    if not new:
        return []
    changes: list[Change] = [
        {"put_todo": _without_zeros(key=key, todo=todo)} for key, todo in new.items() if old.get(key) != todo
    ]
    changes.extend({"remove_todo": _without_zeros(key=key)} for key in old if key not in new)
    return changes


def _without_zeros(**fields: Any) -> dict[str, Any]:
    """Proto3 JSON leaves out 0 and ""; so do we, so a change equals its proto JSON."""
    return {k: v for k, v in fields.items() if v != 0 and v != ""}


# -- apply (clients, hub) ------------------------------------------------------------


def apply_changes(status: Status, changes: list[Change]) -> Status:
    """`status` with `changes` applied in order; the input is left untouched."""
    result = dict(status)
    for change in changes:
        kind, body = only_item(change)
        if kind == "set":
            phase = body.get("phase")
            if phase and phase_rank(phase) < phase_rank(result.get("phase")):
                raise PatchDoesNotFit(f"phase {phase} after {result.get('phase')}")
            result.update({k: v for k, v in body.items() if k in SCALAR_FIELDS and v})
        elif kind in PUTS:
            field, item_field = PUTS[kind]
            items = list(result.get(field, []))
            _put(items, position_in(body, "index"), body.get(item_field, {}))
            result[field] = items
        elif kind == "append_text":
            result["messages"] = _append_text(result.get("messages", []), body)
        elif kind == "put_todo":
            result["todos"] = {**result.get("todos", {}), body.get("key", ""): body.get("todo", {})}
        elif kind == "remove_todo":
            todos = {k: v for k, v in result.get("todos", {}).items() if k != body.get("key", "")}
            _set_or_drop(result, "todos", todos)
        elif kind == "truncate":
            field = list_named(body)
            length, previous = truncate_lengths(body)
            items = result.get(field, [])
            if previous != len(items):
                raise PatchDoesNotFit(f"{field} truncated from {previous} items, but it has {len(items)}")
            _set_or_drop(result, field, items[:length])
        else:
            raise ValueError(f"unknown status change {kind!r}")
    return result


def phase_rank(phase: Any) -> int:
    return PHASE_RANK.get(phase, 0) if isinstance(phase, str) else 0


def truncate_lengths(body: dict[str, Any]) -> tuple[int, int]:
    length, previous = position_in(body, "length"), position_in(body, "previous_length")
    if length > previous:
        raise ValueError(f"truncate to {length} items from only {previous}")
    return length, previous


def only_item(change: Change) -> tuple[str, dict[str, Any]]:
    if not isinstance(change, dict) or len(change) != 1:
        raise ValueError(f"a status change has exactly one key, got {change!r}")
    ((kind, body),) = change.items()
    if not isinstance(body, dict):
        raise ValueError(f"a status change's body is an object, got {body!r}")
    return kind, body


def position_in(body: dict[str, Any], name: str) -> int:
    """An index or offset of a change: a non-negative integer (absent means 0)."""
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _put(items: list[Any], index: int, item: Any) -> None:
    if index < len(items):
        items[index] = item
    elif index == len(items):
        items.append(item)
    else:
        raise PatchDoesNotFit(f"item {index} put after only {len(items)} items")


def _append_text(messages: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    index, offset = position_in(body, "index"), position_in(body, "offset")
    if index >= len(messages):
        raise PatchDoesNotFit(f"text appended to message {index} of {len(messages)}")
    message = dict(messages[index])
    content = message.get("content", "")
    if offset != len(content):
        raise PatchDoesNotFit(f"text appended at {offset} to {len(content)} characters")
    _set_or_drop(message, "content", content + body.get("text", ""))
    return [*messages[:index], message, *messages[index + 1:]]


def list_named(body: dict[str, Any]) -> str:
    try:
        return _LIST_BY_NAME[body.get("list", "")]
    except KeyError:
        raise ValueError(f"truncate names no list: {body.get('list')!r}") from None


def _set_or_drop(target: dict[str, Any], key: str, value: Any) -> None:
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def phase_set_by(changes: list[Change]) -> str | None:
    """The phase the changes set last, if any."""
    phase = None
    for change in changes:
        phase = change.get("set", {}).get("phase") or phase
    return phase

def encoded_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: close to (and above) its BSON size."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
