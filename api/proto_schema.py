"""Pydantic models generated from the proto descriptors, so the OpenAPI schema of a
resource is exactly its proto3 JSON mapping (snake_case names, enum names as strings,
int64 as strings, Struct as an object) and can never drift from the contract."""

from __future__ import annotations

import functools
from typing import Any, Literal, Optional

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import BaseModel, ConfigDict, create_model

_SCALARS: dict[int, Any] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_SINT32: int,
    FieldDescriptor.TYPE_INT64: str,  # proto3 JSON writes 64-bit integers as strings
    FieldDescriptor.TYPE_UINT64: str,
    FieldDescriptor.TYPE_SINT64: str,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    FieldDescriptor.TYPE_BYTES: str,  # base64
}
_WELL_KNOWN: dict[str, Any] = {
    "google.protobuf.Struct": dict[str, Any],
    "google.protobuf.Value": Any,
    "google.protobuf.Timestamp": str,
}


class _ProtoJson(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _field_type(field: FieldDescriptor) -> Any:
    message_type, enum_type = field.message_type, field.enum_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value = message_type.fields_by_name["value"]
        return dict[str, _field_type(value)]  # type: ignore[misc]
    # Types built at run time: mypy cannot check them, pydantic does.
    item: Any
    if message_type is not None:
        item = _WELL_KNOWN.get(message_type.full_name) or model_for(message_type)
    elif enum_type is not None:
        item = Literal[tuple(v.name for v in enum_type.values)]
    else:
        item = _SCALARS[field.type]
    return list[item] if field.is_repeated else item


@functools.cache
def model_for(descriptor: Descriptor) -> type[BaseModel]:
    """The JSON model of a message; every field optional (proto3 JSON leaves defaults out)."""
    fields: dict[str, Any] = {
        field.name: (Optional[_field_type(field)], None) for field in descriptor.fields  # noqa: UP045
    }
    return create_model(descriptor.name, __base__=_ProtoJson, **fields)
