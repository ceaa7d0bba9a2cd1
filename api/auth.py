"""API keys and roles, the same for REST and gRPC: `authorization: Bearer <key>`.

Two roles (ARCHITECTURE.md, "Roles"): a *user* key may do everything except send a
runner's status; a *runner* key may only send status and read what a runner reads. So a
leaked user key cannot forge an execution's result, and a runner's key cannot create,
list or delete anything. With no keys configured, auth is off (loopback only).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

from domain.errors import PermissionDenied, Unauthenticated
from infra.settings import Settings

_EXECUTION_COMMANDS = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/"
_EXECUTION_QUERIES = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController/"

_WORKFLOW_EXECUTION_COMMANDS = "/ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionCommandController/"

# What only runners do.
RUNNER_ONLY_METHODS = frozenset(
    {
        _EXECUTION_COMMANDS + "updateStatus",
        _EXECUTION_COMMANDS + "applyStatusPatch",
        _EXECUTION_COMMANDS + "streamStatusPatches",
        _WORKFLOW_EXECUTION_COMMANDS + "updateStatus",
    }
)
# What runners may read: their execution, its session's history, and the resource chain
# execution → session → agent instance → agent.
RUNNER_READ_METHODS = frozenset(
    {
        _EXECUTION_QUERIES + "get",
        _EXECUTION_QUERIES + "listBySession",
        "/ai.stigmer.agentic.session.v1.SessionQueryController/get",
        "/ai.stigmer.agentic.agentinstance.v1.AgentInstanceQueryController/get",
        "/ai.stigmer.agentic.agent.v1.AgentQueryController/get",
        "/ai.stigmer.agentic.agent.v1.AgentQueryController/getByReference",
        # A workflow runner: its execution, the chain execution → instance → workflow,
        # and its agent-call tasks, which create agent executions with a callback token.
        "/ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionQueryController/get",
        "/ai.stigmer.agentic.workflowinstance.v1.WorkflowInstanceQueryController/get",
        "/ai.stigmer.agentic.workflow.v1.WorkflowQueryController/get",
        "/ai.stigmer.agentic.workflow.v1.WorkflowQueryController/getByReference",
        _EXECUTION_COMMANDS + "create",
        # The agent's skills and the instance's environments (in the clear: only here).
        "/ai.stigmer.agentic.skill.v1.SkillQueryController/get",
        "/ai.stigmer.agentic.skill.v1.SkillQueryController/getByReference",
        "/ai.stigmer.agentic.skill.v1.SkillQueryController/getArtifact",
        "/ai.stigmer.agentic.environment.v1.EnvironmentQueryController/get",
        "/ai.stigmer.agentic.environment.v1.EnvironmentQueryController/getByReference",
        "/ai.stigmer.agentic.executioncontext.v1.ExecutionContextQueryController/get",
        "/ai.stigmer.agentic.executioncontext.v1.ExecutionContextQueryController/getByReference",
    }
)


class Role(enum.Enum):
    USER = "user"
    RUNNER = "runner"


@dataclass(frozen=True)
class ApiKeys:
    users: tuple[str, ...] = ()
    runners: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        users, runners = tuple(settings.api_key_list), tuple(settings.runner_key_list)
        if set(users) & set(runners):
            raise ValueError("a key cannot be both a user key (API_KEYS) and a runner key (RUNNER_API_KEYS)")
        return cls(users, runners)

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.runners)

    def authenticate(self, header: str | None) -> Role | None:
        """The caller's role; None when auth is off. Raises Unauthenticated otherwise.

        Every configured key is compared, in constant time, so timing tells nothing.
        """
        if not self.enabled:
            return None
        presented = presented_key(header)
        if not presented:
            raise Unauthenticated("missing 'authorization: Bearer <key>'")
        presented_bytes = presented.encode()
        role = None
        for candidate, keys in ((Role.USER, self.users), (Role.RUNNER, self.runners)):
            for key in keys:
                if hmac.compare_digest(presented_bytes, key.encode()):
                    role = candidate
        if role is None:
            raise Unauthenticated("invalid API key")
        return role


def presented_key(header: str | None) -> str:
    """The key of an `authorization: Bearer <key>` header ("" when there is none): the
    scheme in any case, the key without surrounding blanks, as RFC 9110 reads it."""
    scheme, _, presented = (header or "").strip().partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else ""


def caller_of(authorization: str | None) -> str:
    """Who is calling, for scoping Idempotency-Keys: a digest of the key itself (never the
    key, nor the header's spelling: `bearer k` and `Bearer  k` are one caller); one shared
    scope without a key."""
    key = presented_key(authorization)
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


def reads_secrets(role: Role | None) -> bool:
    """Whose reads show secret values in the clear: a runner's, or anyone's when auth is
    off (loopback only, every caller trusted, and the runner holds no key). REST never
    shows them."""
    return role is None or role is Role.RUNNER


def authorize_grpc(role: Role | None, method: str) -> None:
    """Raise PermissionDenied unless `role` may call the gRPC `method` (full name)."""
    if role is None:
        return
    if role is Role.RUNNER and method not in RUNNER_ONLY_METHODS | RUNNER_READ_METHODS:
        raise PermissionDenied("a runner key may only send status and read what a runner reads")
    if role is Role.USER and method in RUNNER_ONLY_METHODS:
        raise PermissionDenied("only a runner key may send an execution's status")


def authorize_rest(role: Role | None) -> None:
    """REST is the users' API; runners speak gRPC."""
    if role is Role.RUNNER:
        raise PermissionDenied("a runner key cannot use the REST API")
