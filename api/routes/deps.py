"""Dependencies shared by the routers: the server context, the service, API-key auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
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


Service = Annotated[ExecutionService, Depends(get_service)]
Context = Annotated[ServerContext, Depends(get_context)]
