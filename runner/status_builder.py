"""Builds an execution's live status from LangGraph `astream_events` (v2) events.

The status is what a user watches: the human message, the AI's text growing token by
token, tool calls with their lifecycle (PENDING when the model asks, RUNNING, then
COMPLETED or FAILED) both flat in `tool_calls` and on the AI message that issued them,
TOOL messages with results, the plan (`write_todos`) as todos, and delegations
(`task`) as sub-agent executions.

Only the agent's own model and tool runs shape the messages. Runs nested under a tool
run (e.g. the sub-agent's graph inside `task`) are told apart by the event's
`parent_ids`: a sub-agent's streamed text goes to its execution's output, anything
else nested is ignored.

Every change is announced to listeners with a flag saying whether it was structural
(phase, tool calls, todos, sub-agents) or only streamed text, so a sender can send
structural changes at once and space token changes out.

Streamed text is also kept as the status changes it makes (`take_changes`): a token
appended to a message is an `append_text` the moment it arrives, and a sub-agent's
growing output is a `put_sub_agent` of that one item, so a sender need not build and
diff whole snapshots while tokens stream. Anything else (a new message, a tool call, a
phase, todos) makes the next take answer None: the caller diffs a snapshot instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from langchain_core.messages import BaseMessage
from langchain_core.runnables.schema import StreamEvent

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, spec_pb2
from domain.convert import to_json
from domain.status_changes import Change
from domain.status_rules import TERMINAL_PHASES
from domain.timestamps import now_rfc3339
from runner.tools import TASK_TOOL, WRITE_TODOS_TOOL

ChangeListener = Callable[[bool], None]

_TODO_STATUS = {
    "pending": enum_pb2.TODO_PENDING,
    "in_progress": enum_pb2.TODO_IN_PROGRESS,
    "completed": enum_pb2.TODO_COMPLETED,
    "cancelled": enum_pb2.TODO_CANCELLED,
}
_TOOL_GROUPS = {WRITE_TODOS_TOOL: "planning", TASK_TOOL: "subagent"}
_OPEN_TOOL_CALLS = {enum_pb2.TOOL_CALL_PENDING, enum_pb2.TOOL_CALL_RUNNING}
_OPEN_SUB_AGENTS = {enum_pb2.SUB_AGENT_PENDING, enum_pb2.SUB_AGENT_IN_PROGRESS}


@dataclass
class _Message:
    """A message under construction; text is kept as parts so appending is cheap."""

    type: enum_pb2.MessageType
    parts: list[str]
    timestamp: str  # RFC 3339 UTC
    index: int  # its position in the status' messages
    tool_call_ids: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    chars: int = 0  # the text's length in code points (what an append's offset counts)

    def set_text(self, text: str) -> None:
        self.parts = [text] if text else []
        self.chars = len(text)

    def append(self, text: str) -> None:
        self.parts.append(text)
        self.chars += len(text)


@dataclass
class _Append:
    """Text appended to one message since the last take: where it began, and the text."""

    offset: int
    parts: list[str]


class StatusBuilder:
    """Accumulates one execution's status; `handle` events, read `snapshot()`."""

    def __init__(self, message: str) -> None:
        """Start a PENDING status whose first message is the user's `message`."""
        self._phase: enum_pb2.ExecutionPhase = enum_pb2.EXECUTION_PENDING
        self._error = ""
        self._started_at = ""
        self._completed_at = ""
        self._messages: list[_Message] = []
        self._add_message(enum_pb2.MESSAGE_HUMAN, message)
        self._tool_calls: dict[str, spec_pb2.ToolCall] = {}
        self._sub_agents: dict[str, spec_pb2.SubAgentExecution] = {}
        self._sub_agent_text: dict[str, list[str]] = {}
        self._todos: dict[str, spec_pb2.TodoItem] = {}
        self._todo_count = 0
        self._model_runs: dict[str, _Message] = {}
        self._tool_runs: dict[str, str] = {}  # tool run id -> tool call id
        self._task_runs: set[str] = set()
        self._listeners: list[ChangeListener] = []
        self._last_change_structural = False
        self._tool_components: dict[str, spec_pb2.ComponentMetadata] = {}
        # What changed since the last `take_changes`: text appended to messages that
        # existed then, sub-agents whose output changed, or `_reshaped` for anything else.
        self._reshaped = True  # the first take has nothing to build on
        self._appends: dict[int, _Append] = {}
        self._outputs_changed: set[str] = set()

    def describe_tools(self, components: Mapping[str, spec_pb2.ComponentMetadata]) -> None:
        """How calls of these tools are shown (e.g. an MCP tool names its server);
        other tools are built-in ones."""
        self._tool_components.update(components)

    # -- listening --------------------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> None:
        """Call `listener(structural)` after every change (synchronously, keep it cheap)."""
        self._listeners.append(listener)

    @property
    def last_change_structural(self) -> bool:
        """Whether the most recent change was structural rather than streamed text."""
        return self._last_change_structural

    def _changed(self, structural: bool) -> None:
        """Announce a change other than streamed text (for the take: the status' shape
        changed)."""
        self._reshaped = True
        self._announce(structural)

    def _announce(self, structural: bool) -> None:
        self._last_change_structural = structural
        for listener in self._listeners:
            listener(structural)

    # -- changes as they happen ---------------------------------------------------------

    def take_changes(self) -> list[Change] | None:
        """The changes (domain/status_changes.py) that turn the status as it was at the
        previous take into the status now, when only streamed text changed: one
        `append_text` per message that grew, one `put_sub_agent` per sub-agent whose
        output changed, in the order `diff_status` gives them (it would give the same).
        None when anything else changed, or on the first take: diff `snapshot()` then.
        Either way the next take starts from now, so take the snapshot right after a
        None, before any other event is handled.
        """
        reshaped, appends, outputs = self._reshaped, self._appends, self._outputs_changed
        self._reshaped, self._appends, self._outputs_changed = False, {}, set()
        if reshaped:
            return None
        changes: list[Change] = []
        for index in sorted(appends):
            append = appends[index]
            body: dict[str, Any] = {"index": index, "text": "".join(append.parts)}
            if append.offset:  # proto3 JSON leaves out zeros, as diff_status does
                body["offset"] = append.offset
            changes.append({"append_text": body})
        if outputs:
            for position, (sub_id, sub) in enumerate(self._sub_agents.items()):
                if sub_id in outputs:
                    item = to_json(self._sub_agent_snapshot(sub_id, sub))
                    body = {"index": position, "sub_agent": item} if position else {"sub_agent": item}
                    changes.append({"put_sub_agent": body})
        return changes

    def _appended(self, message: _Message, text: str) -> None:
        """Text streamed onto `message`: an append for the next take, a token change."""
        if not self._reshaped:  # (else the next take is None whatever is appended)
            append = self._appends.get(message.index)
            if append is None:
                append = self._appends[message.index] = _Append(message.chars, [])
            append.parts.append(text)
        message.append(text)
        self._announce(False)

    def _output_changed(self, sub_id: str) -> None:
        """A sub-agent's streamed output changed: a put of that item for the next take."""
        self._outputs_changed.add(sub_id)
        self._announce(False)

    # -- phase ------------------------------------------------------------------------

    def mark_in_progress(self) -> None:
        """The agent started running."""
        if self._phase in TERMINAL_PHASES:
            return
        self._phase = enum_pb2.EXECUTION_IN_PROGRESS
        self._started_at = self._started_at or now_rfc3339()
        self._changed(True)

    def mark_completed(self) -> None:
        """The agent finished normally."""
        self._finish(enum_pb2.EXECUTION_COMPLETED, "")

    def mark_failed(self, error: str) -> None:
        """The agent failed with a readable `error`; unfinished work is marked failed."""
        self._finish(enum_pb2.EXECUTION_FAILED, error)

    def mark_cancelled(self) -> None:
        """The execution was cancelled; unfinished work is marked failed as cancelled."""
        self._finish(enum_pb2.EXECUTION_CANCELLED, "")

    def _finish(self, phase: enum_pb2.ExecutionPhase, error: str) -> None:
        """Enter a terminal phase once; later calls are ignored (a terminal phase is final)."""
        if self._phase in TERMINAL_PHASES:
            return
        now = now_rfc3339()
        reason = error or "execution cancelled"
        for call in self._tool_calls.values():
            if call.status in _OPEN_TOOL_CALLS:
                call.status = enum_pb2.TOOL_CALL_FAILED
                call.error = reason
                call.completed_at = now
        for sub in self._sub_agents.values():
            if sub.status in _OPEN_SUB_AGENTS:
                sub.status = enum_pb2.SUB_AGENT_FAILED
                sub.error = reason
                sub.completed_at = now
        self._phase = phase
        self._error = error
        self._completed_at = now
        self._changed(True)

    # -- events -----------------------------------------------------------------------

    def handle(self, event: StreamEvent) -> None:
        """Fold one `astream_events` (v2) event into the status."""
        kind = event["event"]
        run_id = event["run_id"]
        data: Mapping[str, Any] = event.get("data", {})
        owner = self._owning_tool_run(event.get("parent_ids", []))
        if owner is not None:
            if owner in self._task_runs:
                self._handle_sub_agent_event(kind, self._tool_runs[owner], data)
            return
        if kind == "on_chat_model_stream":
            self._on_model_token(run_id, data)
        elif kind == "on_chat_model_end":
            self._on_model_end(run_id, data)
        elif kind == "on_tool_start":
            self._on_tool_start(run_id, event["name"], data)
        elif kind == "on_tool_end":
            self._on_tool_end(run_id, data)
        elif kind == "on_tool_error":
            self._on_tool_error(run_id, data)

    def _owning_tool_run(self, parent_ids: Sequence[str]) -> str | None:
        """The nearest enclosing tool run of an event, if it happens inside a tool."""
        for parent in reversed(parent_ids):
            if parent in self._tool_runs:
                return parent
        return None

    def _handle_sub_agent_event(self, kind: str, sub_id: str, data: Mapping[str, Any]) -> None:
        """Stream the sub-agent's latest model output into its execution's output."""
        if kind == "on_chat_model_start":
            if self._sub_agent_text.get(sub_id):
                self._sub_agent_text[sub_id] = []
                self._outputs_changed.add(sub_id)  # rides on the next send
        elif kind == "on_chat_model_stream" and (text := _text(data.get("chunk"))):
            self._sub_agent_text[sub_id].append(text)
            self._output_changed(sub_id)

    def _on_model_token(self, run_id: str, data: Mapping[str, Any]) -> None:
        """Append streamed text to this model run's AI message (created on first text)."""
        text = _text(data.get("chunk"))
        if not text:
            return
        message = self._model_runs.get(run_id)
        if message is None:  # a new message (so no append: the status' shape changes)
            self._model_runs[run_id] = self._add_message(enum_pb2.MESSAGE_AI, text)
            self._announce(False)
            return
        self._appended(message, text)

    def _on_model_end(self, run_id: str, data: Mapping[str, Any]) -> None:
        """Settle the message's text and record the tool calls it asks for as PENDING."""
        output = data.get("output")
        message = self._model_runs.pop(run_id, None)
        if not isinstance(output, BaseMessage):
            return
        text = _text(output)
        requested = getattr(output, "tool_calls", [])
        if message is None:
            if not (text or requested):
                return
            message = self._add_message(enum_pb2.MESSAGE_AI, "")
        if text and text != _joined(message.parts):
            message.set_text(text)
            self._reshaped = True  # not an append: the next take diffs a snapshot
        for request in requested:
            call_id = request.get("id") or run_id
            call = self._new_tool_call(call_id, request["name"], request["args"])
            message.tool_call_ids.append(call.id)
        if requested:
            self._changed(True)
        else:
            self._announce(False)  # only its text, if anything, changed

    def _on_tool_start(self, run_id: str, name: str, data: Mapping[str, Any]) -> None:
        args = _args(data.get("input"))
        call = self._pending_call(name, args) or self._new_tool_call(run_id, name, args)
        call.status = enum_pb2.TOOL_CALL_RUNNING
        call.started_at = now_rfc3339()
        self._tool_runs[run_id] = call.id
        if name == TASK_TOOL:
            self._task_runs.add(run_id)
            self._sub_agents[call.id] = spec_pb2.SubAgentExecution(
                id=call.id,
                name=str(args.get("sub_agent", "")),
                input=str(args.get("description", "")),
                status=enum_pb2.SUB_AGENT_IN_PROGRESS,
                started_at=call.started_at,
            )
            self._sub_agent_text[call.id] = []
        self._changed(True)

    def _on_tool_end(self, run_id: str, data: Mapping[str, Any]) -> None:
        call = self._finish_tool_call(run_id)
        if call is None:
            return
        result = _text(data.get("output"))
        call.status = enum_pb2.TOOL_CALL_COMPLETED
        call.result = result
        self._add_tool_message(call, result)
        if call.name == WRITE_TODOS_TOOL:
            self._write_todos(_args(data.get("input")).get("todos"))
        if sub := self._sub_agents.get(call.id):
            sub.status = enum_pb2.SUB_AGENT_COMPLETED
            sub.completed_at = call.completed_at
            self._sub_agent_text[call.id] = [result]
        self._changed(True)

    def _on_tool_error(self, run_id: str, data: Mapping[str, Any]) -> None:
        call = self._finish_tool_call(run_id)
        if call is None:
            return
        error = str(data.get("error", "tool failed"))
        call.status = enum_pb2.TOOL_CALL_FAILED
        call.error = error
        self._add_tool_message(call, f"Error: {error}")
        if sub := self._sub_agents.get(call.id):
            sub.status = enum_pb2.SUB_AGENT_FAILED
            sub.error = error
            sub.completed_at = call.completed_at
        self._changed(True)

    def _finish_tool_call(self, run_id: str) -> spec_pb2.ToolCall | None:
        """The tool call of this run, stamped as ended now; None for a run we never saw start."""
        call_id = self._tool_runs.get(run_id)
        if call_id is None:
            return None
        call = self._tool_calls[call_id]
        call.completed_at = now_rfc3339()
        return call

    def add_system_note(self, text: str) -> None:
        """A SYSTEM message for the reader (e.g. a degraded run)."""
        self._add_message(enum_pb2.MESSAGE_SYSTEM, text)
        self._changed(True)

    # -- pieces -----------------------------------------------------------------------

    def _add_message(self, kind: enum_pb2.MessageType, text: str) -> _Message:
        message = _Message(kind, [], now_rfc3339(), len(self._messages))
        message.set_text(text)
        self._messages.append(message)
        self._reshaped = True
        return message

    def _add_tool_message(self, call: spec_pb2.ToolCall, text: str) -> None:
        message = self._add_message(enum_pb2.MESSAGE_TOOL, text)
        message.metadata = {"tool_call_id": call.id, "tool_name": call.name}

    def _new_tool_call(self, call_id: str, name: str, args: Mapping[str, Any]) -> spec_pb2.ToolCall:
        call = spec_pb2.ToolCall(
            id=call_id,
            name=name,
            status=enum_pb2.TOOL_CALL_PENDING,
            component_metadata=self._tool_components.get(name)
            or spec_pb2.ComponentMetadata(
                component_type="tool", component_group=_TOOL_GROUPS.get(name, "builtin")
            ),
        )
        call.args.update(_json_safe(args))
        self._tool_calls[call_id] = call
        return call

    def _pending_call(self, name: str, args: Mapping[str, Any]) -> spec_pb2.ToolCall | None:
        """The PENDING call this tool run executes: same name, preferably same args.

        Tool start events do not carry the tool call id, so runs are matched to the
        model's requests by content, in request order.
        """
        candidates = [
            c for c in self._tool_calls.values()
            if c.name == name and c.status == enum_pb2.TOOL_CALL_PENDING
        ]
        wanted = _json_safe(args)
        exact = [c for c in candidates if _struct_dict(c) == wanted]
        return next(iter(exact or candidates), None)

    def _write_todos(self, todos: Any) -> None:
        """Replace the plan; an item keeps its id (and created_at) while its text is unchanged."""
        if not isinstance(todos, list):
            return
        now = now_rfc3339()
        by_content = {todo.content: todo for todo in self._todos.values()}
        updated: dict[str, spec_pb2.TodoItem] = {}
        for item in todos:
            if not isinstance(item, Mapping):
                continue
            content = str(item.get("content", "")).strip()
            status = _TODO_STATUS.get(str(item.get("status", "pending")), enum_pb2.TODO_PENDING)
            todo = by_content.pop(content, None)
            if todo is None:
                self._todo_count += 1
                todo = spec_pb2.TodoItem(
                    id=f"todo-{self._todo_count}", content=content, created_at=now
                )
            if todo.status != status or not todo.updated_at:
                todo.status = status
                todo.updated_at = now
            updated[todo.id] = todo
        self._todos = updated

    # -- output -----------------------------------------------------------------------

    def snapshot(self) -> api_pb2.AgentExecutionStatus:
        """A self-contained copy of the current status (safe to send while events flow)."""
        status = api_pb2.AgentExecutionStatus(
            phase=self._phase,
            error=self._error,
            started_at=self._started_at,
            completed_at=self._completed_at,
        )
        for message in self._messages:
            out = status.messages.add(
                type=message.type, content=_joined(message.parts), timestamp=message.timestamp
            )
            out.tool_calls.extend(self._tool_calls[i] for i in message.tool_call_ids)
            if message.metadata:
                out.metadata.update(message.metadata)
        status.tool_calls.extend(self._tool_calls.values())
        status.sub_agent_executions.extend(
            self._sub_agent_snapshot(sub_id, sub) for sub_id, sub in self._sub_agents.items()
        )
        for todo_id, todo in self._todos.items():
            status.todos[todo_id].CopyFrom(todo)
        return status


    def _sub_agent_snapshot(
        self, sub_id: str, sub: spec_pb2.SubAgentExecution
    ) -> spec_pb2.SubAgentExecution:
        out = spec_pb2.SubAgentExecution()
        out.CopyFrom(sub)
        out.output = _joined(self._sub_agent_text[sub_id])
        return out


def _joined(parts: list[str]) -> str:
    """The parts' text; compacts them in place so repeated snapshots stay linear."""
    text = "".join(parts)
    parts[:] = [text] if text else []
    return text


def _text(value: Any) -> str:
    """Plain text of a message, chunk or tool output."""
    if value is None:
        return ""
    if isinstance(value, BaseMessage):
        return str(value.text)
    return value if isinstance(value, str) else str(value)


def _args(value: Any) -> dict[str, Any]:
    """Tool input as a dict (a plain string input becomes {"input": value})."""
    if isinstance(value, Mapping):
        return dict(value)
    return {} if value is None else {"input": value}


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` as JSON data (what a protobuf Struct can hold); odd objects become strings."""
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


def _struct_dict(call: spec_pb2.ToolCall) -> dict[str, Any]:
    result: dict[str, Any] = MessageToDict(call.args)
    return result
