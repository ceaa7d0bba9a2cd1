"""Domain errors, raised by the service layer and mapped once per transport."""

from __future__ import annotations

from http import HTTPStatus

import grpc


class ServiceError(Exception):
    """Base of every error a client can cause or observe; `code` names it on the wire."""

    code = "internal"
    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = "invalid_argument"
    http_status = HTTPStatus.BAD_REQUEST
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = "not_found"
    http_status = HTTPStatus.NOT_FOUND
    grpc_status = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    """Another resource already has this name (slug)."""

    code = "already_exists"
    http_status = HTTPStatus.CONFLICT
    grpc_status = grpc.StatusCode.ALREADY_EXISTS


class TerminalPhase(ServiceError):
    """The execution already ended; its stored state is final."""

    code = "failed_precondition"
    http_status = HTTPStatus.CONFLICT
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(ServiceError):
    code = "unauthenticated"
    http_status = HTTPStatus.UNAUTHORIZED
    grpc_status = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(ServiceError):
    """A backing service (MongoDB, Redis, Temporal) did not answer."""

    code = "unavailable"
    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    grpc_status = grpc.StatusCode.UNAVAILABLE
