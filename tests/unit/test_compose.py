"""Static checks of compose.yaml (the local stack), compose.prod.yaml (the production
shape) and the Dockerfile, no Docker engine needed: commands, environment variables and
ports agree with the code, healthchecks really probe, start-up order waits for health,
images are pinned, nothing without auth is published beyond loopback, data lives on
volumes, and the image builds without BuildKit and runs the console script as non-root."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extras: pip install -e '.[test]'")

from devtools.embedded import TEMPORAL_DEV_CONFIG  # noqa: E402
from infra.settings import Settings  # noqa: E402
from stigmer_service.cli import build_parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP_IMAGE_BUILD = "."  # app services are the ones built from our Dockerfile
CONSOLE_SCRIPT = "stigmer-service"
COMPOSE_FILES = ("compose.yaml", "compose.prod.yaml")

# Variables app containers may set that are not Settings fields, with the reason.
DOCUMENTED_EXCEPTIONS: dict[str, str] = {}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module", params=COMPOSE_FILES)
def compose(request) -> dict[str, Any]:
    return load(request.param)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    apps = {name: s for name, s in services.items() if s.get("build") == APP_IMAGE_BUILD and not one_shot(s)}
    assert set(apps) == {"server", "worker", "runner", "workflow-runner"}
    return apps


def one_shot(service: dict[str, Any]) -> bool:
    """A job that runs once and exits (e.g. volume set-up): no healthcheck to speak of."""
    return service.get("restart") == "no" or str(service.get("restart", "")).startswith("on-failure")


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def test_app_services_run_real_subcommands_of_the_console_script(app_services: dict) -> None:
    known = subcommands()
    assert {"serve", "worker", "runner"} <= known
    for name, service in app_services.items():
        argv = as_argv(service["command"])
        assert argv[0] in known, f"{name}: {argv[0]!r} is not a stigmer-service subcommand"
    assert {as_argv(s["command"])[0] for s in app_services.values()} == {"serve", "worker", "runner", "workflow-runner"}


def test_app_environment_variables_are_settings(app_services: dict) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name, service in app_services.items():
        unknown = set(environment(service)) - fields - set(DOCUMENTED_EXCEPTIONS)
        assert not unknown, f"{name} sets {sorted(unknown)}, which no setting reads"


def runner_key_variable(compose: dict[str, Any], runner: dict[str, Any]) -> str:
    """The variable the runner's key file is made from (a compose secret)."""
    (mount,) = [m for m in runner["secrets"] if f"/run/secrets/{m['target']}" == environment(runner)["RUNNER_API_KEY_FILE"]]
    return str(compose["secrets"][mount["source"]]["environment"])


def test_runners_present_a_runner_key_the_server_accepts_and_the_server_listens_publicly(
    compose: dict, app_services: dict,
) -> None:
    server = environment(app_services["server"])
    assert server["HOST"] == "0.0.0.0"
    assert server["API_KEYS"], "a public server needs API keys"
    assert runner_key_variable(compose, app_services["runner"]) in server["RUNNER_API_KEYS"]  # a role of its own
    assert "STIGMER_RUNNER_API_KEY" not in server["API_KEYS"]
    grpc_port = int(server.get("GRPC_PORT", Settings().grpc_port))
    # Every process that dials the server (the agent runner, the workflow runner, …)
    # dials the port it listens on.
    targets = {
        name: environment(service)["SERVER_GRPC_TARGET"]
        for name, service in app_services.items()
        if "SERVER_GRPC_TARGET" in environment(service)
    }
    assert {"runner", "workflow-runner"} <= targets.keys()
    assert set(targets.values()) == {f"server:{grpc_port}"}, targets


def test_published_ports_are_the_ones_the_server_listens_on(app_services: dict) -> None:
    server = app_services["server"]
    env = environment(server)
    listening = {int(env.get("HTTP_PORT", Settings().http_port)), int(env.get("GRPC_PORT", Settings().grpc_port))}
    assert listening == {8080, 7234}
    container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in server["ports"]}
    assert container_ports == listening


def test_server_healthcheck_probes_readiness_on_its_http_port(app_services: dict) -> None:
    probe = " ".join(as_argv(app_services["server"]["healthcheck"]["test"]))
    assert f"127.0.0.1:{Settings().http_port}/readyz" in probe


