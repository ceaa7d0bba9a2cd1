"""Temporal for every process: the one way to connect from settings, and the one way to
run a worker until asked to stop.

A local dev server needs only `TEMPORAL_ADDRESS`. A self-hosted cluster adds TLS (its CA,
and a client certificate for mTLS); Temporal Cloud takes mTLS or an API key. These map
onto the SDK's own options, `Client.connect(..., tls=TLSConfig(...), api_key=...)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from infra.settings import Settings


class TemporalConnectionError(SystemExit):
    """The Temporal connection settings are incomplete or point at unreadable files: the
    process stops at start with this message (like an unsafe bind), not a traceback."""


def temporal_connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Client.connect(settings.temporal_address, **options)`."""
    api_key = settings.temporal_api_key.get_secret_value().strip()
    cert_path, key_path = settings.temporal_tls_cert_path, settings.temporal_tls_key_path
    if bool(cert_path) != bool(key_path):
        raise TemporalConnectionError(
            "mTLS needs both TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH (only one is set)"
        )
    uses_tls_files = bool(settings.temporal_tls_ca_path or cert_path or settings.temporal_tls_server_name)
    tls_wanted = settings.temporal_tls
    if tls_wanted is None:
        # An API key or a certificate only makes sense over TLS (Temporal Cloud refuses plaintext).
        tls_wanted = uses_tls_files or bool(api_key)
    elif not tls_wanted and uses_tls_files:
        raise TemporalConnectionError("TEMPORAL_TLS=false contradicts the TEMPORAL_TLS_* paths that are set")

    options: dict[str, Any] = {"namespace": settings.temporal_namespace}
    if api_key:
        options["api_key"] = api_key
    if not tls_wanted:
        options["tls"] = False
    elif not uses_tls_files:
        options["tls"] = True  # the system's root CAs, the address's host name
    else:
        options["tls"] = TLSConfig(
            server_root_ca_cert=_read(settings.temporal_tls_ca_path, "TEMPORAL_TLS_CA_PATH"),
            domain=settings.temporal_tls_server_name or None,
            client_cert=_read(cert_path, "TEMPORAL_TLS_CERT_PATH"),
            client_private_key=_read(key_path, "TEMPORAL_TLS_KEY_PATH"),
        )
    return options


async def connect_temporal(settings: Settings, **extra: Any) -> Client:
    """A Temporal client for `settings.temporal_address`; `extra` goes to `Client.connect`."""
    return await Client.connect(settings.temporal_address, **temporal_connect_options(settings), **extra)


def _read(path: str, variable: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TemporalConnectionError(f"{variable}={path!r} cannot be read: {exc.strerror}") from exc


async def run_worker_until(worker: Worker, stop: asyncio.Event | None) -> None:
    """Poll until `stop` is set (or forever); leaving drains in-flight tasks gracefully."""
    async with worker:
        await (stop or asyncio.Event()).wait()
