"""The Temporal payloads inside a message (a history event, say), wherever they sit."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Temporal payload anywhere in `message`."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values()) if field.message_type.fields_by_name["value"].message_type else []
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for item in values:
            yield from payloads_in(item)
