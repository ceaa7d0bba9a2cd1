"""The `stigmer-service` console script run as a user runs it: a child process, no TTY."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

CLI_TIMEOUT = 60.0
# The installed console script next to this interpreter (the venv's bin/).
CONSOLE_SCRIPT = Path(sys.executable).with_name("stigmer-service")


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str


async def stigmer_service(*args: str) -> Finished:
    """Run the `stigmer-service` console script in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STIGMER_")}
    env.update(COLUMNS="120", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    process = await asyncio.create_subprocess_exec(
        str(CONSOLE_SCRIPT), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    return Finished(process.returncode, stdout.decode(), stderr.decode())
