"""Shared fixtures: the backing services (embedded unless env vars name real ones)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from devtools.embedded import EmbeddedServices, ServiceEndpoints


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceEndpoints]:
    """Real Redis, Mongo wire server and Temporal for the whole session.

    `MONGODB_URI`, `REDIS_URL`, `TEMPORAL_ADDRESS` point the suite at running servers;
    whatever is not set is started as a child process (in memory, free ports).
    """
    launcher = EmbeddedServices(
        tmp_path_factory.mktemp("services"),
        persistent=False,
        mongodb_uri=os.environ.get("MONGODB_URI", ""),
        redis_url=os.environ.get("REDIS_URL", ""),
        temporal_address=os.environ.get("TEMPORAL_ADDRESS", ""),
    )
    with launcher as endpoints:
        yield endpoints


@pytest.fixture
def mongo_db_name(request: pytest.FixtureRequest) -> str:
    """A database name no other test uses (max 63 chars, only [A-Za-z0-9_])."""
    stem = re.sub(r"\W+", "_", request.node.name)[:40].strip("_")
    return f"t_{stem}_{uuid.uuid4().hex[:12]}"
