"""MongoDB's failures as the service's errors, once, at the edge of persistence.

A MongoDB that is away for a moment, or a pool whose every connection stayed busy for
its whole wait, is `Unavailable` (retryable; `StorageBusy` for the second: nothing is
down, come back shortly). Errors a store understands (a duplicate key, content MongoDB
cannot hold) are handled inside the store before they get here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from pymongo.errors import PyMongoError, WaitQueueTimeoutError

from domain.errors import StorageBusy, Unavailable

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=type)


def as_service_error(exc: PyMongoError) -> Unavailable:
    error = (
        StorageBusy("storage busy: every connection stayed in use; retry shortly")
        if isinstance(exc, WaitQueueTimeoutError)
        else Unavailable(f"storage unavailable: {type(exc).__name__}")
    )
    error.retry_after_seconds = 1
    return error


def mapped(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """`method` raising `Unavailable` where MongoDB failed."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except PyMongoError as exc:
            raise as_service_error(exc) from exc

    return wrapper


def storage_errors_mapped(cls: C) -> C:
    """Every public coroutine method of a store class, `mapped`."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, mapped(member))
    return cls