def test_every_long_running_service_has_a_real_healthcheck(services: dict) -> None:
    for name, service in services.items():
        if one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        test = check["test"]
        argv = as_argv(test)
        assert argv[0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck test must start with CMD or CMD-SHELL"
        text = " ".join(argv)
        assert not re.search(r"\|\|\s*(exit\s+0|true)\b", text), f"{name}: healthcheck can never fail"


def test_dependencies_wait_for_health_or_for_one_shot_jobs_to_finish(services: dict) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions, not a bare list"
        for dependency, spec in depends.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = "service_completed_successfully" if one_shot(services[dependency]) else "service_healthy"
            assert spec.get("condition") == wanted, f"{name} → {dependency}: expected {wanted}"


def waits_for(services: dict, name: str) -> set[str]:
    """Everything `name` waits for, directly or through the jobs it waits for."""
    seen: set[str] = set()
    todo = list(services[name].get("depends_on", {}))
    while todo:
        dependency = todo.pop()
        if dependency not in seen:
            seen.add(dependency)
            todo.extend(services[dependency].get("depends_on", {}))
    return seen


def test_app_services_start_after_what_they_talk_to(services: dict, app_services: dict) -> None:
    assert {"mongo", "redis", "temporal"} <= waits_for(services, "server")
    assert {"mongo", "redis", "temporal"} <= waits_for(services, "worker")
    assert {"temporal", "server"} <= waits_for(services, "runner")
    assert {"temporal", "server"} <= waits_for(services, "workflow-runner")


def test_every_image_is_pinned_to_a_version(services: dict) -> None:
    for name, service in services.items():
        if service.get("build") == APP_IMAGE_BUILD:
            continue
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert re.match(r"^\d+\.\d+(\.\d+)?(-[\w.]+)?$", tag), f"{name}: {image!r} is not pinned to a version"


def test_the_api_keys_have_no_default(compose: dict) -> None:
    server = environment(compose["services"]["server"])
    runner = environment(compose["services"]["runner"])
    for name, key, variable in (
        ("server", server["API_KEYS"], "STIGMER_API_KEY"),
        ("server", server["RUNNER_API_KEYS"], "STIGMER_RUNNER_API_KEY"),
        ("server", server["SECRETS_KEY"], "STIGMER_SECRETS_KEY"),
        ("worker", environment(compose["services"]["worker"])["SECRETS_KEY"], "STIGMER_SECRETS_KEY"),
    ):
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", key), f"{name}: {key!r} must require {variable}"
    # The runner's key comes from that variable too, as a file, never its environment.
    assert runner_key_variable(compose, compose["services"]["runner"]) == "STIGMER_RUNNER_API_KEY"
    assert "RUNNER_API_KEY" not in runner and "RUNNER_API_KEYS" not in runner


POLICY = ("MCP_STDIO_COMMANDS", "MCP_DOCKER_IMAGES", "MCP_HTTP_HOSTS")


def test_mcp_servers_may_run_and_reach_nothing_until_the_operator_lists_them(app_services: dict) -> None:
    server, runner = environment(app_services["server"]), environment(app_services["runner"])
    for name in POLICY:
        # Both check (the server at create, the runner at run) and both read the same list,
        # empty unless the operator sets it.
        assert server[name] == runner[name] == f"${{{name}:-}}", name


def test_the_runner_may_start_mcp_servers_as_another_user_and_nothing_more(app_services: dict) -> None:
    runner = app_services["runner"]
    assert str(runner["user"]).split(":")[0] == "0"  # so it can start servers as stigmer-mcp
    assert runner["cap_drop"] == ["ALL"] and set(runner["cap_add"]) == {"SETUID", "SETGID", "KILL"}
    assert "no-new-privileges:true" in runner["security_opt"]
    assert environment(runner)["MCP_SANDBOX_USER"] == "stigmer-mcp"
    (mount,) = runner["secrets"]
    assert (str(mount["uid"]), oct(mount["mode"]) if isinstance(mount["mode"], int) else mount["mode"]) in {("0", "0o400"), ("0", "0400")}
    assert "stigmer-mcp" in (ROOT / "Dockerfile").read_text()
    for name in ("server", "worker"):  # only the runner starts anything
        assert "user" not in app_services[name] and "cap_add" not in app_services[name]


def test_redis_requires_a_password_that_only_server_and_worker_hold(compose: dict) -> None:
    services = compose["services"]
    argv = as_argv(services["redis"]["command"])
    password = argv[argv.index("--requirepass") + 1]
    assert re.fullmatch(r"\$\{STIGMER_REDIS_PASSWORD:\?[^}]+\}", password), "no default password"
    # The healthcheck's redis-cli authenticates (REDISCLI_AUTH), so a probe proves auth works.
    assert environment(services["redis"])["REDISCLI_AUTH"] == password
    for name in ("server", "worker"):
        url = environment(services[name])["REDIS_URL"]
        assert re.fullmatch(r"redis://:\$\{STIGMER_REDIS_PASSWORD:\?[^}]+\}@redis:6379/0", url), name
    runner = environment(services["runner"])
    assert not any("REDIS" in key or "STIGMER_REDIS_PASSWORD" in value for key, value in runner.items())


def published(service: dict) -> list[tuple[str, int]]:
    """(host address, container port) of each published port; no address = every interface."""
    result = []
    for port in service.get("ports", []):
        parts = str(port).rsplit(":", 2)
        address = parts[0] if len(parts) == 3 else "0.0.0.0"
        result.append((address, int(parts[-1])))
    return result


def test_ports_are_on_loopback_unless_the_operator_says_otherwise(services: dict) -> None:
    for name, service in services.items():
        for address, port in published(service):
            if name == "server":  # it has API keys; sharing it is a choice: STIGMER_PUBLISH_ADDRESS
                assert address == "${STIGMER_PUBLISH_ADDRESS:-127.0.0.1}", (name, port)
            else:  # Temporal's frontend and UI have no auth
                assert address == "127.0.0.1", f"{name} publishes {port} on {address}"


def test_stateful_services_keep_their_data_on_named_volumes(compose: dict) -> None:
    data_dirs = {"mongo": "/data/db", "redis": "/data", "postgresql": "/var/lib/postgresql/data",
                 "temporal": "/data"}
    services = compose["services"]
    for name, directory in data_dirs.items():
        if name not in services or (name == "temporal" and "start-dev" not in as_argv(services[name].get("command", []))):
            continue
        mounts = [str(v).split(":") for v in services[name].get("volumes", [])]
        assert any(target == directory and source in compose["volumes"] for source, target, *_ in mounts), name
    assert "--appendonly" in as_argv(services["redis"]["command"])


def test_long_running_services_have_memory_limits(services: dict) -> None:
    for name, service in services.items():
        if one_shot(service):
            continue
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert re.fullmatch(r"\d+[MG]", str(limits.get("memory", ""))), f"{name} has no memory limit"


def test_compose_variables_are_written_so_compose_reads_them() -> None:
    """A bare `$name` in a command would be replaced from the host's environment by compose:
    shell variables must be written `$$name`, compose variables `${NAME…}`."""
    for name in COMPOSE_FILES:
        text = (ROOT / name).read_text()
        stray = re.findall(r"(?<!\$)\$(?!\$|\{)\w+", re.sub(r"^\s*#.*$", "", text, flags=re.M))
        assert not stray, f"{name}: {stray}"


def test_the_poller_healthcheck_is_the_same_in_both_files_and_compiles() -> None:
    checks = {name: load(name)["x-poller-check"] for name in COMPOSE_FILES}
    assert len(set(checks.values())) == 1
    code = checks["compose.yaml"]
    compile(code, "poller-check", "exec")
    import infra.temporal as connection  # what the check imports

    assert "connect_temporal" in code and hasattr(connection, "connect_temporal")


def test_local_temporal_runs_the_dev_server_with_ui_and_persistent_data() -> None:
    temporal = load("compose.yaml")["services"]["temporal"]
    assert temporal["image"].startswith("temporalio/temporal:")
    argv = as_argv(temporal["command"])
    assert argv[:2] == ["server", "start-dev"] and "--db-filename" in argv
    # The same dynamic config as the embedded server of `dev` and the tests.
    config = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--dynamic-config-value"}
    assert config == {f"{key}={value}" for key, value in TEMPORAL_DEV_CONFIG.items()}
    assert {("127.0.0.1", 7233), ("127.0.0.1", 8233)} <= set(published(temporal))
    assert "operator cluster health" in " ".join(as_argv(temporal["healthcheck"]["test"]))


# -- compose.prod.yaml ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod() -> dict[str, Any]:
    return load("compose.prod.yaml")["services"]


def test_prod_temporal_is_a_real_server_on_postgresql(prod: dict) -> None:
    temporal, schema = prod["temporal"], prod["temporal-schema"]
    assert temporal["image"].startswith("temporalio/server:")
    assert environment(temporal)["DB"] == "postgres12" and environment(temporal)["POSTGRES_SEEDS"] == "postgresql"
    # The schema job runs the same Temporal version as the server, on both databases.
    assert schema["image"] == temporal["image"].replace("temporalio/server", "temporalio/admin-tools")
    script = "\n".join(as_argv(schema["command"]) if isinstance(schema["command"], str) else schema["command"])
    assert "temporal-sql-tool --plugin postgres12" in script
    assert "for db in temporal temporal_visibility" in script
    for step in ("update-schema", "setup-schema", "create"):
        assert step in script
    assert temporal["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert prod["temporal-schema"]["depends_on"]["postgresql"]["condition"] == "service_healthy"


def test_prod_namespace_job_creates_the_namespace_the_apps_use(prod: dict) -> None:
    job = prod["temporal-namespace"]
    assert environment(job)["TEMPORAL_ADDRESS"] == environment(prod["worker"])["TEMPORAL_ADDRESS"]
    for name in ("server", "worker", "runner"):
        assert environment(prod[name])["TEMPORAL_NAMESPACE"] == environment(job)["NAMESPACE"]
    script = "\n".join(job["command"])
    assert "temporal operator cluster health" in script and "operator namespace create" in script


def test_prod_mongodb_is_a_replica_set_with_majority_writes(prod: dict) -> None:
    from urllib.parse import parse_qs, urlsplit

    argv = as_argv(prod["mongo"]["command"])
    replica_set = argv[argv.index("--replSet") + 1]
    for name in ("server", "worker"):
        query = parse_qs(urlsplit(environment(prod[name])["MONGODB_URI"]).query)
        assert query["replicaSet"] == [replica_set]
        assert query["w"] == ["majority"]
    initiate = "\n".join(prod["mongo-replica-set"]["command"])
    assert f'_id: "{replica_set}"' in initiate and "isWritablePrimary" in initiate


def test_prod_redis_persists_every_second(prod: dict) -> None:
    argv = as_argv(prod["redis"]["command"])
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--appendfsync") + 1] == "everysec"
    assert argv[argv.index("--maxmemory-policy") + 1] == "noeviction"  # never drop the publish-order guard


# -- Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions per stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(stripped)
    return stages


def instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword):].strip() for line in stage if line.upper().startswith(keyword + " ")]


