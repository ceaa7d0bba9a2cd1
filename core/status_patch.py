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

MongoDB stores the status's lists as maps keyed by position (`messages.m00000`,
`tool_calls.t00000`, `sub_agent_executions.s00000`) and a message's text as parts keyed
by character offset (`content_parts.o000000000`) with its length (`content_chars`), so
every change is a `$set` of dotted object paths: no read, no array operators and no
`$unset` (the embedded Mongo stand-in mishandles those, ARCHITECTURE.md "Status merge");
a removed item or todo is set to null, which readers skip. Replaying a change sets the
same keys to the same values, and `fit_conditions` says, as a MongoDB filter, what the
stored status must be for a patch to fit.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

Status = dict[str, Any]
Change = dict[str, Any]

SCALAR_FIELDS = ("phase", "error", "started_at", "completed_at")
# The order of phases: a status never moves to an earlier one (terminal phases are
# final, which core/domain.py decides).
PHASE_RANK = {
    "EXECUTION_PHASE_UNSPECIFIED": 0,
    "EXECUTION_PENDING": 1,
    "EXECUTION_IN_PROGRESS": 2,
    "EXECUTION_COMPLETED": 3,
    "EXECUTION_FAILED": 3,
    "EXECUTION_CANCELLED": 3,
}

# (status field, put change, the put's item field, truncate list name, storage key prefix)
_LISTS = (
    ("messages", "put_message", "message", "STATUS_LIST_MESSAGES", "m"),
    ("tool_calls", "put_tool_call", "tool_call", "STATUS_LIST_TOOL_CALLS", "t"),
    ("sub_agent_executions", "put_sub_agent", "sub_agent", "STATUS_LIST_SUB_AGENT_EXECUTIONS", "s"),
)
_PUTS = {put: (field, item, prefix) for field, put, item, _, prefix in _LISTS}
_LIST_BY_NAME = {name: (field, prefix) for field, _, _, name, prefix in _LISTS}
_PREFIX_BY_FIELD = {field: prefix for field, _, _, _, prefix in _LISTS}

STATUS_BYTES_FIELD = "status_bytes"  # top-level document counter, see `mongo_update`
CONTENT_CHARS = "content_chars"  # a stored message's text length, see `fit_conditions`
# Positions the storage keys can spell (5 digits for items, 9 for text offsets).
MAX_ITEMS = 100_000
MAX_TEXT_OFFSET = 1_000_000_000


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
    if "phase" in fields and _phase_rank(fields["phase"]) < _phase_rank(old.get("phase")):
        del fields["phase"]  # a late status never moves the phase back
    if fields:
        changes.append({"set": fields})
    for field, put, item_field, list_name, _ in _LISTS:
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
        kind, body = _only_item(change)
        if kind == "set":
            phase = body.get("phase")
            if phase and _phase_rank(phase) < _phase_rank(result.get("phase")):
                raise PatchDoesNotFit(f"phase {phase} after {result.get('phase')}")
            result.update({k: v for k, v in body.items() if k in SCALAR_FIELDS and v})
        elif kind in _PUTS:
            field, item_field, _ = _PUTS[kind]
            items = list(result.get(field, []))
            _put(items, _position_in(body, "index"), body.get(item_field, {}))
            result[field] = items
        elif kind == "append_text":
            result["messages"] = _append_text(result.get("messages", []), body)
        elif kind == "put_todo":
            result["todos"] = {**result.get("todos", {}), body.get("key", ""): body.get("todo", {})}
        elif kind == "remove_todo":
            todos = {k: v for k, v in result.get("todos", {}).items() if k != body.get("key", "")}
            _set_or_drop(result, "todos", todos)
        elif kind == "truncate":
            field, _ = _list_named(body)
            length, previous = _truncate_lengths(body)
            items = result.get(field, [])
            if previous != len(items):
                raise PatchDoesNotFit(f"{field} truncated from {previous} items, but it has {len(items)}")
            _set_or_drop(result, field, items[:length])
        else:
            raise ValueError(f"unknown status change {kind!r}")
    return result


