"""Dependencies shared by the routers: the server context, the service, the auth scheme."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from core.context import ServerContext
from core.service import ExecutionService

# Documents the scheme in OpenAPI (the "Authorize" button at /docs). The check itself is
# the ApiKeyAuth middleware (api/app.py), which runs before a request body is read.
bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


# `async def`, though they never await: FastAPI runs a plain `def` dependency in a
# worker thread, a thread hop per request for a dictionary lookup.
async def get_context(request: Request) -> ServerContext:
    return _context_of(request)


async def get_service(request: Request) -> ExecutionService:
    return _context_of(request).service


def _context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context  # set by create_app (api/app.py)
    return context


Service = Annotated[ExecutionService, Depends(get_service)]
Context = Annotated[ServerContext, Depends(get_context)]
