"""Pure ASGI middleware of the REST app (SSE streams pass through untouched): API-key
auth, the request body limit, request metrics."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import ApiKeys, authorize_rest
from api.http_errors import error_response
from domain.errors import PermissionDenied, Unauthenticated
from infra import metrics

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestBodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit. An HTTPException, so
    FastAPI's body reading lets it through instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodySizeLimit:
    """Refuses bodies over `max_body_bytes` with 413: at once when Content-Length says so,
    and while reading when a chunked body grows past it. `larger_bodies` gives uploads
    (a path's POST) a limit of their own."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, larger_bodies: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger_bodies = dict(larger_bodies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        if scope["method"] == "POST":
            limit = self.larger_bodies.get(scope["path"].rstrip("/"), limit)
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
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key == name:
            return value.decode("latin-1").strip()
    return None


class JsonBodies:
    """Every body of this API is JSON: a body sent without a JSON content type (curl's
    `-d` sends `application/x-www-form-urlencoded`) is read as JSON all the same, and one
    that is not JSON gets a 400 that says what to send, instead of a schema error."""

    def __init__(self, app: ASGIApp, upload_paths: Collection[str] = ()) -> None:
        self.app = app
        self.upload_paths = frozenset(upload_paths)  # these also take multipart/form-data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            upload = content_type == "multipart/form-data" and scope["path"].rstrip("/") in self.upload_paths
            if content_type != "application/json" and not content_type.endswith("+json") and not upload:
                headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
                # In place, not a copy: the router notes the matched route in this scope,
                # and the request metrics outside read it from there.
                scope["headers"] = [*headers, (b"content-type", b"application/json")]
        await self.app(scope, receive, send)


class ApiKeyAuth:
    """With API keys configured, every `/v1/` request needs one (`Authorization: Bearer`),
    checked before the body is read. Browsers' EventSource cannot send headers, so the
    SSE route also takes the key as `?access_token=` (the header wins)."""

    PROTECTED_PREFIX = "/v1/"

    def __init__(self, app: ASGIApp, api_keys: ApiKeys) -> None:
        self.app = app
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.api_keys.enabled
            and scope["path"].startswith(self.PROTECTED_PREFIX)
        ):
            header = _header(scope, b"authorization")
            if header is None and scope["path"].endswith("/subscribe"):
                token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token")
                header = f"Bearer {token[0]}" if token else None
            try:
                authorize_rest(self.api_keys.authenticate(header))
            except Unauthenticated as exc:
                response = error_response(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
            except PermissionDenied as exc:
                await error_response(403, exc.code, exc.message)(scope, receive, send)
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
    """The template of the route that served the request. Starlette notes it in the scope;
    a request answered before routing (a 401) has none, so the app's routes are matched
    here as the router would. Never raises: a label is not worth a failed request."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    try:
        _, found = _best_match(getattr(getattr(scope.get("app"), "router", None), "routes", ()), scope)
    except Exception:
        found = None
    return found or "<unmatched>"


def _best_match(routes: Iterable[Any], scope: Scope) -> tuple[Match, str | None]:
    """The first route matching `scope` fully, else the first matching its path with
    another method (PARTIAL), with its path; FastAPI's included routers are searched inside."""
    best: tuple[Match, str | None] = (Match.NONE, None)
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            match, path = _best_match(inner, scope)
        elif isinstance(getattr(route, "path", None), str):
            match, path = route.matches(scope)[0], str(route.path)
        else:
            continue
        if match is Match.FULL:
            return match, path
        if match is Match.PARTIAL and best[0] is Match.NONE:
            best = (match, path)
    return best
