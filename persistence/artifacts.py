"""Skill artifacts (ZIP files) in MongoDB GridFS, so every server replica serves them.

One GridFS file per artifact key (`skills/<sha256>.zip`, domain/skill_rules.py), its
filename. Artifacts are immutable and addressed by what they are: storing one that is
there already stores nothing, and two replicas that store the same one at once leave two
equal files under one name, which reads tolerate (the newest is read) and `delete`
removes together.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gridfs import AsyncGridFSBucket, NoFile
from pymongo.asynchronous.database import AsyncDatabase

from persistence.storage_errors import storage_errors_mapped

BUCKET = "skill_artifacts"


@storage_errors_mapped
class ArtifactStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self._files = db[f"{BUCKET}.files"]

    async def exists(self, key: str) -> bool:
        return await self._files.find_one({"filename": key}, projection={"_id": 1}) is not None

    async def put(self, key: str, data: bytes) -> bool:
        """Store `data` under `key` unless it is stored already; True when it was stored now."""
        if await self.exists(key):
            return False
        await self._bucket.upload_from_stream(key, data, metadata={"length": len(data)})
        return True

    async def get(self, key: str) -> bytes | None:
        try:
            stream = await self._bucket.open_download_stream_by_name(key)
        except NoFile:
            return None
        data: bytes = await stream.read()
        return data

    async def delete(self, key: str) -> int:
        """Remove every file stored under `key`; how many there were."""
        ids = [doc["_id"] async for doc in self._files.find({"filename": key}, projection={"_id": 1})]
        for file_id in ids:
            with contextlib.suppress(NoFile):  # another replica removed it first
                await self._bucket.delete(file_id)
        return len(ids)
