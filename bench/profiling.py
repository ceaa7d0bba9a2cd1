"""Sampling profiles of the benchmarked servers with py-spy (the `bench` extra).

py-spy attaches from outside, so the servers run unmodified; `--nonblocking` keeps it
from pausing them. The summary lists where samples land: the innermost frame (own time)
and every frame on the stack (time inside, callees included), as shares of all samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# The MongoDB stand-in is a Python server too: its share is reported apart.
PYTHON_SERVERS = ("serve", "worker", "runner", "mongodb", "langgraph_dev")
TOP = 12


def start(roots: dict[str, int]) -> dict[str, tuple[subprocess.Popen, Path]] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("[bench] py-spy not found: install the bench extra to profile", file=sys.stderr)
        return None
    out = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    samplers = {}
    for name, pid in roots.items():
        if name in PYTHON_SERVERS:
            path = out / f"{name}.txt"
            samplers[name] = (subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--format", "raw",
                 "--output", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path)
    return samplers


def stop(samplers: dict[str, tuple[subprocess.Popen, Path]]) -> dict:
    for process, _ in samplers.values():
        process.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
    summary = {}
    for name, (process, path) in samplers.items():
        process.wait(timeout=60)
        summary[name] = summarise(path.read_text() if path.exists() else "")
    return summary


def summarise(collapsed: str) -> dict:
    """Top own-time and inclusive-time frames from py-spy's collapsed stacks."""
    own, inside, total = Counter(), Counter(), 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inside[frame] += int(count)

    def share(counter: Counter) -> list[str]:
        return [f"{100 * n / total:.1f}% {frame}" for frame, n in counter.most_common(TOP)]

    # Frames on (nearly) every stack, the entry point and event loop, say nothing.
    spine = max(inside.values(), default=0)
    below_spine = Counter({frame: n for frame, n in inside.items() if n < 0.95 * spine})
    return {"samples": total, "own": share(own) if total else [],
            "inclusive": share(below_spine) if total else []}


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` → `func (pkg/mod.py)`."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/wt/peer/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{func} ({where})"