def _phase_rank(phase: Any) -> int:
    return PHASE_RANK.get(phase, 0) if isinstance(phase, str) else 0


def _truncate_lengths(body: dict[str, Any]) -> tuple[int, int]:
    length, previous = _position_in(body, "length"), _position_in(body, "previous_length")
    if length > previous:
        raise ValueError(f"truncate to {length} items from only {previous}")
    return length, previous


def _only_item(change: Change) -> tuple[str, dict[str, Any]]:
    if not isinstance(change, dict) or len(change) != 1:
        raise ValueError(f"a status change has exactly one key, got {change!r}")
    ((kind, body),) = change.items()
    if not isinstance(body, dict):
        raise ValueError(f"a status change's body is an object, got {body!r}")
    return kind, body


def _position_in(body: dict[str, Any], name: str) -> int:
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
    index, offset = _position_in(body, "index"), _position_in(body, "offset")
    if index >= len(messages):
        raise PatchDoesNotFit(f"text appended to message {index} of {len(messages)}")
    message = dict(messages[index])
    content = message.get("content", "")
    if offset != len(content):
        raise PatchDoesNotFit(f"text appended at {offset} to {len(content)} characters")
    _set_or_drop(message, "content", content + body.get("text", ""))
    return [*messages[:index], message, *messages[index + 1:]]


def _list_named(body: dict[str, Any]) -> tuple[str, str]:
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


# -- storage layout ------------------------------------------------------------------


def item_key(prefix: str, index: int) -> str:
    if not isinstance(index, int) or not 0 <= index < MAX_ITEMS:
        raise ValueError(f"item position {index!r} is not in [0, {MAX_ITEMS})")
    return f"{prefix}{index:05d}"


def offset_key(offset: int) -> str:
    if not isinstance(offset, int) or not 0 <= offset < MAX_TEXT_OFFSET:
        raise ValueError(f"text offset {offset!r} is not in [0, {MAX_TEXT_OFFSET})")
    return f"o{offset:09d}"


def escape_key(key: str) -> str:
    """A map key as a MongoDB field name: no '.', no leading '$', not empty; reversible."""
    escaped = key.replace("%", "%25").replace(".", "%2E")
    if escaped.startswith("$"):
        escaped = "%24" + escaped[1:]
    return escaped or "%"


def unescape_key(field: str) -> str:
    if field == "%":
        return ""
    return _ESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], field)


_ESCAPE = re.compile("%(25|2E|24)")
_UNESCAPED = {"25": "%", "2E": ".", "24": "$"}


def status_to_document(status: Status) -> dict[str, Any]:
    """The stored form of a proto-JSON status (lists as position-keyed maps)."""
    doc = {k: v for k, v in status.items() if k not in _PREFIX_BY_FIELD and k != "todos"}
    for field, prefix in _PREFIX_BY_FIELD.items():
        items = status.get(field) or []
        if items:
            doc[field] = {
                item_key(prefix, i): _stored_item(field, item) for i, item in enumerate(items)
            }
    if status.get("todos"):
        doc["todos"] = {escape_key(k): v for k, v in status["todos"].items()}
    return doc


def _stored_item(field: str, item: dict[str, Any]) -> dict[str, Any]:
    if field != "messages":
        return item
    stored = {k: v for k, v in item.items() if k != "content"}
    content = item.get("content") or ""
    if content:
        stored["content_parts"] = {offset_key(0): content}
    stored[CONTENT_CHARS] = len(content)
    return stored


def status_from_document(doc_status: dict[str, Any]) -> Status:
    """The proto-JSON status of a stored one; also reads statuses stored with plain lists.
    Removed items and todos (null) are skipped."""
    status = {k: v for k, v in doc_status.items() if k not in _PREFIX_BY_FIELD and k != "todos"}
    for field in _PREFIX_BY_FIELD:
        stored = doc_status.get(field)
        if isinstance(stored, dict):
            stored = [stored[k] for k in sorted(stored, key=_position) if stored[k] is not None]
        if stored:
            status[field] = [_read_item(field, item) for item in stored]
    todos = {unescape_key(k): v for k, v in (doc_status.get("todos") or {}).items() if v is not None}
    if todos:
        status["todos"] = todos
    return status


