"""The checks a skill archive passes before it is stored."""

from __future__ import annotations

import zipfile

import pytest

from domain.errors import InvalidArgument
from domain.skill_archive import (
    MAX_SKILL_MD_BYTES,
    check_skill_archive,
    safe_entry_path,
    version_hash,
)
from tests.utils.skill_zips import make_zip


def test_a_good_archive_gives_its_skill_md_and_the_hash_of_the_whole_zip() -> None:
    data = make_zip({"SKILL.md": b"# Greeter\nSay hello.", "scripts/run.sh": b"echo hi"})
    archive = check_skill_archive(data)
    assert archive.skill_md == "# Greeter\nSay hello."
    assert archive.version_hash == version_hash(data)
    assert len(archive.version_hash) == 64


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"docs/SKILL.md": b"nested"}, "not found at the archive's root"),
        ({"SKILL.md": b"   \n"}, "is empty"),
        ({"SKILL.md": b"ok", "../evil.sh": b"x"}, "leaves the archive's folder"),
        ({"SKILL.md": b"ok", "a/../../evil.sh": b"x"}, "leaves the archive's folder"),
        ({"SKILL.md": b"ok", "/etc/passwd": b"x"}, "absolute path"),
        ({"SKILL.md": b"ok", "bad\x01name": b"x"}, "invalid character"),
    ],
)
def test_bad_archives_are_refused_saying_why(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_skill_archive(make_zip(files))


def test_an_oversized_skill_md_is_refused() -> None:
    data = make_zip({"SKILL.md": b"x" * (MAX_SKILL_MD_BYTES + 1)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(InvalidArgument, match=r"SKILL\.md is 1048577 bytes"):
        check_skill_archive(data)


def test_a_zip_bomb_over_the_ratio_is_refused_without_unpacking_it() -> None:
    bomb = make_zip({"SKILL.md": b"ok", "zeros.bin": b"\0" * 5_000_000})
    with pytest.raises(InvalidArgument, match=r"compressed \d+:1; at most 100:1"):
        check_skill_archive(bomb)


def test_bytes_that_are_not_a_zip_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="not a ZIP"):
        check_skill_archive(b"PK-but-not-really")


def test_safe_entry_path_normalizes_what_stays_inside() -> None:
    assert safe_entry_path("a/./b/c.txt") == "a/b/c.txt"
    with pytest.raises(InvalidArgument):
        safe_entry_path("C:/windows")
