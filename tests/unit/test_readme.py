"""The README's commands run as pasted on a machine that followed its quick start."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SHELL_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def shell_lines() -> list[str]:
    return [line.split(" # ")[0] for block in SHELL_BLOCKS for line in block.splitlines()]


def test_the_test_command_works_in_the_quick_start_venv() -> None:
    """The quick start installs the extra that holds the test runner; the test command
    uses that venv's interpreter."""
    quick_start = next(line for line in shell_lines() if "stigmer-service dev" in line)
    installed = re.search(r"\.venv/bin/pip install -c constraints\.txt -e '\.\[(\w+)\]'", quick_start)
    assert installed is not None, quick_start
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("pytest>") for req in extras[installed.group(1)])
    assert "The test command is `.venv/bin/python -m pytest -q`" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"-e '.[{installed.group(1)}]'" in ci and ".venv/bin/python -m pytest" in ci


def test_cli_commands_are_written_as_they_run_after_the_quick_start() -> None:
    """The quick start does not activate the venv, so `stigmer-service` is not on PATH:
    every command is written `.venv/bin/stigmer-service …`."""
    bare = [line for line in shell_lines() if re.search(r"(?<![/\w.-])stigmer-service\s+\w", line)]
    assert not bare, bare
    written = [line for line in shell_lines() if ".venv/bin/stigmer-service " in line]
    commands = {word for line in written for word in re.findall(r"\.venv/bin/stigmer-service (\w+)", line)}
    assert {"dev", "run", "follow", "get", "list", "cancel"} <= commands
