"""Callback tokens that can never complete an activity are refused at create."""

from __future__ import annotations

import pytest

from domain.callback_token import validate_callback_token
from domain.errors import InvalidArgument


def task_token_like(namespace: bytes, workflow: bytes, run: bytes) -> bytes:
    def field(number: int, value: bytes) -> bytes:
        return bytes([number << 3 | 2, len(value)]) + value

    return field(1, namespace) + field(2, workflow) + field(3, run) + bytes([4 << 3, 5])


def test_a_task_token_shaped_message_is_accepted() -> None:
    validate_callback_token(task_token_like(b"ns-uuid", b"caller-workflow", b"run-uuid"))


@pytest.mark.parametrize(
    "token",
    [
        b"not a token",  # invalid wire format
        b"\xff\xff\xff",
        task_token_like(b"ns", b"", b"run")[:-2],  # empty workflow id
        bytes([1 << 3, 1]),  # a varint where the namespace id should be
        b"x" * 5000,
    ],
)
def test_bytes_that_cannot_be_a_task_token_are_refused(token: bytes) -> None:
    with pytest.raises(InvalidArgument):
        validate_callback_token(token)
