"""Checks that a `callback_token` can be a Temporal task token before it is stored.

A task token is a serialized protobuf message whose first fields are the namespace id,
the workflow id and the run id (length-delimited). Bytes that are not that can never
complete an activity: refusing them at create beats an hour of failing completions.
"""

from __future__ import annotations

from google.protobuf import empty_pb2, unknown_fields
from google.protobuf.message import DecodeError

from domain.errors import InvalidArgument

MAX_CALLBACK_TOKEN_BYTES = 4096
_WIRE_TYPE_LENGTH_DELIMITED = 2
_REQUIRED_FIELDS = {1, 2, 3}  # namespace id, workflow id, run id


def validate_callback_token(token: bytes) -> None:
    if len(token) > MAX_CALLBACK_TOKEN_BYTES:
        raise InvalidArgument(f"callback_token is longer than {MAX_CALLBACK_TOKEN_BYTES} bytes")
    message = empty_pb2.Empty()
    try:
        message.ParseFromString(token)
    except DecodeError:
        raise InvalidArgument("callback_token is not a Temporal task token") from None
    fields = unknown_fields.UnknownFieldSet(message)
    present = {
        field.field_number
        for field in (fields[i] for i in range(len(fields)))
        if field.wire_type == _WIRE_TYPE_LENGTH_DELIMITED and field.data
    }
    if not present >= _REQUIRED_FIELDS:
        raise InvalidArgument("callback_token is not a Temporal task token")
