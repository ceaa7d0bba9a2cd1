"""`stigmer-service serve`: REST/SSE (uvicorn) and gRPC in one asyncio process."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import re
import socket

import uvicorn

from api.app import create_app
from api.grpc_server import start_grpc_server
from core.context import ServerContext
from core.settings import Settings

log = logging.getLogger(__name__)


class InsecureBind(SystemExit):
    pass


class ServeError(RuntimeError):
    """The server cannot start; the message says why in one line (no traceback)."""


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    """Bind before anything else starts, so a busy port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}; "
                         "is another server running there?") from None
    return sock


async def open_context(settings: Settings) -> ServerContext:
    """The backing services, or a ServeError naming the one that cannot be reached."""
    from pymongo.errors import PyMongoError
    from redis.exceptions import RedisError

    try:
        return await ServerContext.open(settings)
    except PyMongoError as exc:  # the driver's message runs to dozens of lines: keep the cause
        reason = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
        raise ServeError(f"cannot reach MongoDB at {without_password(settings.mongodb_uri)} "
                         f"({reason[:200]})") from None
    except RedisError as exc:
        raise ServeError(f"cannot reach Redis at {without_password(settings.redis_url)} ({exc})") from None
    except RuntimeError as exc:
        if "connect" not in str(exc).lower():
            raise
        reason = str(exc).splitlines()[0][:200]
        raise ServeError(f"cannot reach Temporal at {settings.temporal_address} ({reason})") from None


def without_password(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def check_bind_is_safe(settings: Settings) -> None:
    """Without API keys the server listens on loopback only, unless told otherwise."""
    if settings.api_key_list or settings.allow_insecure:
        return
    host = settings.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InsecureBind(
            f"refusing to listen on {host} without API keys: set API_KEYS, "
            "or ALLOW_INSECURE=true to serve an open API on purpose"
        )


def http_config(app, settings: Settings) -> uvicorn.Config:
    # log_config=None: uvicorn's loggers go through the process's own logging (one plain
    # format), not uvicorn's formatter, which colours whenever stdout is a terminal, even
    # with stderr redirected to a file.
    return uvicorn.Config(app, host=settings.host, port=settings.http_port, log_config=None,
                          log_level="warning", lifespan="off", timeout_graceful_shutdown=2)


async def serve(settings: Settings, *, stop: asyncio.Event | None = None, ready=None) -> None:
    """Serve until `stop` is set (or the process is interrupted)."""
    check_bind_is_safe(settings)
    http_socket = bind_socket(settings.host, settings.http_port, "REST (HTTP_PORT)")
    try:
        context = await open_context(settings)
    except BaseException:
        http_socket.close()
        raise
    try:
        grpc_server, grpc_port = await start_grpc_server(
            context.service, host=settings.host, port=settings.grpc_port, api_keys=settings.api_key_list
        )
    except RuntimeError as exc:  # grpc's bind failure
        http_socket.close()
        await context.close()
        raise ServeError(f"cannot listen on {settings.host}:{settings.grpc_port} for gRPC (GRPC_PORT): "
                         f"{exc}; is another server running there?") from None
    http = uvicorn.Server(http_config(create_app(context), settings))
    http.install_signal_handlers = lambda: None  # the caller owns signals
    http_task = asyncio.create_task(http.serve(sockets=[http_socket]))
    try:
        while not http.started:
            if http_task.done():
                await http_task  # surfaces a bind error
                raise SystemExit(f"could not listen on {settings.host}:{settings.http_port}")
            await asyncio.sleep(0.02)
        # Start-up objects live for the whole process: keep them out of the collector's
        # full passes, which otherwise stall every open stream now and then.
        gc.freeze()
        http_port = http.servers[0].sockets[0].getsockname()[1]
        log.info("REST on http://%s:%s, gRPC on %s:%s", settings.host, http_port, settings.host, grpc_port)
        if ready is not None:
            ready(http_port, grpc_port)
        waiters = [http_task, asyncio.create_task((stop or asyncio.Event()).wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        http.should_exit = True
        await grpc_server.stop(grace=1)
        await asyncio.gather(http_task, return_exceptions=True)
        await context.close()