def _position(key: str) -> int:
    return int(key[1:])


def _read_item(field: str, item: dict[str, Any]) -> dict[str, Any]:
    if field != "messages" or not ("content_parts" in item or CONTENT_CHARS in item):
        return item
    parts = item.get("content_parts") or {}
    message = {k: v for k, v in item.items() if k not in ("content_parts", CONTENT_CHARS)}
    content = "".join(parts[k] for k in sorted(parts, key=_position))
    if content:
        message["content"] = content
    return message


def mongo_update(changes: list[Change]) -> dict[str, Any]:
    """One MongoDB update document for `changes` on a stored execution (paths under
    `status.`), touching only what changed; it costs time linear in the changes.

    It also increments the document's `status_bytes` by the size of what it writes: an
    upper bound of the status's size (a replaced item counts again), cheap to check in
    the update's filter before MongoDB's 16 MB document limit is reached.
    """
    update = _UpdateBuilder()
    for change in changes:
        kind, body = _only_item(change)
        if kind == "set":
            for field, value in body.items():
                if field in SCALAR_FIELDS and value:
                    update.set(f"status.{field}", value)
        elif kind in _PUTS:
            field, item_field, prefix = _PUTS[kind]
            path = f"status.{field}.{item_key(prefix, body.get('index', 0))}"
            update.set(path, _stored_item(field, body.get(item_field, {})))
        elif kind == "append_text":
            if body.get("text"):
                message = f"status.messages.{item_key('m', body.get('index', 0))}"
                offset = body.get("offset", 0)
                update.set(f"{message}.content_parts.{offset_key(offset)}", body["text"])
                update.set(f"{message}.{CONTENT_CHARS}", offset + len(body["text"]))
        elif kind == "put_todo":
            update.set(f"status.todos.{escape_key(body.get('key', ''))}", body.get("todo", {}))
        elif kind == "remove_todo":
            update.set(f"status.todos.{escape_key(body.get('key', ''))}", None)
        elif kind == "truncate":
            field, prefix = _list_named(body)
            length, previous = body.get("length", 0), body.get("previous_length", 0)
            if not (isinstance(length, int) and isinstance(previous, int) and 0 <= length <= previous
                    and previous <= MAX_ITEMS):
                raise ValueError(f"truncate lengths must be in [0, {MAX_ITEMS}], the length not above the previous")
            for index in range(length, previous):
                update.set(f"status.{field}.{item_key(prefix, index)}", None)
        else:
            raise ValueError(f"unknown status change {kind!r}")
    return update.document()


