"""The one place that reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.workflow_contract import DEFAULT_RUNNER_TASK_QUEUE, DEFAULT_WORKFLOW_TASK_QUEUE
from domain.workflow_runner_contract import (
    DEFAULT_EXECUTION_RUNNER_TASK_QUEUE,
    DEFAULT_EXECUTION_TASK_QUEUE,
    DEFAULT_VALIDATION_RUNNER_TASK_QUEUE,
    DEFAULT_VALIDATION_TASK_QUEUE,
)


class Settings(BaseSettings):
    """Every setting of every process, read from environment variables (upper case)."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # Backing services. Empty means "start an embedded one" (dev and tests only).
    mongodb_uri: str = ""
    mongodb_database: str = "stigmer"
    # A MongoDB that cannot be reached (no server to select, no connection made) is given
    # up on after this long: requests answer 503 / UNAVAILABLE; the worker's durable writes
    # are retried by Temporal.
    mongodb_timeout_ms: int = Field(default=3000, ge=100)
    # One operation end to end, including its wait for a pooled connection: long enough
    # for a burst (200 creates while 200 runs stream status) to queue rather than fail.
    # Past it, a request that only waited for a connection answers 503 `storage_busy`
    # with Retry-After.
    mongodb_operation_timeout_ms: int = Field(default=15000, ge=100)
    # Connections per process: a create takes a few sequential operations, a status write
    # one or two, so 100 serve a burst of 200 requests with a short queue.
    mongodb_max_pool_size: int = Field(default=100, ge=1)
    redis_url: str = ""
    temporal_address: str = ""
    temporal_namespace: str = "default"
    # Stigmer's variable names; the short ones are accepted too.
    workflow_task_queue: str = Field(
        default=DEFAULT_WORKFLOW_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_AGENT_EXECUTION_STIGMER_TASK_QUEUE", "WORKFLOW_TASK_QUEUE"),
    )
    runner_task_queue: str = Field(
        default=DEFAULT_RUNNER_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE", "RUNNER_TASK_QUEUE"),
    )
    # Workflows (domain/workflow_runner_contract.py), Stigmer's variable names.
    workflow_execution_task_queue: str = Field(
        default=DEFAULT_EXECUTION_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_WORKFLOW_EXECUTION_STIGMER_TASK_QUEUE"),
    )
    workflow_execution_runner_task_queue: str = Field(
        default=DEFAULT_EXECUTION_RUNNER_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_WORKFLOW_EXECUTION_RUNNER_TASK_QUEUE"),
    )
    workflow_validation_task_queue: str = Field(
        default=DEFAULT_VALIDATION_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_WORKFLOW_VALIDATION_STIGMER_TASK_QUEUE"),
    )
    workflow_validation_runner_task_queue: str = Field(
        default=DEFAULT_VALIDATION_RUNNER_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_WORKFLOW_VALIDATION_RUNNER_TASK_QUEUE"),
    )
    # How long a workflow's create or update waits for the runner's validation; past it
    # the workflow is stored with validation PENDING (and the result, when it comes, is
    # recorded by the validation workflow, which lives at most `..._timeout_seconds`).
    workflow_validation_wait_seconds: float = Field(default=10.0, ge=0)
    workflow_validation_timeout_seconds: float = Field(default=120.0, gt=0)
    # The longest a workflow execution may run (Stigmer's: 30 minutes).
    workflow_execution_timeout_seconds: float = Field(default=1800.0, gt=0)

    # Server.
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 7234  # Stigmer's own server port, which its CLI dials in local mode
    # Comma-separated API keys; when empty, auth is off (loopback only unless allow_insecure).
    api_keys: SecretStr = SecretStr("")
    allow_insecure: bool = False
    max_body_bytes: int = 1_048_576
    max_message_chars: int = 100_000
    sse_keepalive_seconds: float = 5.0
    sse_db_check_seconds: float = 2.0
    # A status stream's appended text reaches watchers at once and storage at most this
    # long after (application/live_status.py); structural changes are stored at once.
    persist_interval_ms: int = Field(default=250, ge=0, le=10_000)
    # `serve` also runs the workflow worker on its event loop: one Python process fewer,
    # which is how `dev` runs; a deployment runs `worker` on its own and scales it apart.
    serve_runs_worker: bool = False
    # An execution whose stored status (long texts included) would grow past this ends
    # FAILED, so a whole status always fits in one MongoDB reply (16 MiB).
    max_status_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, le=16 * 1024 * 1024)

    # Runner.
    server_grpc_target: str = "127.0.0.1:7234"
    # The key this runner presents, and (on the server) the keys accepted from runners.
    runner_api_key: SecretStr = SecretStr("")
    runner_api_keys: SecretStr = SecretStr("")
    # A file holding the runner key (readable by the runner's user only): the runner reads
    # its key from it rather than holding it in its environment; the server accepts it too.
    runner_api_key_file: str = ""
    # The least time between the starts of two status sends while only tokens stream
    # (runner/status_sender.py); a token goes out at once when the gap has passed and no
    # send is in flight.
    update_interval_ms: int = Field(default=20, ge=0, le=10_000)
    heartbeat_interval_seconds: float = 1.0
    # How long a finishing runner keeps trying to deliver its final status over gRPC
    # (the workflow stores it durably either way).
    status_flush_timeout_seconds: float = 10.0
    # Workflow timeouts (domain/workflow_contract.py WorkflowTimeouts).
    heartbeat_timeout_seconds: float = 30.0
    runner_pickup_timeout_seconds: float = 120.0
    execution_timeout_seconds: float = 3600.0
    # The worker's reconciler: how often it looks, and how old an unfinished execution
    # must be before it is looked at (application/reconciler.py).
    reconcile_interval_seconds: float = 30.0
    reconcile_grace_seconds: float = 120.0
    default_model: str = "scripted"
    scripted_token_delay_ms: int = 20
    scripted_step_delay_ms: int = 100
    openai_api_key: SecretStr = SecretStr("")
    anthropic_api_key: SecretStr = SecretStr("")
    ollama_base_url: str = ""

    # Local data for `stigmer-service dev` (embedded services keep their files here).
    data_dir: str = ".stigmer"
    # The key that seals secret values at rest (environments, execution contexts):
    # base64 of 32 bytes, or any passphrase (hashed). Unset: a key generated once and kept
    # in DATA_DIR/secrets.key (fine for `dev`; a deployment sets it, compose requires it).
    secrets_key: SecretStr = SecretStr("")

    # Temporal beyond one machine (a cluster or Temporal Cloud); see infra/temporal.py.
    # TLS: unset = on when a certificate path or an API key is set.
    temporal_tls: bool | None = None
    temporal_tls_ca_path: str = ""  # PEM root CA; empty = the system's roots
    temporal_tls_cert_path: str = ""  # PEM client certificate (mTLS), with the key below
    temporal_tls_key_path: str = ""
    temporal_tls_server_name: str = ""  # SNI / name on the server certificate, if not the host
    temporal_api_key: SecretStr = SecretStr("")  # Temporal Cloud API key (sent as a bearer token)

    # Runner: how long one MCP tool call (and a server's start) may take, unless the
    # server sets its own timeout.
    mcp_tool_timeout_seconds: float = Field(default=60.0, gt=0)
    # What agents' MCP servers may run and reach (domain/mcp_policy.py), comma-separated;
    # empty allows nothing. Read by the server (at create) and the runner (at run).
    mcp_stdio_commands: str = ""
    mcp_docker_images: str = ""
    mcp_http_hosts: str = ""
    # How stdio servers are started (runner/sandbox.py): `auto` = as MCP_SANDBOX_USER when
    # the runner is root, else refused; `user` = always so (root only); `none` = as the
    # runner's own user, unsandboxed.
    mcp_stdio_sandbox: Literal["auto", "user", "none"] = "auto"
    mcp_sandbox_user: str = "nobody"
    # Runner: where each execution gets its working folder (its skills are unpacked
    # there; removed when the run ends). Empty: the system's temporary folder.
    runner_work_dir: str = ""

    @property
    def api_key_list(self) -> list[str]:
        """User keys (API_KEYS)."""
        return _split_keys(self.api_keys)

    @property
    def runner_key_list(self) -> list[str]:
        """Keys the server accepts from runners: RUNNER_API_KEYS, else the one runner key
        (RUNNER_API_KEY, or the content of RUNNER_API_KEY_FILE)."""
        return _split_keys(self.runner_api_keys) or _split_keys(SecretStr(self.runner_key()))

    def runner_key(self) -> str:
        """The key this runner presents: RUNNER_API_KEY, else RUNNER_API_KEY_FILE's content."""
        key = self.runner_api_key.get_secret_value()
        if key or not self.runner_api_key_file:
            return key
        return Path(self.runner_api_key_file).read_text().strip()


def _split_keys(value: SecretStr) -> list[str]:
    return [k.strip() for k in value.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
