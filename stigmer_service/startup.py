"""Start-up failures of `serve` as one line each (a busy port, an unreachable backing
service) instead of a driver's traceback: `ServeError`, which the console script prints."""

from __future__ import annotations

import re
import socket

from infra.settings import Settings
from stigmer_service.context import ServerContext


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
