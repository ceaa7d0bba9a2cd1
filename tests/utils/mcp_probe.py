"""The MCP probe server (tests/integration/mcp_probe_server.py) over streamable HTTP."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from devtools.ports import free_port

PROBE = Path(__file__).parents[1] / "integration" / "mcp_probe_server.py"


@contextlib.contextmanager
def probe_over_http() -> Iterator[str]:
    """The probe server over streamable HTTP, in its own process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(PROBE), "http", str(port)])
    try:
        deadline = time.monotonic() + 60
        while True:  # poll until it listens
            assert process.poll() is None, "the probe HTTP server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the probe HTTP server did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
