"""Dependencies shared by the routers: what the server gives them, the service, the auth scheme."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from application.executions import ExecutionService
from application.hub import SubscriptionHub
from application.workflow_executions import WorkflowExecutionService
from application.workflows import WorkflowService
from infra.settings import Settings

# Documents the scheme in OpenAPI (the "Authorize" button at /docs). The check itself is
# the ApiKeyAuth middleware (api/app.py), which runs before a request body is read.
bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


class Backends(Protocol):
    """What a server process gives the routes (built by stigmer_service/context.py)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def service(self) -> ExecutionService: ...

    @property
    def hub(self) -> SubscriptionHub | None: ...

    @property
    def temporal(self) -> object | None: ...

    @property
    def workflows(self) -> WorkflowService: ...

    @property
    def workflow_executions(self) -> WorkflowExecutionService: ...

    async def readiness(self) -> dict[str, str]:
        """Each backing service: "ok" or what went wrong."""
        ...


# `async def`, though they never await: FastAPI runs a plain `def` dependency in a
# worker thread, a thread hop per request for a dictionary lookup.
async def get_backends(request: Request) -> Backends:
    return _backends_of(request)


async def get_service(request: Request) -> ExecutionService:
    return _backends_of(request).service


def _backends_of(request: Request) -> Backends:
    backends: Backends = request.app.state.backends  # set by create_app (api/app.py)
    return backends


Service = Annotated[ExecutionService, Depends(get_service)]
ServerBackends = Annotated[Backends, Depends(get_backends)]