def test_dockerfile_builds_without_buildkit() -> None:
    """The legacy builder (and older Docker, some CI) knows no parser directives, mounts
    or heredocs."""
    text = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax=", text, flags=re.M)
    assert "--mount" not in text and "<<" not in text


def test_dockerfile_is_multi_stage_on_slim_python_3_11() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    text = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in text


def test_dockerfile_installs_dependencies_before_copying_the_source() -> None:
    builder = dockerfile_stages()[0]
    copies = [i for i, line in enumerate(builder) if line.upper().startswith("COPY ")]
    pyproject_copy = next(i for i in copies if "pyproject.toml" in builder[i])
    source_copy = next(i for i in copies if builder[i].split()[1] == ".")
    dependency_install = next(i for i, line in enumerate(builder) if "pip install" in line)
    assert pyproject_copy < dependency_install < source_copy


def test_final_stage_runs_the_console_script_as_non_root() -> None:
    final = dockerfile_stages()[-1]
    users = instructions(final, "USER")
    assert users, "the final stage sets no USER (it would run as root)"
    assert users[-1].split(":")[0] not in {"root", "0"}
    entrypoints = instructions(final, "ENTRYPOINT")
    assert entrypoints and entrypoints[-1] == f'["{CONSOLE_SCRIPT}"]'
    assert instructions(final, "CMD")[-1] == '["serve"]'
    assert "serve" in subcommands()


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".stigmer"} <= ignored


