"""The REST/SSE application: routers, error mapping, auth, body limit, request metrics.

`create_app(context)` returns a plain FastAPI app over an opened server context
(`Backends`: stigmer_service/context.py); the caller owns the context and runs the app (e.g. `uvicorn.Server(uvicorn.Config(app, …))`).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi_offline import FastAPIOffline

from api.auth import ApiKeys
from api.http_errors import install_error_handlers
from api.middleware import ApiKeyAuth, BodySizeLimit, JsonBodies, RequestMetrics
from api.routes import agents, environments, executions, health, sessions, skills, stream, workflows
from api.routes.deps import Backends, bearer_scheme

STATIC_DIR = Path(__file__).parent / "static"
# Swagger UI and ReDoc assets come from the installed package, not a CDN: /docs works offline.
DOCS_ASSETS_URL = "/docs-assets"

_PLACEHOLDER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>stigmer-service</title></head>
<body><h1>stigmer-service</h1>
<p>The web view is not installed. The API is described at <a href="/docs">/docs</a>.</p>
</body></html>
"""

def create_app(context: Backends) -> FastAPI:
    settings = context.settings
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        title="stigmer-service",
        version=_version(),
        summary="Agent executions: create, watch live (SSE), list, cancel.",
        description="Errors are `{\"error\": {\"code\", \"message\"}}`. Send `Authorization: Bearer <key>` "
        "when the server has API keys configured.",
    )
    app.state.backends = context

    documented_auth = [Depends(bearer_scheme)]
    for router in (agents.router, sessions.router, executions.router, stream.router, skills.router,
                   environments.router, workflows.workflows, workflows.executions):
        app.include_router(router, dependencies=documented_auth)
    app.include_router(health.router)
    app.add_api_route("/", web_view, methods=["GET"], include_in_schema=False)
    app.add_api_route("/workflows", workflows_view, methods=["GET"], include_in_schema=False)
    for path in ("/favicon.svg", "/favicon.ico"):  # browsers ask for /favicon.ico on any page
        app.add_api_route(path, favicon, methods=["GET"], include_in_schema=False)

    install_error_handlers(app)
    # The last added middleware is the outermost: metrics see every answer (401s and 413s
    # included), and the key is checked before anything reads or limits a body.
    app.add_middleware(JsonBodies, upload_paths={skills.PREFIX})
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes,
                       larger_bodies={skills.PREFIX: skills.MAX_UPLOAD_BYTES})
    app.add_middleware(ApiKeyAuth, api_keys=ApiKeys.from_settings(settings))
    app.add_middleware(RequestMetrics)
    return app


async def web_view() -> Response:
    """The static web view (api/static/index.html), or a pointer to /docs without it."""
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(_PLACEHOLDER_PAGE)


async def workflows_view() -> Response:
    """The workflow executions' web view (api/static/workflows.html)."""
    page = STATIC_DIR / "workflows.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(_PLACEHOLDER_PAGE)


async def favicon() -> Response:
    """The web view's icon (SVG, which browsers take at either path)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


def _version() -> str:
    try:
        return metadata.version("stigmer-service")
    except metadata.PackageNotFoundError:
        return "0"