def encoded_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: close to (and above) its BSON size."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class _Set:
    """A value an update sets at a path (a leaf of `_UpdateBuilder`'s tree)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _UpdateBuilder:
    """Collects `$set` paths as a tree of their parts, so each path costs its own length:
    a path inside one already set edits that value, and a path set over others replaces
    them, so one update never names a path and its parent (MongoDB refuses such
    conflicts)."""

    def __init__(self) -> None:
        self._root: dict[str, Any] = {}  # part → _Set | dict (deeper paths)

    def set(self, path: str, value: Any) -> None:
        parts = path.split(".")
        node = self._root
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, _Set):
                if not isinstance(child.value, dict):
                    child.value = {}
                _assign(child.value, parts[depth + 1:], copy.deepcopy(value))
                return
            if child is None:
                child = node[part] = {}
            node = child
        node[parts[-1]] = _Set(copy.deepcopy(value))

    def document(self) -> dict[str, Any]:
        sets: dict[str, Any] = {}
        stack: list[tuple[str, dict[str, Any]]] = [("", self._root)]
        while stack:
            prefix, node = stack.pop()
            for part, child in node.items():
                path = f"{prefix}{part}"
                if isinstance(child, _Set):
                    sets[path] = child.value
                else:
                    stack.append((path + ".", child))
        doc: dict[str, Any] = {}
        if sets:
            doc["$set"] = sets
        written = sum(len(p) + encoded_size(v) for p, v in sets.items())
        doc["$inc"] = {STATUS_BYTES_FIELD: written}
        return doc


def _assign(target: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[parts[-1]] = value


# -- what a patch needs of the stored status ------------------------------------------


class _ListShape:
    """What a patch's own changes establish about one stored list: its exact length
    (after a truncate) or how many items it has at least."""

    __slots__ = ("at_least", "exact")

    def __init__(self) -> None:
        self.exact: int | None = None
        self.at_least = 0


def fit_conditions(changes: list[Change]) -> dict[str, Any]:
    """A MongoDB filter (paths under `status.`) that holds exactly when `changes` fit the
    stored status, by the rules of `apply_changes`; time linear in the changes. Raises
    PatchDoesNotFit when they fit no status (they contradict each other), ValueError when
    they are malformed.

    A put at i needs item i-1 (an object: removed items are null); an append needs the
    message's stored `content_chars` to equal its offset; a truncate needs item p-1 and no
    item p; a phase needs no later phase stored. What earlier changes of the same patch
    establish is checked here instead.
    """
    conditions: dict[str, Any] = {}
    shapes = {field: _ListShape() for field in _PREFIX_BY_FIELD}
    chars: dict[int, int] = {}  # message index → its text length, as the patch left it
    phase_rank: int | None = None  # the phase the patch set last, once it set one
    for change in changes:
        kind, body = _only_item(change)
        if kind == "set":
            phase = body.get("phase")
            if phase:
                rank = _phase_rank(phase)
                if phase_rank is None:
                    later = sorted(p for p, r in PHASE_RANK.items() if r > rank)
                    if later:
                        conditions["status.phase"] = {"$nin": later}
                elif rank < phase_rank:
                    raise PatchDoesNotFit(f"phase {phase} set after a later one")
                phase_rank = rank
        elif kind in _PUTS:
            field, item_field, prefix = _PUTS[kind]
            index = _position_in(body, "index")
            shape = shapes[field]
            if shape.exact is not None:
                if index > shape.exact:
                    raise PatchDoesNotFit(f"item {index} put after only {shape.exact} items")
                shape.exact = max(shape.exact, index + 1)
            else:
                if index > shape.at_least:
                    conditions[f"status.{field}.{item_key(prefix, index - 1)}"] = {"$type": "object"}
                shape.at_least = max(shape.at_least, index + 1)
            if field == "messages":
                item = body.get(item_field) or {}
                chars[index] = len(item.get("content") or "")
        elif kind == "append_text":
            index, offset = _position_in(body, "index"), _position_in(body, "offset")
            shape = shapes["messages"]
            if shape.exact is not None and index >= shape.exact:
                raise PatchDoesNotFit(f"text appended to message {index} of {shape.exact}")
            if index in chars:  # put or appended to by this patch, and not cut since
                if chars[index] != offset:
                    raise PatchDoesNotFit(f"text appended at {offset} to {chars[index]} characters")
            else:
                path = f"status.messages.{item_key('m', index)}.{CONTENT_CHARS}"
                if path in conditions and conditions[path] != offset:
                    raise PatchDoesNotFit(f"text appended at {offset} to {conditions[path]} characters")
                conditions[path] = offset
                if shape.exact is None:
                    shape.at_least = max(shape.at_least, index + 1)
            chars[index] = offset + len(body.get("text") or "")
        elif kind == "truncate":
            field, prefix = _list_named(body)
            length, previous = _truncate_lengths(body)
            shape = shapes[field]
            if shape.exact is not None:
                if previous != shape.exact:
                    raise PatchDoesNotFit(f"{field} truncated from {previous} items, but it has {shape.exact}")
            else:
                if previous < shape.at_least:
                    raise PatchDoesNotFit(f"{field} truncated from {previous} items, but it has {shape.at_least}")
                if previous > shape.at_least:
                    conditions[f"status.{field}.{item_key(prefix, previous - 1)}"] = {"$type": "object"}
                if previous < MAX_ITEMS:
                    conditions[f"status.{field}.{item_key(prefix, previous)}"] = {"$in": [None]}
            shape.exact = length
        elif kind not in ("put_todo", "remove_todo"):
            raise ValueError(f"unknown status change {kind!r}")
    return conditions
