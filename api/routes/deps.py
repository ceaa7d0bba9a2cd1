"""Dependencies shared by the routers: the server context, the service, API-key auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import check_authorization
from api.context import ServerContext
from api.service import ExecutionService

# Documents the scheme in OpenAPI (the "Authorize" button at /docs); the check itself is
# `check_authorization`, the same one gRPC uses.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


def get_context(request: Request) -> ServerContext:
    return request.app.state.context


def get_service(request: Request) -> ExecutionService:
    return request.app.state.context.service


async def require_api_key(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Raises Unauthenticated (401) unless the request carries a configured key."""
    context: ServerContext = request.app.state.context
    check_authorization(request.headers.get("authorization"), context.settings.api_key_list)


async def require_api_key_or_access_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(max_length=512, description="The API key, for EventSource clients that cannot send headers."),
    ] = None,
) -> None:
    """For the SSE route only: browsers' EventSource cannot set `Authorization`, so the
    key may come as `?access_token=`. The header wins when both are present."""
    context: ServerContext = request.app.state.context
    header = request.headers.get("authorization")
    if header is None and access_token:
        header = f"Bearer {access_token}"
    check_authorization(header, context.settings.api_key_list)


Service = Annotated[ExecutionService, Depends(get_service)]
Context = Annotated[ServerContext, Depends(get_context)]
