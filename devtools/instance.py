"""One `dev` per data folder: a lock file held while it runs, and a small state file
saying where it serves, so a second `dev` can say so in one line instead of starting a
second set of services on the same files.

The lock is an advisory `flock` on `<data_dir>/dev.lock`: the kernel releases it when
the holder exits, however it exits, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


class AlreadyRunning(RuntimeError):
    """Another `dev` holds the data folder (the message says where it serves)."""


class DevInstance:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.lock_path = self.data_dir / "dev.lock"
        self.state_path = self.data_dir / "dev.json"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the folder, or raise AlreadyRunning describing the `dev` that has it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(self._describe_holder()) from None
        self._fd = fd
        self.write_state(status="starting")

    def write_state(self, **state: Any) -> None:
        """Record where this `dev` serves (replaced atomically: a reader never sees half)."""
        partial = self.state_path.with_suffix(".tmp")
        partial.write_text(json.dumps({"pid": os.getpid(), **state}))
        partial.replace(self.state_path)

    def release(self) -> None:
        if self._fd is None:
            return
        self.state_path.unlink(missing_ok=True)
        os.close(self._fd)  # drops the lock
        self._fd = None

    def _describe_holder(self) -> str:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            state = {}
        where = f"a stack is already running on {self.data_dir}"
        if state.get("pid"):
            where += f" (dev pid {state['pid']})"
        if state.get("status") == "ready":
            where += f": REST {state['http_url']}, gRPC {state['grpc_target']}"
            if state.get("temporal_ui_url"):
                where += f", Temporal UI {state['temporal_ui_url']}"
        else:
            where += ", still starting"
        return where + "; stop it first, or set DATA_DIR to another folder"

    def __enter__(self) -> DevInstance:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
