"""How an execution is laid out in MongoDB, and a status change as a MongoDB update.

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
import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from domain.convert import env_values, to_json
from domain.status_changes import (
    PHASE_RANK,
    PUTS,
    SCALAR_FIELDS,
    Change,
    PatchDoesNotFit,
    Status,
    encoded_size,
    list_named,
    only_item,
    phase_rank,
    position_in,
    truncate_lengths,
)

STATUS_BYTES_FIELD = "status_bytes"  # top-level document counter, see `mongo_update`
# The highest version a live stream may have published (application/live_status.py):
# a write that does not come from that stream continues above it.
LIVE_CEILING_FIELD = "live_version_ceiling"
CONTENT_CHARS = "content_chars"  # a stored message's text length, see `fit_conditions`
# Positions the storage keys can spell (5 digits for items, 9 for text offsets).
MAX_ITEMS = 100_000
MAX_TEXT_OFFSET = 1_000_000_000
# The key prefix of each status list's items.
PREFIX_BY_FIELD = {"messages": "m", "tool_calls": "t", "sub_agent_executions": "s"}


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
    doc = {k: v for k, v in status.items() if k not in PREFIX_BY_FIELD and k != "todos"}
    for field, prefix in PREFIX_BY_FIELD.items():
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
    status = {k: v for k, v in doc_status.items() if k not in PREFIX_BY_FIELD and k != "todos"}
    for field in PREFIX_BY_FIELD:
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
        kind, body = only_item(change)
        if kind == "set":
            for field, value in body.items():
                if field in SCALAR_FIELDS and value:
                    update.set(f"status.{field}", value)
        elif kind in PUTS:
            field, item_field = PUTS[kind]
            prefix = PREFIX_BY_FIELD[field]
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
            field = list_named(body)
            prefix = PREFIX_BY_FIELD[field]
            length, previous = body.get("length", 0), body.get("previous_length", 0)
            if not (isinstance(length, int) and isinstance(previous, int) and 0 <= length <= previous
                    and previous <= MAX_ITEMS):
                raise ValueError(f"truncate lengths must be in [0, {MAX_ITEMS}], the length not above the previous")
            for index in range(length, previous):
                update.set(f"status.{field}.{item_key(prefix, index)}", None)
        else:
            raise ValueError(f"unknown status change {kind!r}")
    return update.document()



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
    shapes = {field: _ListShape() for field in PREFIX_BY_FIELD}
    chars: dict[int, int] = {}  # message index → its text length, as the patch left it
    set_rank: int | None = None  # the rank of the phase the patch set last, once it set one
    for change in changes:
        kind, body = only_item(change)
        if kind == "set":
            phase = body.get("phase")
            if phase:
                rank = phase_rank(phase)
                if set_rank is None:
                    later = sorted(p for p, r in PHASE_RANK.items() if r > rank)
                    if later:
                        conditions["status.phase"] = {"$nin": later}
                elif rank < set_rank:
                    raise PatchDoesNotFit(f"phase {phase} set after a later one")
                set_rank = rank
        elif kind in PUTS:
            field, item_field = PUTS[kind]
            prefix = PREFIX_BY_FIELD[field]
            index = position_in(body, "index")
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
            index, offset = position_in(body, "index"), position_in(body, "offset")
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
            field = list_named(body)
            prefix = PREFIX_BY_FIELD[field]
            length, previous = truncate_lengths(body)
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


# -- execution documents -------------------------------------------------------------


def execution_to_document(execution: api_pb2.AgentExecution, *, version: int) -> dict[str, Any]:
    """A new execution as its MongoDB document (`_id` = metadata.id)."""
    body = to_json(execution)
    body.get("status", {}).pop("version", None)
    if "status" in body:
        # Lists as position-keyed maps, so each status change is a small $set.
        body["status"] = status_to_document(body["status"])
    return {
        "_id": execution.metadata.id,
        **body,
        "version": version,
        "status_sequence": 0,
        "created_at": datetime.now(UTC),
    }


def document_to_execution(doc: dict[str, Any]) -> api_pb2.AgentExecution:
    """A stored document → the proto clients see; `status.version` carries the doc version."""
    body = {k: doc[k] for k in _BODY_FIELDS if k in doc}
    if "status" in body:
        body["status"] = status_from_document(body["status"])
    if "runtime_env" in body.get("spec", {}):
        body["spec"] = {**body["spec"], "runtime_env": env_values(body["spec"]["runtime_env"])}
    execution = json_format.ParseDict(body, api_pb2.AgentExecution(), ignore_unknown_fields=True)
    execution.status.version = int(doc.get("version", 0))
    return execution


_BODY_FIELDS = ("api_version", "kind", "metadata", "spec", "status")
