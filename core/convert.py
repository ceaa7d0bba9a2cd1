"""The one mapping between proto messages, JSON bodies and MongoDB documents.

JSON and Mongo share the proto3 JSON mapping with snake_case field names and enum
names as strings, so a stored document reads like the REST body of the same resource.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from core.errors import InvalidArgument

API_VERSION = "agentic.stigmer.ai/v1"
KIND = "AgentExecution"

PHASE_NAMES = {v: k for k, v in enum_pb2.ExecutionPhase.items()}


def to_json(message: Message) -> dict[str, Any]:
    """Proto → JSON-ready dict (snake_case, enum names, RFC 3339 timestamps)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def from_json(data: Any, message: Message) -> Message:
    """JSON dict → proto; unknown fields or wrong types are the client's mistake."""
    if not isinstance(data, dict):
        raise InvalidArgument("expected a JSON object")
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise InvalidArgument(str(exc)) from exc


def phase_name(phase: int) -> str:
    return PHASE_NAMES.get(phase, "EXECUTION_PHASE_UNSPECIFIED")


def phase_from_name(name: str) -> int:
    try:
        return enum_pb2.ExecutionPhase.Value(name.upper())
    except ValueError as exc:
        raise InvalidArgument(f"unknown phase {name!r}; one of {sorted(PHASE_NAMES.values())}") from exc


def execution_to_document(execution: api_pb2.AgentExecution, *, version: int) -> dict[str, Any]:
    """A new execution as its MongoDB document (`_id` = metadata.id)."""
    body = to_json(execution)
    body.get("status", {}).pop("version", None)
    return {
        "_id": execution.metadata.id,
        **body,
        "version": version,
        "status_sequence": 0,
        "created_at": datetime.now(timezone.utc),
    }


def document_to_execution(doc: dict[str, Any]) -> api_pb2.AgentExecution:
    """A stored document → the proto clients see; `status.version` carries the doc version."""
    body = {k: doc[k] for k in _BODY_FIELDS if k in doc}
    execution = json_format.ParseDict(body, api_pb2.AgentExecution(), ignore_unknown_fields=True)
    execution.status.version = int(doc.get("version", 0))
    return execution


_BODY_FIELDS = ("api_version", "kind", "metadata", "spec", "status")


def document_to_body(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document → its REST/SSE body directly (documents are already in the JSON
    mapping), without a round trip through proto on the hot path. Equals
    `execution_to_body(document_to_execution(doc))`."""
    body = {k: doc[k] for k in _BODY_FIELDS if k in doc and doc[k] != {}}
    for part in ("spec", "status"):
        if "callback_token" in body.get(part, {}):
            body[part] = {k: v for k, v in body[part].items() if k != "callback_token"}
    body["version"] = int(doc.get("version", 0))
    return body


def execution_to_body(execution: api_pb2.AgentExecution) -> dict[str, Any]:
    """The REST/SSE body: proto JSON with `version` as a plain integer at the top."""
    body = to_json(execution)
    body.get("status", {}).pop("version", None)
    body.get("spec", {}).pop("callback_token", None)
    body.get("status", {}).pop("callback_token", None)
    body["version"] = execution.status.version
    return body


def status_fields_to_set(status: api_pb2.AgentExecutionStatus) -> dict[str, Any]:
    """The stored status fields an update overwrites (DESIGN §3): only non-empty ones.

    Lists and maps replace the stored ones when non-empty; scalars overwrite when set;
    everything empty or unset leaves the stored value alone.
    """
    body = to_json(status)  # MessageToDict already omits empty/unset fields
    body.pop("version", None)
    body.pop("audit", None)
    return body


def body_to_execution(body: dict[str, Any]) -> api_pb2.AgentExecution:
    """Inverse of `execution_to_body` (bus events → proto for gRPC subscribe)."""
    fields = {k: v for k, v in body.items() if k != "version"}
    execution = json_format.ParseDict(fields, api_pb2.AgentExecution(), ignore_unknown_fields=True)
    execution.status.version = int(body.get("version", 0))
    return execution
