"""The embedded-services launcher: the children really answer, restart in place, and go away."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pymongo
import pytest
import redis
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devtools.embedded import (
    EmbeddedServices,
    ServiceEndpoints,
    describe_default_namespace,
    port_is_free,
)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True  # (a zombie would count as alive: stop() must have reaped it)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------- session services


def test_redis_answers_ping(services: ServiceEndpoints) -> None:
    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_mongo_insert_and_find(services: ServiceEndpoints, mongo_db_name: str) -> None:
    with pymongo.MongoClient(services.mongodb_uri, serverSelectionTimeoutMS=5000) as client:
        coll = client[mongo_db_name]["things"]
        coll.insert_one({"_id": "a", "n": 1})
        assert coll.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
        assert coll.count_documents({}) == 1


async def test_temporal_describes_default_namespace(services: ServiceEndpoints) -> None:
    client = await Client.connect(services.temporal_address, namespace="default")
    resp = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    assert resp.namespace_info.name == "default"


# --------------------------------------------------------------------- own instances


def test_restart_keeps_port_and_persistent_data(tmp_path: Path) -> None:
    launcher = EmbeddedServices(tmp_path, persistent=True)
    with launcher as endpoints:
        with pymongo.MongoClient(endpoints.mongodb_uri, serverSelectionTimeoutMS=5000) as client:
            client["keep"]["docs"].insert_one({"_id": 1, "v": "survives"})
        r = redis.Redis.from_url(endpoints.redis_url, socket_timeout=5)
        r.set("k", "v")
        r.close()
        old_pids = launcher.pids

        for name in ("mongodb", "redis", "temporal"):
            launcher.restart(name)
            assert launcher.pids[name] != old_pids[name]
            assert not _alive(old_pids[name])
        assert launcher.endpoints == endpoints  # same ports, same URLs

        with pymongo.MongoClient(endpoints.mongodb_uri, serverSelectionTimeoutMS=5000) as client:
            assert client["keep"]["docs"].find_one({"_id": 1}) == {"_id": 1, "v": "survives"}
        r = redis.Redis.from_url(endpoints.redis_url, socket_timeout=5)
        assert r.get("k") == b"v"  # appendonly in persistent mode
        r.close()
        asyncio.run(describe_default_namespace(endpoints.temporal_address))

    assert (tmp_path / "mongo").is_dir() and (tmp_path / "temporal.db").is_file()
    assert (tmp_path / "logs" / "mongodb.log").is_file()


def test_stop_leaves_no_process_and_frees_ports(tmp_path: Path) -> None:
    launcher = EmbeddedServices(tmp_path, persistent=False)
    endpoints = launcher.start()
    pids = launcher.pids
    assert set(pids) == {"redis", "mongodb", "temporal"}
    ports = [_port(endpoints.redis_url), _port(endpoints.mongodb_uri), _port(endpoints.temporal_address)]
    assert len(set(ports)) == 3

    launcher.stop()

    for name, pid in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) still running"
        assert not _group_alive(pid), f"process group of {name} still has members"
    for port in ports:
        assert port_is_free(port), f"port {port} still bound"
    assert launcher.pids == {}
    launcher.stop()  # idempotent


def test_taken_preferred_port_falls_back_and_urls_skip_start(tmp_path: Path, services: ServiceEndpoints) -> None:
    messages: list[str] = []
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        launcher = EmbeddedServices(
            tmp_path,
            persistent=False,
            # Set URLs mean "use that one": only Redis is started here.
            mongodb_uri=services.mongodb_uri,
            temporal_address=services.temporal_address,
            ports={"redis": taken},
            log=messages.append,
        )
        with launcher as endpoints:
            assert set(launcher.pids) == {"redis"}
            assert endpoints.mongodb_uri == services.mongodb_uri
            assert endpoints.temporal_address == services.temporal_address
            assert _port(endpoints.redis_url) != taken
            assert any(str(taken) in m and "in use" in m for m in messages), messages
            r = redis.Redis.from_url(endpoints.redis_url, socket_timeout=5)
            assert r.ping()
            r.close()


def test_restart_of_unknown_or_external_service_is_refused(tmp_path: Path, services: ServiceEndpoints) -> None:
    launcher = EmbeddedServices(
        tmp_path,
        mongodb_uri=services.mongodb_uri,
        redis_url=services.redis_url,
        temporal_address=services.temporal_address,
    )
    with launcher:
        assert launcher.pids == {}
        with pytest.raises(ValueError):
            launcher.restart("postgres")
        with pytest.raises(RuntimeError, match="not started"):
            launcher.restart("redis")
