"""`stigmer-service serve`: REST/SSE (uvicorn) and gRPC in one asyncio process, with the
workflow worker beside them when SERVE_RUNS_WORKER is set."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from api.app import create_app
from api.auth import ApiKeys
from api.grpc_server import start_grpc_server
from infra.settings import Settings
from stigmer_service.startup import ServeError, bind_socket, open_context

log = logging.getLogger(__name__)


class InsecureBind(SystemExit):
    pass


def check_bind_is_safe(settings: Settings) -> None:
    """Without API keys the server listens on loopback only, unless told otherwise."""
    if ApiKeys.from_settings(settings).enabled or settings.allow_insecure:
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


def http_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    # log_config=None: uvicorn's loggers go through the process's own logging (one plain
    # format), not uvicorn's formatter, which colours whenever stdout is a terminal, even
    # with stderr redirected to a file.
    return uvicorn.Config(app, host=settings.host, port=settings.http_port, log_config=None,
                          log_level="warning", lifespan="off", timeout_graceful_shutdown=2)


async def serve(
    settings: Settings, *, stop: asyncio.Event | None = None, ready: Callable[[int, int], None] | None = None
) -> None:
    """Serve until `stop` is set (or the process is interrupted); `ready(http_port, grpc_port)`
    is called once both listen. With SERVE_RUNS_WORKER the workflow worker runs here too,
    on the same context; its failure stops the server."""
    check_bind_is_safe(settings)
    http_socket = bind_socket(settings.host, settings.http_port, "REST (HTTP_PORT)")
    if settings.grpc_port:  # a trial bind: grpc reports a busy port only in its own log lines
        try:
            bind_socket(settings.host, settings.grpc_port, "gRPC (GRPC_PORT)").close()
        except ServeError:
            http_socket.close()
            raise
    try:
        context = await open_context(settings)
    except BaseException:
        http_socket.close()
        raise
    try:
        grpc_server, grpc_port = await start_grpc_server(
            context.service, host=settings.host, port=settings.grpc_port, api_keys=ApiKeys.from_settings(settings),
            workflow_domain=(context.workflows, context.workflow_executions),
        )
    except RuntimeError as exc:  # grpc's bind failure
        http_socket.close()
        await context.close()
        reason = str(exc).split(";")[0]
        raise ServeError(f"cannot listen on {settings.host}:{settings.grpc_port} for gRPC (GRPC_PORT): "
                         f"{reason}; is another server running there?") from None
    http = uvicorn.Server(http_config(create_app(context), settings))
    http_task = asyncio.create_task(http.serve(sockets=[http_socket]))
    worker: asyncio.Task[None] | None = None
    if settings.serve_runs_worker:  # the workflow worker on this loop, over the same service
        from workflows.worker import work

        assert context.temporal is not None  # TEMPORAL_ADDRESS is required to get here
        worker = asyncio.create_task(work(
            context.service, context.workflows, context.workflow_executions, context.temporal, settings, stop=stop
        ), name="worker")
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
        if worker is not None:
            waiters.append(worker)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if worker is not None and worker.done():
            worker.result()  # a worker that failed stops the process, saying why
    finally:
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        http.should_exit = True
        await grpc_server.stop(grace=1)
        await asyncio.gather(http_task, return_exceptions=True)
        await context.close()


async def serve_in_process(settings: Settings) -> tuple[asyncio.Event, asyncio.Task[None], tuple[int, int]]:
    """`serve` as a task of the running loop; returns its stop event, the task and the
    bound (http, grpc) ports. A start-up error is raised here."""
    stop = asyncio.Event()
    ports: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, stop=stop, ready=lambda h, g: ports.set_result((h, g))))
    started: list[asyncio.Future[Any]] = [server, ports]
    done, _ = await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
    if server in done:
        await server  # raises the start-up error
    return stop, server, ports.result()