def test_the_first_run_after_up_finds_the_demo_agent_and_its_tool_server() -> None:
    """compose.yaml's header runs `--agent demo` right after `up`: a one-shot job seeds that
    agent once the server is healthy, and the image holds the MCP server it starts."""
    import importlib

    from devtools.dev import DEMO_AGENT

    compose = load("compose.yaml")
    header = [line for line in (ROOT / "compose.yaml").read_text().splitlines() if line.startswith("#")]
    runs = [line for line in header if "stigmer-service run" in line]
    assert runs and all("--agent demo" in line for line in runs)
    assert DEMO_AGENT["metadata"]["name"] == "demo"

    job = compose["services"]["demo-agent"]
    assert one_shot(job) and job.get("build") == APP_IMAGE_BUILD
    argv = as_argv(job["entrypoint"])
    assert argv[:2] == ["python", "-m"]
    assert callable(importlib.import_module(argv[2]).main)
    assert job["depends_on"] == {"server": {"condition": "service_healthy"}}
    env = environment(job)
    assert env["STIGMER_URL"] == "http://server:8080" and int(Settings().http_port) == 8080
    assert env["STIGMER_API_KEY"] == environment(compose["services"]["server"])["API_KEYS"]

    # The demo agent's tool server is in the image: the Dockerfile's extras include the
    # one that installs the command the agent starts.
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    built = re.search(r"^ARG EXTRAS=(\S*)$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert built is not None
    installed = [req for extra in built.group(1).split(",") for req in extras[extra]]
    (server,) = DEMO_AGENT["spec"]["mcp_servers"]
    assert any(req.startswith(server["stdio"]["command"] + ">=") for req in installed), installed


def required_variables(name: str) -> set[str]:
    """The variables a compose file refuses to start without (`${NAME:?…}`)."""
    return set(re.findall(r"\$\{(\w+):\?", (ROOT / name).read_text()))


def test_the_readme_sets_every_variable_each_compose_file_requires() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, command in (("compose.yaml", "docker compose up"), ("compose.prod.yaml", "docker compose -f compose.prod.yaml up")):
        block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, flags=re.S) if command in b)
        exported = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", block.split(command)[0]))
        assert required_variables(name) <= exported, f"README's {command!r} block leaves out {required_variables(name) - exported}"
