"""The one place that reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of every process, read from environment variables (upper case)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # Backing services. Empty means "start an embedded one" (dev and tests only).
    mongodb_uri: str = ""
    mongodb_database: str = "stigmer"
    redis_url: str = ""
    temporal_address: str = ""
    temporal_namespace: str = "default"
    workflow_task_queue: str = "agent-execution"
    runner_task_queue: str = "agent-execution-runner"

    # Server.
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    # Comma-separated API keys; when empty, auth is off (loopback only unless allow_insecure).
    api_keys: SecretStr = SecretStr("")
    allow_insecure: bool = False
    max_body_bytes: int = 1_048_576
    max_message_chars: int = 100_000
    sse_keepalive_seconds: float = 5.0
    sse_db_check_seconds: float = 2.0

    # Runner.
    server_grpc_target: str = "127.0.0.1:50051"
    runner_api_key: SecretStr = SecretStr("")
    update_interval_ms: int = Field(default=150, ge=10, le=10_000)
    heartbeat_interval_seconds: float = 1.0
    # How long a finishing runner keeps trying to deliver its final status over gRPC
    # (the workflow stores it durably either way).
    status_flush_timeout_seconds: float = 10.0
    # Workflow timeouts (see workflows/types.py WorkflowTimeouts).
    heartbeat_timeout_seconds: float = 15.0
    runner_pickup_timeout_seconds: float = 120.0
    execution_timeout_seconds: float = 3600.0
    default_model: str = "scripted"
    scripted_token_delay_ms: int = 20
    scripted_step_delay_ms: int = 100
    openai_api_key: SecretStr = SecretStr("")
    anthropic_api_key: SecretStr = SecretStr("")
    ollama_base_url: str = ""

    # Local data for `stigmer-service dev` (embedded services keep their files here).
    data_dir: str = ".stigmer"

    # Runner: how long one MCP tool call (and a server's start) may take, unless the
    # server sets its own timeout.
    mcp_tool_timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
