"""The wire contract, byte for byte, as Stigmer's own generated stubs see it.

Requests are encoded here by hand, field by field, with the types of Stigmer's
`.proto` files (every timestamp a `string`, `runtime_env` values `ExecutionValue`
messages, `owner_scope` an enum, `metadata.version` a message) and answers are decoded
by hand too, so the project's own stubs cannot hide a mismatch.
"""

from __future__ import annotations

from collections import defaultdict

import grpc
import pytest

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from tests.utils.grpc_api import GrpcStubs

COMMANDS = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/"
QUERIES = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController/"

VARINT, LENGTH = 0, 2
# What Stigmer's runner writes: datetime.utcnow().isoformat(), naive, fraction optional.
STIGMER_STAMP = "2026-01-22T10:30:00.123456"
STIGMER_STAMP_WHOLE = "2026-01-22T10:30:00"
SECRET = "sk-wire-secret-value"

# Stigmer's field numbers (ai.stigmer.agentic.agentexecution.v1 and friends).
EXECUTION = {"api_version": 1, "kind": 2, "metadata": 3, "spec": 4, "status": 5}
METADATA = {"name": 1, "id": 3, "owner_scope": 5, "labels": 6, "version": 9}
VERSION = {"id": 1, "message": 2, "previous_version_id": 3}
SPEC = {"session_id": 1, "agent_id": 2, "message": 3, "runtime_env": 5}
EXECUTION_VALUE = {"value": 1, "is_secret": 2}
STATUS = {"messages": 1, "phase": 2, "tool_calls": 3, "sub_agent_executions": 4,
          "started_at": 7, "completed_at": 8, "todos": 9}
MESSAGE = {"type": 1, "content": 2, "timestamp": 3, "tool_calls": 4}
TOOL_CALL = {"id": 1, "name": 2, "status": 5, "started_at": 7, "completed_at": 8}
SUB_AGENT = {"id": 1, "name": 2, "status": 5, "started_at": 6, "completed_at": 7}
TODO = {"id": 1, "content": 2, "status": 3, "created_at": 4, "updated_at": 5}
IN_PROGRESS, MESSAGE_AI, TOOL_CALL_RUNNING, TODO_IN_PROGRESS, SUB_AGENT_IN_PROGRESS = 2, 2, 2, 2, 2


