"""What an agent's definition references, made ready for a run: its skills unpacked into
the execution's working folder and added to its instructions, and its instance's
environments merged with the execution's `runtime_env`.

Skills: each of `agent.spec.skill_refs` is resolved by reference (Stigmer's version
rules, on the server), its ZIP fetched and unpacked into
`<working folder>/skills/<version hash>/`, and its SKILL.md appended to the
instructions under a LOCATION header, as Stigmer's runner does. Archives are checked
again here before anything touches the disk (domain/skill_archive.py: limits, zip bombs),
and every entry must stay inside its folder (zip-slip).

Environments: the instance's `environment_refs` in order, a later one overriding an
earlier one key by key, then the execution's `runtime_env` over all of them. The result
fills MCP servers' `${NAME}` placeholders (runner/mcp_tools.py).
"""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2
from domain.errors import InvalidArgument
from domain.skill_archive import MAX_UNPACKED_BYTES, check_skill_archive, safe_entry_path
from runner.mcp_config import EnvValue

SKILLS_FOLDER = "skills"
_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ReadySkill:
    """A skill unpacked for a run: what the prompt says about it."""

    name: str
    skill_md: str
    location: Path


def unpack_skill(artifact: bytes, folder: Path) -> None:
    """Unpack a skill's ZIP into `folder` (made if missing). Refuses what the server
    would refuse, and any entry that would land outside `folder`."""
    check_skill_archive(artifact)
    root = folder.resolve()
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        for entry in archive.infolist():
            relative = safe_entry_path(entry.filename)
            target = (root / relative).resolve()
            if target != root and root not in target.parents:
                raise InvalidArgument(f"archive entry {entry.filename!r} leaves the skill's folder")
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(target, "wb") as sink:
                # Count what is really written: a declared size may lie.
                while chunk := source.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > MAX_UNPACKED_BYTES:
                        raise InvalidArgument(f"skill archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                    sink.write(chunk)
            mode = (entry.external_attr >> 16) & 0o777
            executable = bool(mode & stat.S_IXUSR)
            target.chmod(0o755 if executable else 0o644)


def skill_folder(working_folder: Path, skill: skill_pb2.Skill) -> Path:
    return working_folder / SKILLS_FOLDER / (skill.status.version_hash or skill.metadata.slug)


def skills_prompt(skills: Iterable[ReadySkill]) -> str:
    """The instructions' skills section: each SKILL.md under its name and LOCATION."""
    skills = list(skills)
    if not skills:
        return ""
    parts = [
        "\n\n## Available Skills\n\n"
        "The following skills provide specialized capabilities. "
        "Each skill includes instructions and executable tools.\n"
    ]
    for skill in skills:
        parts.append(f"\n### SKILL: {skill.name}\nLOCATION: {skill.location}/\n\n{skill.skill_md}\n")
    return "".join(parts)


def merge_environments(
    environments: Iterable[environment_pb2.Environment], runtime_env: Mapping[str, EnvValue]
) -> dict[str, EnvValue]:
    """Environments in order (later wins), then the execution's runtime_env over them."""
    merged: dict[str, EnvValue] = {}
    for environment in environments:
        for name, value in environment.spec.data.items():
            merged[name] = EnvValue(value.value, value.is_secret)
    merged.update(runtime_env)
    return merged


def remove_working_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
