"""`/healthz` (the process answers), `/readyz` (its backing services answer), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.routes.deps import ServerBackends
from api.schemas import Health, Readiness

router = APIRouter(tags=["health"])

NOT_CONFIGURED = "not configured"


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: MongoDB, Redis and Temporal answer; background tasks run",
    responses={503: {"model": Readiness, "description": "Something is down (see `checks`)"}},
)
async def readyz(context: ServerBackends) -> JSONResponse:
    checks = await context.readiness()
    # The hub's own loops: without them watchers silently fall back to slow MongoDB checks.
    if context.hub is not None:
        checks.update(context.hub.task_states())
    if context.temporal is None:
        # A server opened without workflows (tests, read-only replicas) has no Temporal
        # client at all; that is a configuration, not an outage.
        checks["temporal"] = NOT_CONFIGURED
    ready = all(state in ("ok", NOT_CONFIGURED) for state in checks.values())
    body = Readiness(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
