"""REST errors, mapped once: every failure becomes `{"error": {"code", "message"}}` with
the right status, and nothing internal reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import ServiceError, Unauthenticated
from persistence.mongo import is_queue_wait

log = logging.getLogger(__name__)

# A 503 whose cause is only a wait for a MongoDB connection (Retry-After says when to retry).
STORAGE_BUSY = "storage_busy"

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

# The HTTP status of each domain error code (core/errors.py). One rule for the same kind
# of mistake: 400 = the body is not JSON at all; 422 = JSON (or a query or path value)
# that breaks a rule; 409 = a conflict with what is stored (a name taken, an execution
# already ended, an Idempotency-Key reused with another body).
HTTP_STATUS_BY_CODE = {
    "invalid_argument": 422,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "already_exists": 409,
    "failed_precondition": 409,
    "resource_exhausted": 413,
    "unavailable": 503,
    "internal": 500,
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking any Exception, though it dispatches by class.
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(PyMongoError, _storage_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return error_response(HTTP_STATUS_BY_CODE.get(exc.code, 500), exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(
            400, "invalid_argument", "request body is not valid JSON (send Content-Type: application/json)"
        )
    return error_response(422, "invalid_argument", describe_validation_errors(errors))


def describe_validation_errors(errors: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
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
    # MongoDB away for a moment, or every connection busy: a retryable 503, not an
    # internal error. A queue wait has a code of its own (`storage_busy`): nothing is
    # down, the client should just come back shortly.
    log.warning("storage unavailable in %s %s: %s", request.method, request.url.path, exc)
    if is_queue_wait(exc):
        return error_response(
            503, STORAGE_BUSY, "storage busy: every connection stayed in use; retry shortly",
            {"Retry-After": "1"},
        )
    return error_response(503, "unavailable", f"storage unavailable: {type(exc).__name__}", {"Retry-After": "1"})


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The client learns nothing about internals; the log has the whole story.
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal server error")
