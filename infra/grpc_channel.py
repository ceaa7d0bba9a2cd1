"""The runners' gRPC line to the server: one insecure channel with its message-size
limits, and the `authorization: Bearer <key>` metadata every call carries."""

from __future__ import annotations

import grpc


def service_channel(target: str, max_send_bytes: int, max_receive_bytes: int) -> grpc.aio.Channel:
    """An insecure channel to `target` that sends and receives messages up to the given sizes."""
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.max_send_message_length", max_send_bytes),
            ("grpc.max_receive_message_length", max_receive_bytes),
        ],
    )


def bearer_metadata(api_key: str) -> tuple[tuple[str, str], ...]:
    """The metadata that presents `api_key`; none without a key."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()
