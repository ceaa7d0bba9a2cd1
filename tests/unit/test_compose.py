"""Static checks of compose.yaml and the Dockerfile (no Docker engine needed): commands,
environment variables and ports agree with the code, healthchecks really probe, start-up
order waits for health, and the image runs the console script as a non-root user."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extras: pip install -e '.[test]'")

from core.settings import Settings  # noqa: E402
from stigmer_service.cli import build_parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP_IMAGE_BUILD = "."  # app services are the ones built from our Dockerfile
CONSOLE_SCRIPT = "stigmer-service"

# Variables app containers may set that are not Settings fields, with the reason.
DOCUMENTED_EXCEPTIONS: dict[str, str] = {}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    apps = {name: s for name, s in services.items() if s.get("build") == APP_IMAGE_BUILD}
    assert set(apps) == {"server", "worker", "runner"}
    return apps


def one_shot(service: dict[str, Any]) -> bool:
    """A job that runs once and exits (e.g. volume set-up): no healthcheck to speak of."""
    return service.get("restart") == "no"


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
    assert {as_argv(s["command"])[0] for s in app_services.values()} == {"serve", "worker", "runner"}


def test_app_environment_variables_are_settings(app_services: dict) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name, service in app_services.items():
        unknown = set(environment(service)) - fields - set(DOCUMENTED_EXCEPTIONS)
        assert not unknown, f"{name} sets {sorted(unknown)}, which no setting reads"


def test_server_and_runner_share_the_api_key_and_the_server_listens_publicly(app_services: dict) -> None:
    server, runner = environment(app_services["server"]), environment(app_services["runner"])
    assert server["HOST"] == "0.0.0.0"
    assert server["API_KEYS"], "a public server needs API keys"
    assert runner["RUNNER_API_KEY"] == server["API_KEYS"]
    grpc_port = int(server.get("GRPC_PORT", Settings().grpc_port))
    assert runner["SERVER_GRPC_TARGET"] == f"server:{grpc_port}"


def test_published_ports_are_the_ones_the_server_listens_on(app_services: dict) -> None:
    server = app_services["server"]
    env = environment(server)
    listening = {int(env.get("HTTP_PORT", Settings().http_port)), int(env.get("GRPC_PORT", Settings().grpc_port))}
    assert listening == {8080, 50051}
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


def test_app_services_start_after_what_they_talk_to(app_services: dict) -> None:
    assert {"mongo", "redis", "temporal"} <= set(app_services["server"]["depends_on"])
    assert {"mongo", "redis", "temporal"} <= set(app_services["worker"]["depends_on"])
    assert {"temporal", "server"} <= set(app_services["runner"]["depends_on"])


def test_temporal_runs_the_dev_server_with_ui_and_persistent_data(services: dict) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/temporal")
    argv = as_argv(temporal["command"])
    assert argv[:2] == ["server", "start-dev"] and "--db-filename" in argv
    assert {"7233:7233", "8233:8233"} <= set(temporal["ports"])
    assert "operator cluster health" in " ".join(as_argv(temporal["healthcheck"]["test"]))


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
