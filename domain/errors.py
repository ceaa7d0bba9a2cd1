"""Domain errors, raised by the service layer and mapped once per transport.

Each error's `code` is the name of its gRPC canonical status in lower case; the REST
transport maps it to an HTTP status (api/http_errors.py), the gRPC transport to the
status of the same name (api/grpc_common.py). Nothing here knows either protocol.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a client can cause or observe; `code` names it on the wire
    (a subclass names its own: `class NotFound(ServiceError, code="not_found")`)."""

    code = "internal"

    def __init_subclass__(cls, *, code: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError, code="invalid_argument"):
    pass


class NotFound(ServiceError, code="not_found"):
    pass


class AlreadyExists(ServiceError, code="already_exists"):
    """Another resource already has this name (slug)."""


class FailedPrecondition(ServiceError, code="failed_precondition"):
    """The request contradicts what is stored."""


class TerminalPhase(FailedPrecondition):
    """The execution already ended; its stored state is final."""


class IdempotencyKeyReused(FailedPrecondition):
    """An Idempotency-Key sent again with a different request."""


class Unauthenticated(ServiceError, code="unauthenticated"):
    pass


class PermissionDenied(ServiceError, code="permission_denied"):
    """A valid key whose role may not do this (ARCHITECTURE.md, "Roles")."""


class ResourceExhausted(ServiceError, code="resource_exhausted"):
    """Input over a size limit (a skill archive larger than the service takes)."""


class Unavailable(ServiceError, code="unavailable"):
    """A backing service (MongoDB, Redis, Temporal) did not answer; retrying may help."""

    retry_after_seconds: int | None = None  # when set, clients are told to come back then


class StorageBusy(Unavailable):
    """Every pooled storage connection stayed in use for its whole wait: nothing is down,
    this process is saturated; retrying shortly helps."""


class UnstorableContent(InvalidArgument):
    """Content that storage can never accept (a NUL in a key, too deep, too large):
    retrying cannot help, so callers store what they can instead."""


class StatusTooLarge(UnstorableContent):
    """A status that would outgrow the stored document's size limit."""
