"""API-key auth, the same for REST and gRPC: `authorization: Bearer <key>`."""

from __future__ import annotations

import hmac

from core.errors import Unauthenticated


def check_authorization(header: str | None, api_keys: list[str]) -> None:
    """Raise Unauthenticated unless the header carries one of the keys (when keys are set).

    Every configured key is compared, in constant time, so timing tells nothing.
    """
    if not api_keys:
        return
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthenticated("missing 'authorization: Bearer <key>'")
    presented_bytes = presented.strip().encode()
    matched = False
    for key in api_keys:
        matched |= hmac.compare_digest(presented_bytes, key.encode())
    if not matched:
        raise Unauthenticated("invalid API key")
