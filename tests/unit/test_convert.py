"""The one mapping: documents, proto messages and REST bodies, and what reads redact."""

from __future__ import annotations

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain import convert
from persistence import status_layout


def rich_execution() -> api_pb2.AgentExecution:
    execution = api_pb2.AgentExecution(api_version=convert.API_VERSION, kind=convert.KIND)
    execution.metadata.id = "aex_abc"
    execution.metadata.labels["team"] = "a"
    execution.spec.message = "hi"
    execution.spec.callback_token = b"secret"
    execution.status.phase = enum_pb2.EXECUTION_IN_PROGRESS
    execution.status.callback_token = b"secret"
    message = execution.status.messages.add(type=enum_pb2.MESSAGE_AI, content="hello")
    message.timestamp = "2023-11-14T22:13:20"
    call = execution.status.tool_calls.add(id="c1", name="word_count", status=enum_pb2.TOOL_CALL_COMPLETED)
    call.args.update({"text": "a b", "n": 2.5, "nested": {"x": [1, "y"]}})
    execution.status.todos["t1"].content = "plan"
    execution.status.sub_agent_executions.add(id="s1", name="researcher")
    return execution


def document_to_body(doc: dict) -> dict:
    """What a REST read of a stored document answers."""
    return convert.execution_to_body(status_layout.document_to_execution(doc))


def test_a_document_reads_as_a_body_with_its_version_and_no_callback_tokens() -> None:
    doc = status_layout.execution_to_document(rich_execution(), version=7)
    body = document_to_body(doc)
    assert body["version"] == 7
    assert "callback_token" not in body["spec"] and "callback_token" not in body["status"]


def test_body_to_execution_inverts_execution_to_body() -> None:
    execution = rich_execution()
    execution.status.version = 4
    execution.spec.callback_token = b""
    execution.status.callback_token = b""
    assert convert.body_to_execution(convert.execution_to_body(execution)) == execution


def test_secret_runtime_env_values_are_redacted_in_every_read_shape() -> None:
    execution = rich_execution()
    execution.spec.runtime_env["API_KEY"].value = "sk-secret"
    execution.spec.runtime_env["API_KEY"].is_secret = True
    execution.spec.runtime_env["TZ"].value = "UTC"
    doc = status_layout.execution_to_document(execution, version=2)
    assert doc["spec"]["runtime_env"]["API_KEY"] == {"value": "sk-secret", "is_secret": True}  # stored whole

    redacted = {"API_KEY": {"value": "", "is_secret": True}, "TZ": {"value": "UTC"}}
    assert document_to_body(doc)["spec"]["runtime_env"] == redacted
    assert convert.execution_to_body(execution)["spec"]["runtime_env"] == redacted
    public = convert.public_execution(status_layout.document_to_execution(doc))
    assert b"sk-secret" not in public.SerializeToString()
    assert public.spec.runtime_env["API_KEY"].is_secret and not public.spec.callback_token
    assert status_layout.document_to_execution(doc).spec.runtime_env["API_KEY"].value == "sk-secret"


def test_documents_with_plain_string_runtime_env_still_read() -> None:
    doc = status_layout.execution_to_document(rich_execution(), version=1)
    doc["spec"]["runtime_env"] = {"TZ": "UTC"}  # written before values were ExecutionValue
    assert status_layout.document_to_execution(doc).spec.runtime_env["TZ"].value == "UTC"
    assert document_to_body(doc)["spec"]["runtime_env"] == {"TZ": {"value": "UTC"}}


def test_string_timestamps_pass_through_unchanged() -> None:
    execution = rich_execution()
    execution.status.started_at = "2026-01-22T10:30:00"
    doc = status_layout.execution_to_document(execution, version=1)
    assert status_layout.document_to_execution(doc).status.started_at == "2026-01-22T10:30:00"
    assert document_to_body(doc)["status"]["messages"][0]["timestamp"] == "2023-11-14T22:13:20"


def test_new_documents_store_lists_as_maps_and_old_list_shaped_ones_still_read() -> None:
    execution = rich_execution()
    doc = status_layout.execution_to_document(execution, version=3)
    assert set(doc["status"]["messages"]) == {"m00000"}
    assert doc["status"]["messages"]["m00000"]["content_parts"] == {"o000000000": "hello"}
    old = {**doc, "status": {**convert.to_json(execution.status)}}  # as written before maps
    assert isinstance(old["status"]["messages"], list)
    assert document_to_body(old) == document_to_body(doc)
    assert status_layout.document_to_execution(old) == status_layout.document_to_execution(doc)
