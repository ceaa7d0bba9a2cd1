"""The repository tracks no file that .gitignore says is generated or local
(e.g. `*.egg-info/` from `pip install -e .`, `.stigmer/` data)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_no_tracked_file_is_ignored() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked_but_ignored = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert tracked_but_ignored == [], f"tracked although .gitignore lists them: {tracked_but_ignored[:10]}"
