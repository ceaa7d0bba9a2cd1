"""The environment variables each command reads, for its `--help`: generated from the
Settings fields (name, alias, default), so the help cannot drift from what is read."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from wfrunner.settings import WorkflowRunnerSettings

_TEMPORAL = (
    "temporal_address", "temporal_namespace", "temporal_tls", "temporal_tls_ca_path",
    "temporal_tls_cert_path", "temporal_tls_key_path", "temporal_tls_server_name", "temporal_api_key",
)
_BACKING = ("mongodb_uri", "mongodb_database", "mongodb_timeout_ms", "mongodb_operation_timeout_ms",
            "mongodb_max_pool_size", "redis_url", *_TEMPORAL)
_QUEUES = (
    "workflow_task_queue", "runner_task_queue", "workflow_execution_task_queue",
    "workflow_execution_runner_task_queue", "workflow_validation_task_queue",
    "workflow_validation_runner_task_queue",
)
_WORKFLOWS = (
    "workflow_validation_wait_seconds", "workflow_validation_timeout_seconds", "workflow_execution_timeout_seconds",
)
_MCP_POLICY = ("mcp_stdio_commands", "mcp_docker_images", "mcp_http_hosts")
_TIMEOUTS = ("heartbeat_timeout_seconds", "runner_pickup_timeout_seconds", "execution_timeout_seconds")

#: Settings fields each process command reads (a unit test checks every field is listed).
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "serve": _BACKING + _QUEUES + _TIMEOUTS + _WORKFLOWS + (
        "host", "http_port", "grpc_port", "api_keys", "runner_api_keys", "allow_insecure", "max_body_bytes",
        "max_message_chars", "sse_keepalive_seconds", "sse_db_check_seconds", "persist_interval_ms", "max_status_bytes",
        # With SERVE_RUNS_WORKER, the worker's own settings too.
        "serve_runs_worker", "reconcile_interval_seconds", "reconcile_grace_seconds",
        "runner_api_key_file", *_MCP_POLICY,
        # Sealing secrets at rest; without a key, one kept in DATA_DIR.
        "secrets_key", "data_dir",
    ),
    "worker": _BACKING + _QUEUES + _TIMEOUTS + _WORKFLOWS + (
        "max_message_chars", "max_status_bytes", "reconcile_interval_seconds", "reconcile_grace_seconds",
        "secrets_key", "data_dir",
    ),
    "runner": (*_TEMPORAL, "runner_task_queue", "server_grpc_target", "runner_api_key", "runner_api_key_file", "update_interval_ms", "heartbeat_interval_seconds", "status_flush_timeout_seconds", "mcp_tool_timeout_seconds", "runner_work_dir", *_MCP_POLICY, "mcp_stdio_sandbox", "mcp_sandbox_user", "default_model", "scripted_token_delay_ms", "scripted_step_delay_ms", "openai_api_key", "anthropic_api_key", "ollama_base_url"),
    "workflow-runner": (
        *_TEMPORAL, "server_grpc_target", "runner_api_key", "runner_api_key_file", "heartbeat_interval_seconds",
        "workflow_execution_runner_task_queue", "workflow_validation_runner_task_queue",
        "workflow_document_task_queue", "workflow_call_activity_task_queue", "workflow_document_timeout_seconds",
        "workflow_http_hosts",
    ),
    "dev": ("data_dir", "secrets_key", "http_port", "grpc_port", "api_keys", "mongodb_uri", "redis_url", "temporal_address"),
}


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The variables a field is read from, Stigmer's name first where there are two."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(choice).upper() for choice in choices]
    return [str(alias or name).upper()]


def shown_default(field: FieldInfo) -> str:
    default = field.default
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if default == "" or default is None:
        return "(unset)"
    return str(default).lower() if isinstance(default, bool) else str(default)


def settings_epilog(command: str) -> str:
    fields = WorkflowRunnerSettings.model_fields  # Settings' and the workflow runner's own
    names = COMMAND_SETTINGS[command]
    rows = []
    for name in names:
        env, *also = env_names(name, fields[name])
        default = shown_default(fields[name])
        rows.append((env, default + (f" (also read as {', '.join(also)})" if also else "")))
    width = max(len(env) for env, _ in rows)
    lines = [f"  {env.ljust(width)}  default: {default}" for env, default in rows]
    header = "environment variables read (unset backing-service URLs mean `dev` embeds them):" \
        if command == "dev" else "environment variables read:"
    footer = ["  … and those of serve, worker, runner and workflow-runner, which dev starts"] if command == "dev" else []
    return "\n".join([header, *lines, *footer])
