"""Stigmer's contract without our additions, and a Temporal converter that decodes as
strictly as Stigmer's workers do.

Stigmer's runner and server decode Temporal payloads as protobuf JSON and refuse fields
they do not know. Their messages are ours minus our additions (fields numbered from
`FIRST_ADDED_FIELD_NUMBER` up), so the descriptors here are copies of ours with those
fields removed, in a descriptor pool of their own. `STIGMER_FIELD_NUMBERS` pins the
numbers Stigmer's messages have, so an addition numbered below the range is caught too.
"""

from __future__ import annotations

from typing import Any

import temporalio.api.common.v1
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message import Message
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONProtoPayloadConverter,
)

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from domain.workflow_contract import FIRST_ADDED_FIELD_NUMBER

# The field numbers of Stigmer's messages that cross Temporal (read from Stigmer's own
# stubs, ai.stigmer.* of github.com/stigmer/stigmer).
STIGMER_FIELD_NUMBERS: dict[str, list[int]] = {
    "ai.stigmer.agentic.agentexecution.v1.AgentExecution": [1, 2, 3, 4, 5],
    "ai.stigmer.agentic.agentexecution.v1.AgentExecutionSpec": [1, 2, 3, 4, 5, 6],
    "ai.stigmer.agentic.agentexecution.v1.AgentExecutionStatus": [1, 2, 3, 4, 6, 7, 8, 9, 10, 99],
    "ai.stigmer.agentic.agentexecution.v1.AgentMessage": [1, 2, 3, 4, 5],
    "ai.stigmer.agentic.agentexecution.v1.ToolCall": [1, 2, 3, 4, 5, 6, 7, 8, 9],
    "ai.stigmer.agentic.agentexecution.v1.SubAgentExecution": [1, 2, 3, 4, 5, 6, 7, 8, 9],
    "ai.stigmer.agentic.agentexecution.v1.TodoItem": [1, 2, 3, 4, 5],
    "ai.stigmer.agentic.agentexecution.v1.ExecutionConfig": [1],
    "ai.stigmer.agentic.agentexecution.v1.ComponentMetadata": [1, 2, 3, 4],
    "ai.stigmer.agentic.executioncontext.v1.ExecutionValue": [1, 2],
    "ai.stigmer.commons.apiresource.ApiResourceMetadata": [1, 2, 3, 4, 5, 6, 7, 8, 9],
    "ai.stigmer.commons.apiresource.ApiResourceMetadataVersion": [1, 2, 3],
    "ai.stigmer.commons.apiresource.ApiResourceAudit": [1, 2],
    "ai.stigmer.commons.apiresource.ApiResourceAuditInfo": [1, 2, 3, 4, 5],
    "ai.stigmer.commons.apiresource.ApiResourceAuditActor": [1, 2],
}


def reachable_messages(root: Descriptor) -> dict[str, Descriptor]:
    """Every message of ours reachable from `root` through its fields (map entries and
    well-known types left out)."""
    found: dict[str, Descriptor] = {}
    todo = [root]
    while todo:
        message = todo.pop()
        if message.full_name in found or message.full_name.startswith("google.protobuf."):
            continue
        if not message.GetOptions().map_entry:
            found[message.full_name] = message
        todo.extend(f.message_type for f in message.fields if f.message_type is not None)
    return found


def _strip(message: descriptor_pb2.DescriptorProto) -> None:
    kept = [f for f in message.field if f.number < FIRST_ADDED_FIELD_NUMBER]
    del message.field[:]
    message.field.extend(kept)
    for nested in message.nested_type:
        _strip(nested)


def _stigmer_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for message in proto.message_type:
            _strip(message)
        pool.Add(proto)
        added.add(file.name)

    add(api_pb2.DESCRIPTOR)
    return pool


STIGMER_POOL = _stigmer_pool()


def stigmer_class(full_name: str) -> type[Message] | None:
    """Stigmer's message class of that name, or None when it is not Stigmer's."""
    if not full_name.startswith("ai.stigmer."):
        return None
    return message_factory.GetMessageClass(STIGMER_POOL.FindMessageTypeByName(full_name))


def decode_strictly(full_name: str, data: bytes) -> Message:
    """Decode proto JSON as Stigmer's code does: a field Stigmer lacks is an error."""
    cls = stigmer_class(full_name)
    assert cls is not None, full_name
    return json_format.Parse(data, cls(), ignore_unknown_fields=False)


class StrictStigmerJSONProto(JSONProtoPayloadConverter):
    """Decodes Stigmer's messages against Stigmer's descriptors, refusing unknown fields,
    then hands the caller our class of the same name (ours is a superset, so the test
    code keeps our types)."""

    def from_payload(self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None) -> Any:
        name = payload.metadata.get("messageType", b"").decode()
        if stigmer_class(name) is None:
            return super().from_payload(payload, type_hint)
        decode_strictly(name, payload.data)  # raises on a field Stigmer lacks
        return super().from_payload(payload, type_hint)


class StrictStigmerPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                StrictStigmerJSONProto() if isinstance(c, JSONProtoPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


STRICT_STIGMER_CONVERTER = DataConverter(payload_converter_class=StrictStigmerPayloadConverter)