# -- a hand-written protobuf encoder ------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int32/int64 travel as ten-byte two's complement
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def string(number: int, text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return key(number, LENGTH) + varint(len(data)) + data


def message(number: int, *fields: bytes) -> bytes:
    return string(number, b"".join(fields))


def enum(number: int, value: int) -> bytes:
    return key(number, VARINT) + varint(value)


def map_entry(number: int, map_key: str, *value_fields: bytes) -> bytes:
    """One `map<string, Message>` entry: key = 1, value = 2."""
    return message(number, string(1, map_key), message(2, *value_fields))


# -- a hand-written protobuf decoder ------------------------------------------------------


class Decoded:
    """Fields of one message by number: varints as ints, length-delimited as bytes."""

    def __init__(self, data: bytes) -> None:
        self.fields: dict[int, list[int | bytes]] = defaultdict(list)
        pos = 0
        while pos < len(data):
            tag, pos = _read_varint(data, pos)
            number, wire_type = tag >> 3, tag & 7
            if wire_type == VARINT:
                value, pos = _read_varint(data, pos)
                self.fields[number].append(value)
            elif wire_type == LENGTH:
                size, pos = _read_varint(data, pos)
                self.fields[number].append(data[pos:pos + size])
                pos += size
            elif wire_type == 1:
                self.fields[number].append(data[pos:pos + 8])
                pos += 8
            elif wire_type == 5:
                self.fields[number].append(data[pos:pos + 4])
                pos += 4
            else:
                raise AssertionError(f"wire type {wire_type} of field {number} is not proto3")

    def raw(self, number: int) -> bytes:
        """A length-delimited field's bytes, exactly as they came (b"" when absent)."""
        values = self.fields.get(number, [])
        assert len(values) <= 1, f"field {number} repeated"
        assert all(isinstance(v, bytes) for v in values), f"field {number} is not length-delimited"
        return values[0] if values else b""  # type: ignore[return-value]

    def text(self, number: int) -> str:
        return self.raw(number).decode("utf-8")  # Stigmer's stubs require valid UTF-8

    def scalar(self, number: int) -> int:
        values = self.fields.get(number, [0])
        assert isinstance(values[-1], int), f"field {number} is not a varint"
        return values[-1]

    def sub(self, number: int) -> Decoded:
        return Decoded(self.raw(number))

    def subs(self, number: int) -> list[Decoded]:
        return [Decoded(v) for v in self.fields.get(number, []) if isinstance(v, bytes)]

    def map(self, number: int) -> dict[str, Decoded]:
        return {entry.text(1): entry.sub(2) for entry in self.subs(number)}


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


# -- Stigmer-shaped requests --------------------------------------------------------------


def create_request(agent: Agent) -> bytes:
    return b"".join([
        string(EXECUTION["api_version"], "agentic.stigmer.ai/v1"),
        string(EXECUTION["kind"], "AgentExecution"),
        message(
            EXECUTION["metadata"],
            string(METADATA["name"], "wire"),
            message(METADATA["labels"], string(1, "team"), string(2, "contract")),
            message(
                METADATA["version"],
                string(VERSION["id"], "ver-1"),
                string(VERSION["message"], "first cut"),
            ),
        ),
        message(
            EXECUTION["spec"],
            string(SPEC["agent_id"], agent.metadata.id),
            string(SPEC["message"], "hello"),
            map_entry(SPEC["runtime_env"], "TZ", string(EXECUTION_VALUE["value"], "UTC")),
            map_entry(
                SPEC["runtime_env"], "API_KEY",
                string(EXECUTION_VALUE["value"], SECRET), enum(EXECUTION_VALUE["is_secret"], 1),
            ),
        ),
    ])


def tool_call(number: int) -> bytes:
    return message(
        number,
        string(TOOL_CALL["id"], "call-1"),
        string(TOOL_CALL["name"], "word_count"),
        enum(TOOL_CALL["status"], TOOL_CALL_RUNNING),
        string(TOOL_CALL["started_at"], STIGMER_STAMP_WHOLE),
    )


def runner_status(*, phase: int = IN_PROGRESS, message_type: int = MESSAGE_AI) -> bytes:
    """What Stigmer's runner sends after one tool call and one streamed token."""
    return b"".join([
        message(
            STATUS["messages"],
            enum(MESSAGE["type"], message_type),
            string(MESSAGE["content"], "Hel"),
            string(MESSAGE["timestamp"], STIGMER_STAMP),
            tool_call(MESSAGE["tool_calls"]),
        ),
        enum(STATUS["phase"], phase),
        tool_call(STATUS["tool_calls"]),
        message(
            STATUS["sub_agent_executions"],
            string(SUB_AGENT["id"], "sub-1"),
            string(SUB_AGENT["name"], "researcher"),
            enum(SUB_AGENT["status"], SUB_AGENT_IN_PROGRESS),
            string(SUB_AGENT["started_at"], STIGMER_STAMP),
        ),
        string(STATUS["started_at"], STIGMER_STAMP_WHOLE),
        map_entry(
            STATUS["todos"], "t1",
            string(TODO["id"], "t1"),
            string(TODO["content"], "count words"),
            enum(TODO["status"], TODO_IN_PROGRESS),
            string(TODO["created_at"], STIGMER_STAMP_WHOLE),
            string(TODO["updated_at"], STIGMER_STAMP),
        ),
    ])


def update_status_request(execution_id: str, status: bytes) -> bytes:
    return string(1, execution_id) + message(2, status)


def execution_id_request(execution_id: str) -> bytes:
    return string(1, execution_id)


# -- the calls ----------------------------------------------------------------------------


async def call(grpc_api: GrpcStubs, method: str, request: bytes) -> bytes:
    """A unary call with raw bytes both ways (no stubs, no serializers)."""
    return await grpc_api.channel.unary_unary(method)(request, timeout=10)


async def first_streamed(grpc_api: GrpcStubs, method: str, request: bytes) -> bytes:
    stream = grpc_api.channel.unary_stream(method)(request, timeout=10)
    try:
        async for reply in stream:
            return reply
    finally:
        stream.cancel()
    raise AssertionError("the stream ended without a message")


async def create(grpc_api: GrpcStubs, agent: Agent) -> Decoded:
    return Decoded(await call(grpc_api, COMMANDS + "create", create_request(agent)))


def assert_stigmer_status(status: Decoded) -> None:
    """The runner's status, every timestamp returned exactly as it was sent."""
    assert status.scalar(STATUS["phase"]) == IN_PROGRESS
    assert status.raw(STATUS["started_at"]) == STIGMER_STAMP_WHOLE.encode()
    assert status.raw(STATUS["completed_at"]) == b""
    [msg] = status.subs(STATUS["messages"])
    assert msg.scalar(MESSAGE["type"]) == MESSAGE_AI and msg.text(MESSAGE["content"]) == "Hel"
    assert msg.raw(MESSAGE["timestamp"]) == STIGMER_STAMP.encode()
    for call_ in (*msg.subs(MESSAGE["tool_calls"]), *status.subs(STATUS["tool_calls"])):
        assert call_.text(TOOL_CALL["id"]) == "call-1"
        assert call_.scalar(TOOL_CALL["status"]) == TOOL_CALL_RUNNING
        assert call_.raw(TOOL_CALL["started_at"]) == STIGMER_STAMP_WHOLE.encode()
    [sub] = status.subs(STATUS["sub_agent_executions"])
    assert sub.raw(SUB_AGENT["started_at"]) == STIGMER_STAMP.encode()
    todo = status.map(STATUS["todos"])["t1"]
    assert todo.raw(TODO["created_at"]) == STIGMER_STAMP_WHOLE.encode()
    assert todo.raw(TODO["updated_at"]) == STIGMER_STAMP.encode()


def assert_secret_redacted(execution: Decoded, raw: bytes) -> None:
    env = execution.sub(EXECUTION["spec"]).map(SPEC["runtime_env"])
    assert env["TZ"].text(EXECUTION_VALUE["value"]) == "UTC"
    assert env["TZ"].scalar(EXECUTION_VALUE["is_secret"]) == 0
    assert env["API_KEY"].scalar(EXECUTION_VALUE["is_secret"]) == 1
    assert env["API_KEY"].text(EXECUTION_VALUE["value"]) == ""
    assert SECRET.encode() not in raw


# -- tests --------------------------------------------------------------------------------


async def test_stigmer_shaped_create_keeps_metadata_version_and_unspecified_owner_scope(
    grpc_api: GrpcStubs, agent: Agent
) -> None:
    raw = await call(grpc_api, COMMANDS + "create", create_request(agent))
    created = Decoded(raw)
    assert created.text(EXECUTION["api_version"]) == "agentic.stigmer.ai/v1"
    assert created.text(EXECUTION["kind"]) == "AgentExecution"
    metadata = created.sub(EXECUTION["metadata"])
    assert metadata.text(METADATA["id"]).startswith("aex_")
    assert metadata.scalar(METADATA["owner_scope"]) == 0
    version = metadata.sub(METADATA["version"])
    assert version.text(VERSION["id"]) == "ver-1"
    assert version.text(VERSION["message"]) == "first cut"
    assert version.raw(VERSION["previous_version_id"]) == b""
    assert_secret_redacted(created, raw)

    fetched_raw = await call(
        grpc_api, QUERIES + "get", execution_id_request(metadata.text(METADATA["id"]))
    )
    fetched = Decoded(fetched_raw)
    assert fetched.sub(EXECUTION["metadata"]).sub(METADATA["version"]).text(VERSION["id"]) == "ver-1"
    assert_secret_redacted(fetched, fetched_raw)


async def test_stigmer_runner_status_is_accepted_and_timestamps_come_back_byte_exact(
    grpc_api: GrpcStubs, agent: Agent
) -> None:
    execution_id = (await create(grpc_api, agent)).sub(EXECUTION["metadata"]).text(METADATA["id"])

    updated = Decoded(await call(
        grpc_api, COMMANDS + "updateStatus", update_status_request(execution_id, runner_status())
    ))
    assert_stigmer_status(updated.sub(EXECUTION["status"]))

    fetched_raw = await call(grpc_api, QUERIES + "get", execution_id_request(execution_id))
    fetched = Decoded(fetched_raw)
    assert_stigmer_status(fetched.sub(EXECUTION["status"]))
    assert_secret_redacted(fetched, fetched_raw)

    streamed_raw = await first_streamed(
        grpc_api, QUERIES + "subscribe", execution_id_request(execution_id)
    )
    streamed = Decoded(streamed_raw)
    assert_stigmer_status(streamed.sub(EXECUTION["status"]))
    assert_secret_redacted(streamed, streamed_raw)


@pytest.mark.parametrize(
    ("status", "what"),
    [
        (runner_status(phase=77), "phase"),
        (runner_status(message_type=99), "type"),
        (b"".join([enum(STATUS["phase"], IN_PROGRESS),
                   message(STATUS["tool_calls"], string(1, "c"), enum(TOOL_CALL["status"], 9))]), "status"),
        (b"".join([enum(STATUS["phase"], IN_PROGRESS),
                   map_entry(STATUS["todos"], "t", enum(TODO["status"], 42))]), "status"),
        (b"".join([enum(STATUS["phase"], IN_PROGRESS),
                   message(STATUS["sub_agent_executions"], enum(SUB_AGENT["status"], 8))]), "status"),
    ],
    ids=["phase", "message-type", "tool-call-status", "todo-status", "sub-agent-status"],
)
async def test_undefined_enum_values_are_refused_and_nothing_is_stored(
    grpc_api: GrpcStubs, agent: Agent, status: bytes, what: str
) -> None:
    execution_id = (await create(grpc_api, agent)).sub(EXECUTION["metadata"]).text(METADATA["id"])
    before = await call(grpc_api, QUERIES + "get", execution_id_request(execution_id))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(grpc_api, COMMANDS + "updateStatus", update_status_request(execution_id, status))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert what in refused.value.details() and "not a defined" in refused.value.details()

    assert await call(grpc_api, QUERIES + "get", execution_id_request(execution_id)) == before


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (update_status_request("", runner_status()), "execution_id is required"),
        (string(1, "aex_missingstatus"), "status is required"),
    ],
    ids=["no-execution-id", "no-status"],
)
async def test_update_status_needs_an_id_and_a_status(
    grpc_api: GrpcStubs, request_bytes: bytes, expected: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(grpc_api, COMMANDS + "updateStatus", request_bytes)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in refused.value.details()
