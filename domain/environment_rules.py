"""Environments' and execution contexts' rules (pure): validation, and what happens to
secret values at rest and on the way out.

Secret values are sealed (domain/secret_box.py, bound to the resource's id) before they
are stored, so the stored document holds no plaintext. Users' reads show them redacted
(""), as `runtime_env` is; only a runner's read opens them. An update that sends a
secret back as read ("") keeps the stored one.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Protocol, TypeVar

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.executioncontext.v1 import api_pb2 as context_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as scope_pb2
from domain.errors import InvalidArgument
from domain.limits import MAX_ENV_VALUE_CHARS, check_keys
from domain.resource_rules import MAX_DESCRIPTION, check_header, check_text
from domain.secret_box import SecretBox

ENVIRONMENT_ID_PREFIX = "env"
EXECUTION_CONTEXT_ID_PREFIX = "exec"
MAX_VALUE_CHARS = MAX_ENV_VALUE_CHARS
REDACTED = ""
_ENVIRONMENT_SCOPES = (scope_pb2.organization, scope_pb2.identity_account)


class Value(Protocol):
    """`EnvironmentValue` and `ExecutionValue`: a value and whether it is secret."""

    value: str
    is_secret: bool


V = TypeVar("V", bound=Value)


def _check_data(data: Mapping[str, Value], field: str, *, non_empty: bool) -> None:
    check_keys(field, list(data), env_names=True)
    for key, value in data.items():
        if non_empty and not value.value:
            raise InvalidArgument(f"{field}[{key}].value must be at least 1 character")
        check_text(value.value, f"{field}[{key}].value", limit=MAX_VALUE_CHARS)


def validate_environment(environment: environment_pb2.Environment) -> None:
    check_header(environment, "Environment")
    scope = environment.metadata.owner_scope
    if scope not in scope_pb2.ApiResourceOwnerScope.values():
        raise InvalidArgument(f"metadata.owner_scope: {scope} is not a defined ApiResourceOwnerScope value")
    if scope not in (scope_pb2.api_resource_owner_scope_unspecified, *_ENVIRONMENT_SCOPES):
        raise InvalidArgument("an environment's owner_scope is organization or identity_account")
    check_text(environment.spec.description, "spec.description")
    _check_data(environment.spec.data, "spec.data", non_empty=False)
    for key, value in environment.spec.data.items():
        check_text(value.description, f"spec.data[{key}].description", limit=MAX_DESCRIPTION)


def validate_execution_context(context: context_pb2.ExecutionContext) -> None:
    check_header(context, "ExecutionContext")
    if context.metadata.owner_scope != scope_pb2.api_resource_owner_scope_unspecified:
        raise InvalidArgument("an execution context's owner_scope must be unspecified")
    check_text(context.spec.execution_id, "spec.execution_id", required=True, limit=128)
    _check_data(context.spec.data, "spec.data", non_empty=True)


def seal_secrets(data: MutableMapping[str, V], box: SecretBox, owner_id: str) -> None:
    """Replace every secret value by its sealed form (in place)."""
    for value in data.values():
        if value.is_secret and value.value:
            value.value = box.seal(value.value, bound_to=owner_id)


def open_secrets(data: MutableMapping[str, V], box: SecretBox, owner_id: str) -> None:
    """Replace every sealed secret value by its plaintext (in place): a runner's read."""
    for value in data.values():
        if value.is_secret and value.value:
            value.value = box.open(value.value, bound_to=owner_id)


def redact_secrets(data: MutableMapping[str, V]) -> None:
    """A user's read: secret values read as ""."""
    for value in data.values():
        if value.is_secret:
            value.value = REDACTED


def keep_unsent_secrets(data: MutableMapping[str, V], stored: Mapping[str, V]) -> None:
    """A secret sent back as read ("") keeps its stored (sealed) value."""
    for key, value in data.items():
        if value.is_secret and not value.value and key in stored and stored[key].is_secret:
            value.value = stored[key].value
