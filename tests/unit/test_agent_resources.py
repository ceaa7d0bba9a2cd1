"""What the runner makes of an agent's skills and its instance's environments."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from domain.errors import InvalidArgument
from runner.agent_resources import ReadySkill, merge_environments, skills_prompt, unpack_skill
from runner.mcp_config import EnvValue
from tests.utils.skill_zips import make_zip


def test_a_skill_unpacks_into_its_folder_with_scripts_executable(tmp_path: Path) -> None:
    script = zipfile.ZipInfo("bin/run.sh")
    script.external_attr = (stat.S_IFREG | 0o755) << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SKILL.md", b"# Tool\nRun bin/run.sh.")
        archive.writestr("docs/notes.txt", b"notes")
        archive.writestr(script, b"#!/bin/sh\necho hi\n")  # a ZipInfo keeps its mode
    folder = tmp_path / "skills" / "abc"
    unpack_skill(buffer.getvalue(), folder)
    assert (folder / "SKILL.md").read_text() == "# Tool\nRun bin/run.sh."
    assert (folder / "docs" / "notes.txt").read_bytes() == b"notes"
    assert (folder / "bin" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (folder / "SKILL.md").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"SKILL.md": b"ok", "../escape.txt": b"x"}, "leaves the archive's folder"),
        ({"SKILL.md": b"ok", "/abs.txt": b"x"}, "absolute path"),
        ({"SKILL.md": b"ok", "zeros.bin": b"\0" * 5_000_000}, "at most 100:1"),
    ],
)
def test_a_hostile_archive_writes_nothing_outside_its_folder(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    folder = tmp_path / "work" / "skill"
    with pytest.raises(InvalidArgument, match=message):
        unpack_skill(make_zip(files), folder)
    assert not (tmp_path / "work" / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_skill_md_goes_into_the_instructions_under_its_location(tmp_path: Path) -> None:
    text = skills_prompt([ReadySkill("Greeter", "# Greeter\nSay hello.", tmp_path / "skills" / "h1")])
    assert "## Available Skills" in text
    assert "### SKILL: Greeter" in text
    assert f"LOCATION: {tmp_path / 'skills' / 'h1'}/" in text
    assert text.rstrip().endswith("# Greeter\nSay hello.")
    assert skills_prompt([]) == ""


def environment(**values: str) -> environment_pb2.Environment:
    return json_format.ParseDict(
        {"spec": {"data": {k: {"value": v, "is_secret": k.endswith("TOKEN")} for k, v in values.items()}}},
        environment_pb2.Environment(),
    )


def test_environments_merge_in_order_and_runtime_env_wins() -> None:
    merged = merge_environments(
        [environment(REGION="eu", API_TOKEN="first"), environment(API_TOKEN="second", TEAM="core")],
        {"TEAM": EnvValue("runtime"), "EXTRA": EnvValue("x", True)},
    )
    assert merged == {
        "REGION": EnvValue("eu"),
        "API_TOKEN": EnvValue("second", True),
        "TEAM": EnvValue("runtime"),
        "EXTRA": EnvValue("x", True),
    }
