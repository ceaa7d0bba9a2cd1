"""Stigmer's validation rules as pure functions (both transports call these)."""

from __future__ import annotations

import re

import pytest

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, patch_pb2
from ai.stigmer.agentic.executioncontext.v1.spec_pb2 import ExecutionValue
from domain.errors import InvalidArgument
from domain.validation import (
    require_defined_enums,
    validate_new_execution,
    validate_status_update,
)


def full_status() -> api_pb2.AgentExecutionStatus:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    message = status.messages.add(type=enum_pb2.MESSAGE_AI, content="hi")
    message.tool_calls.add(id="c", status=enum_pb2.TOOL_CALL_RUNNING)
    status.tool_calls.add(id="c", status=enum_pb2.TOOL_CALL_RUNNING)
    status.sub_agent_executions.add(id="s", status=enum_pb2.SUB_AGENT_PENDING)
    status.todos["t"].status = enum_pb2.TODO_PENDING
    return status


BREAKS = {
    "status.phase": lambda s: setattr(s, "phase", 77),
    "status.messages[0].type": lambda s: setattr(s.messages[0], "type", 99),
    "status.messages[0].tool_calls[0].status": lambda s: setattr(s.messages[0].tool_calls[0], "status", 5),
    "status.tool_calls[0].status": lambda s: setattr(s.tool_calls[0], "status", 5),
    "status.sub_agent_executions[0].status": lambda s: setattr(s.sub_agent_executions[0], "status", 5),
    "status.todos[t].status": lambda s: setattr(s.todos["t"], "status", 5),
}


def test_a_status_with_defined_enums_passes() -> None:
    status = full_status()
    assert validate_status_update("aex_1", status) is status


@pytest.mark.parametrize("where", sorted(BREAKS))
def test_each_undefined_enum_in_a_status_is_named(where: str) -> None:
    status = full_status()
    BREAKS[where](status)
    with pytest.raises(InvalidArgument, match="^" + re.escape(where) + ": "):
        validate_status_update("aex_1", status)
    # The fast status check and the generic walk agree.
    with pytest.raises(InvalidArgument, match="not a defined"):
        require_defined_enums(status, "status")


def test_update_status_needs_an_id_and_a_status() -> None:
    with pytest.raises(InvalidArgument, match="execution_id is required"):
        validate_status_update("", full_status())
    with pytest.raises(InvalidArgument, match="status is required"):
        validate_status_update("aex_1", None)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda e: setattr(e, "api_version", "v2"), "api_version"),
        (lambda e: setattr(e, "kind", "Agent"), "kind"),
        (lambda e: setattr(e.metadata, "owner_scope", 2), "owner_scope"),
        (lambda e: setattr(e.spec, "message", "  "), "spec.message is required"),
        (lambda e: setattr(e.spec, "message", "x" * 11), "longer than 10"),
        (lambda e: setattr(e.status, "phase", 9), "status.phase"),
        (lambda e: e.spec.runtime_env["K"].CopyFrom(ExecutionValue(is_secret=True)), "a secret needs its value"),
    ],
    ids=["api-version", "kind", "owner-scope", "blank-message", "long-message", "status-enum", "empty-secret"],
)
def test_create_rules(edit, expected: str) -> None:
    execution = api_pb2.AgentExecution(api_version="agentic.stigmer.ai/v1", kind="AgentExecution")
    execution.spec.message = "hi"
    validate_new_execution(execution, max_message_chars=10)
    edit(execution)
    with pytest.raises(InvalidArgument, match=expected):
        validate_new_execution(execution, max_message_chars=10)


@pytest.mark.parametrize(
    "appends",
    [
        [(0, 0, "Hello")],
        [(2, 17, "naïve 🙂 text"), (0, 3, "")],
        [(1, 0, "")],
    ],
)
def test_text_appends_read_as_their_proto_json(appends: list[tuple[int, int, str]]) -> None:
    from domain.convert import to_json
    from domain.validation import validate_status_patch

    patch = patch_pb2.AgentExecutionStatusPatch(execution_id="aex_1", sequence=3)
    for index, offset, text in appends:
        patch.changes.add().append_text.CopyFrom(patch_pb2.TextAppend(index=index, offset=offset, text=text))
    assert validate_status_patch(patch) == to_json(patch)["changes"]
