"""The runner's key from a file (RUNNER_API_KEY_FILE): read by the runner, accepted by the server."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings


def test_the_runner_reads_its_key_from_a_file_and_the_server_accepts_that_key(tmp_path: Path) -> None:
    key_file = tmp_path / "runner.key"
    key_file.write_text("runner-key-1\n")
    settings = Settings(runner_api_key_file=str(key_file))
    assert settings.runner_key() == "runner-key-1"
    assert settings.runner_key_list == ["runner-key-1"]
    # A key in the environment or a list of accepted keys still wins, as before.
    assert Settings(runner_api_key="direct", runner_api_key_file=str(key_file)).runner_key() == "direct"
    assert Settings(runner_api_keys="a,b", runner_api_key_file=str(key_file)).runner_key_list == ["a", "b"]
    assert Settings().runner_key() == ""
