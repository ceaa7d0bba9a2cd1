"""Skill archives for tests: good ones, and each kind a push must refuse."""

from __future__ import annotations

import io
import zipfile


def make_zip(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def skill_zip(skill_md: str = "# Greeter\nGreet people by name.", **files: bytes) -> bytes:
    """A good skill: SKILL.md at the root plus `files` (keyword names, `__` for `/`)."""
    entries = {"SKILL.md": skill_md.encode()}
    entries.update({name.replace("__", "/"): content for name, content in files.items()})
    return make_zip(entries)
