"""Serverless Workflow 1.0 errors: `{type, status, title, detail, instance}` objects.

A task failure travels inside the document as `TaskFailure`; across an activity or a
child workflow as an `ApplicationError` of type `WorkflowTaskError` whose first detail is
the error object, so TRY sees the same error whichever side raised it.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError, FailureError, TimeoutError as TemporalTimeout

from wfrunner.contract import TASK_ERROR_TYPE

SPEC_ERRORS = "https://serverlessworkflow.io/spec/1.0.0/errors/"
# The standard error types and the status each defaults to.
STANDARD_STATUS = {
    "configuration": 400,
    "validation": 400,
    "expression": 400,
    "authentication": 401,
    "authorization": 403,
    "timeout": 408,
    "communication": 500,
    "runtime": 500,
}


def error_object(kind: str, detail: str, *, instance: str = "", status: int | None = None,
                 title: str = "") -> dict[str, Any]:
    """An error object; a standard short name (`timeout`) becomes the spec's type URI."""
    short = kind.rsplit("/", 1)[-1] if kind.startswith(SPEC_ERRORS) else kind
    type_ = f"{SPEC_ERRORS}{short}" if short in STANDARD_STATUS else kind
    return {
        "type": type_,
        "status": status if status is not None else STANDARD_STATUS.get(short, 500),
        "title": title or short,
        "detail": detail,
        "instance": instance,
    }


class TaskFailure(Exception):
    """A task failed with a Serverless Workflow error; TRY may catch it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(describe(error))
        self.error = error


def describe(error: dict[str, Any]) -> str:
    """One readable line: what the execution's and the task's `error` say."""
    where = f" at {error['instance']}" if error.get("instance") else ""
    detail = error.get("detail") or error.get("title") or error.get("type")
    return f"{error.get('title') or error.get('type')} ({error.get('status')}){where}: {detail}"


def to_application_error(error: dict[str, Any]) -> ApplicationError:
    return ApplicationError(describe(error), error, type=TASK_ERROR_TYPE, non_retryable=True)


def from_temporal(exc: FailureError, instance: str) -> TaskFailure:
    """The task failure inside an activity's or a child's failure chain."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == TASK_ERROR_TYPE and cause.details:
            error = cause.details[0]
            if isinstance(error, dict):
                return TaskFailure(error)
        if isinstance(cause, TemporalTimeout):
            return TaskFailure(error_object("timeout", str(cause) or "timed out", instance=instance))
        if cause.__cause__ is None:
            break
        cause = cause.__cause__
    message = str(cause) if cause is not None else str(exc)
    return TaskFailure(error_object("runtime", message or type(exc).__name__, instance=instance))
