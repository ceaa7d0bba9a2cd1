"""CPU and resident memory of whole process trees, from /proc (Linux)."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str]:
    # The command name may hold spaces or parentheses: split after its closing one.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """`root` and every process below it, alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                continue  # exited while we looked
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def process_name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in argv[:4] if a)[:120]
    except OSError:
        return "?"


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process used, including children it has waited for."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / _TICK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except OSError:
        return 0


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named tree."""
    return {name: sum(cpu_seconds(p) for p in descendants(pid)) for name, pid in roots.items()}


def pss_bytes(pid: int) -> int:
    """Proportional set size: private pages plus a share of each page mapped by several
    processes (the Python processes map the same shared libraries), so the PSS of a set
    of processes adds up to what the set really holds, where RSS counts shared pages
    once per process."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory(roots: dict[str, int]) -> dict:
    """Resident memory of each named tree and of every process in it, MiB; and the
    trees' proportional set size (`pss_bytes`)."""
    trees = {}
    for name, root in roots.items():
        pids = descendants(root)
        processes = {f"{pid} {process_name(pid)}": round(rss_bytes(pid) / 2**20, 1) for pid in pids}
        trees[name] = {"rss_mib": round(sum(processes.values()), 1),
                       "pss_mib": round(sum(pss_bytes(pid) for pid in pids) / 2**20, 1), "processes": processes}
    total = round(sum(t["rss_mib"] for t in trees.values()), 1)
    total_pss = round(sum(t["pss_mib"] for t in trees.values()), 1)
    count = sum(len(t["processes"]) for t in trees.values())
    return {"total_rss_mib": total, "total_pss_mib": total_pss, "process_count": count, "by_tree": trees}


def wait_until_settled(roots: dict[str, int], *, quiet: float = 2.0, timeout: float = 30.0) -> None:
    """Until the trees' resident memory has stayed within 1 MiB for `quiet` seconds (a
    process still importing its modules is not idle yet), or `timeout`."""
    def total() -> int:
        return sum(rss_bytes(pid) for root in roots.values() for pid in descendants(root))

    deadline = time.monotonic() + timeout
    last, since = total(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = total()
        if abs(now - last) > 2**20:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
