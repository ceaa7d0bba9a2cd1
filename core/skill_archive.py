"""What a skill archive must be before it is stored: a ZIP with `SKILL.md` at its root.

Stigmer's limits, plus what its checks leave to a library: entries with absolute paths
or `..` parts (zip-slip) are refused here, since our runner unpacks archives onto disk.
The checks read the archive's central directory, then only `SKILL.md` itself; nothing
else is decompressed, so a zip bomb costs nothing to refuse.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
from dataclasses import dataclass

from core.errors import InvalidArgument

MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_UNPACKED_BYTES = 500 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
MAX_FILES = 10_000
MAX_SKILL_MD_BYTES = 1024 * 1024
SKILL_MD = "SKILL.md"


@dataclass(frozen=True, slots=True)
class SkillArchive:
    skill_md: str
    version_hash: str  # SHA-256 of the whole ZIP, 64 hex digits


def version_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_skill_archive(data: bytes) -> SkillArchive:
    """The archive's SKILL.md and hash, or InvalidArgument saying what is wrong."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise InvalidArgument(f"skill archive is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidArgument(f"skill archive is not a ZIP file: {exc}") from None
    with archive:
        entries = archive.infolist()
        _check_entries(entries)
        return SkillArchive(skill_md=_read_skill_md(archive), version_hash=version_hash(data))


def safe_entry_path(name: str) -> str:
    """The entry's path relative to the unpack folder, or InvalidArgument (zip-slip)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidArgument(f"invalid character in archive entry name {name!r}")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise InvalidArgument(f"archive entry {name!r} has an absolute path")
    if ".." in normalized.split("/"):
        raise InvalidArgument(f"archive entry {name!r} leaves the archive's folder")
    return posixpath.normpath(normalized)


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    if not entries:
        raise InvalidArgument("skill archive is empty")
    if len(entries) > MAX_FILES:
        raise InvalidArgument(f"skill archive has {len(entries)} files; at most {MAX_FILES}")
    unpacked = 0
    for entry in entries:
        safe_entry_path(entry.filename)
        unpacked += entry.file_size
        if entry.compress_size > 0 and entry.file_size // entry.compress_size > MAX_COMPRESSION_RATIO:
            raise InvalidArgument(
                f"archive entry {entry.filename!r} is compressed "
                f"{entry.file_size // entry.compress_size}:1; at most {MAX_COMPRESSION_RATIO}:1"
            )
        if entry.compress_size == 0 and entry.file_size > 0:
            raise InvalidArgument(f"archive entry {entry.filename!r} claims content but stores none")
    if unpacked > MAX_UNPACKED_BYTES:
        raise InvalidArgument(f"skill archive unpacks to {unpacked} bytes; at most {MAX_UNPACKED_BYTES}")


def _read_skill_md(archive: zipfile.ZipFile) -> str:
    try:
        entry = archive.getinfo(SKILL_MD)
    except KeyError:
        raise InvalidArgument(f"{SKILL_MD} not found at the archive's root") from None
    if entry.file_size > MAX_SKILL_MD_BYTES:
        raise InvalidArgument(f"{SKILL_MD} is {entry.file_size} bytes; at most {MAX_SKILL_MD_BYTES}")
    with archive.open(entry) as stream:
        # Read one byte past the limit: the declared size may lie.
        content = stream.read(MAX_SKILL_MD_BYTES + 1)
    if len(content) > MAX_SKILL_MD_BYTES:
        raise InvalidArgument(f"{SKILL_MD} is larger than {MAX_SKILL_MD_BYTES} bytes")
    text = content.decode("utf-8", errors="replace")
    if not text.strip():
        raise InvalidArgument(f"{SKILL_MD} is empty")
    return text
