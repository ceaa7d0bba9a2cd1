"""The REST/SSE application: routers, error mapping, body limit, auth, request metrics.

`create_app(context)` returns a plain FastAPI app over an opened `ServerContext`; the
caller owns the context and runs the app (e.g. `uvicorn.Server(uvicorn.Config(app, …))`).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs
from http import HTTPStatus
from importlib import metadata
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import check_authorization
from api.context import ServerContext
from api.routes import agents, executions, health, sessions, stream
from api.routes.deps import bearer_scheme
from stigmer_service import metrics
from stigmer_service.errors import ServiceError, Unauthenticated

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

_PLACEHOLDER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>stigmer-service</title></head>
<body><h1>stigmer-service</h1>
<p>The web view is not installed. The API is described at <a href="/docs">/docs</a>.</p>
</body></html>
"""

# HTTP statuses that do not come from a ServiceError (routing, body limit) → error codes.
_CODES_BY_STATUS = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_argument",
    500: "internal",
    503: "unavailable",
}

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def create_app(context: ServerContext) -> FastAPI:
    settings = context.settings
    app = FastAPI(
        title="stigmer-service",
        version=_version(),
        summary="Agent executions: create, watch live (SSE), list, cancel.",
        description="Errors are `{\"error\": {\"code\", \"message\"}}`. Send `Authorization: Bearer <key>` "
        "when the server has API keys configured.",
    )
    app.state.context = context

    documented_auth = [Depends(bearer_scheme)]
    for router in (agents.router, sessions.router, executions.router, stream.router):
        app.include_router(router, dependencies=documented_auth)
    app.include_router(health.router)
    app.add_api_route("/", web_view, methods=["GET"], include_in_schema=False)

    install_error_handlers(app)
    # The last added middleware is the outermost: metrics see every answer (401s and 413s
    # included), and the key is checked before anything reads or limits a body.
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyAuth, api_keys=settings.api_key_list)
    app.add_middleware(RequestMetrics)
    return app


async def web_view() -> Response:
    """The static web view (api/static/index.html), or a pointer to /docs without it."""
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(_PLACEHOLDER_PAGE)


def _version() -> str:
    try:
        return metadata.version("stigmer-service")
    except metadata.PackageNotFoundError:
        return "0"


# -- errors: mapped once ------------------------------------------------------------------


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PyMongoError, _storage_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return error_response(int(exc.http_status), exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_argument", "request body is not valid JSON")
    return error_response(422, "invalid_argument", describe_validation_errors(errors))


def describe_validation_errors(errors: list[dict], limit: int = 5) -> str:
    parts = []
    for error in errors[:limit]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    code = _CODES_BY_STATUS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return error_response(status, code, message, exc.headers)


async def _storage_unavailable(request: Request, exc: PyMongoError) -> JSONResponse:
    # MongoDB away for a moment: a retryable 503, not an internal error.
    log.warning("storage unavailable in %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "unavailable", f"storage unavailable: {type(exc).__name__}", {"Retry-After": "1"})


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The client learns nothing about internals; the log has the whole story.
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal server error")


# -- middleware (pure ASGI, so SSE streams pass through untouched) --------------------------


class RequestBodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit. An HTTPException, so
    FastAPI's body reading lets it through instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodySizeLimit:
    """Refuses bodies over `max_body_bytes` with 413: at once when Content-Length says so,
    and while reading when a chunked body grows past it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                await error_response(400, "invalid_argument", "invalid Content-Length")(scope, receive, send)
                return
            if int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        elif _header(scope, b"transfer-encoding") is None:
            # No Content-Length and not chunked: HTTP/1.1 says there is no body at all
            # (every GET, every SSE stream), so nothing to count.
            await self.app(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestBodyTooLarge:
            if response_started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, "payload_too_large", f"request body is larger than {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1").strip()
    return None


class ApiKeyAuth:
    """With API keys configured, every `/v1/` request needs one (`Authorization: Bearer`),
    checked before the body is read. Browsers' EventSource cannot send headers, so the
    SSE route also takes the key as `?access_token=` (the header wins)."""

    PROTECTED_PREFIX = "/v1/"

    def __init__(self, app: ASGIApp, api_keys: list[str]) -> None:
        self.app = app
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.api_keys
            and scope["path"].startswith(self.PROTECTED_PREFIX)
        ):
            header = _header(scope, b"authorization")
            if header is None and scope["path"].endswith("/subscribe"):
                token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token")
                header = f"Bearer {token[0]}" if token else None
            try:
                check_authorization(header, self.api_keys)
            except Unauthenticated as exc:
                response = error_response(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestMetrics:
    """Counts requests and times them, labelled by route template (`/v1/agents/{agent_id}`),
    never by raw path, so ids do not explode the label space."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering
        streaming = False

        async def recording_send(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                streaming = any(
                    k == b"content-type" and v.startswith(b"text/event-stream")
                    for k, v in message.get("headers", ())
                )
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            if not streaming:  # an SSE stream's duration is not a request latency
                metrics.HTTP_LATENCY.labels(method=method, route=route).observe(
                    time.perf_counter() - started
                )


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"
