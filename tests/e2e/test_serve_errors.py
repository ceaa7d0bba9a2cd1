"""`stigmer-service serve` that cannot start says why in one line and exits non-zero:
an unreachable MongoDB, a busy REST port, a busy gRPC port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from devtools.embedded import ServiceEndpoints
from devtools.ports import free_port


def serve(services: ServiceEndpoints, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "MONGODB_URI": services.mongodb_uri,
        "REDIS_URL": services.redis_url,
        "TEMPORAL_ADDRESS": services.temporal_address,
        "HTTP_PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        **env,
    }
    return subprocess.run([sys.executable, "-m", "stigmer_service.cli", "serve"], env=environment,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, lines
    return lines[0]


def test_unreachable_mongodb_is_one_line(services: ServiceEndpoints) -> None:
    nobody = free_port()
    line = one_line(serve(services, MONGODB_URI=f"mongodb://127.0.0.1:{nobody}/?directConnection=true"))
    assert f"cannot reach MongoDB at mongodb://127.0.0.1:{nobody}" in line


@pytest.mark.parametrize("which", ["HTTP_PORT", "GRPC_PORT"])
def test_a_busy_port_is_one_line(services: ServiceEndpoints, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(serve(services, **{which: str(port)}))
    assert f"cannot listen on 127.0.0.1:{port}" in line and which in line
