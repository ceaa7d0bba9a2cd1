"""CPU and resident memory of whole process trees, from /proc (Linux)."""

from __future__ import annotations

import os
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


def tree_memory(roots: dict[str, int]) -> dict:
    """Resident memory of each named tree and of every process in it, MiB."""
    trees = {}
    for name, root in roots.items():
        processes = {f"{pid} {process_name(pid)}": round(rss_bytes(pid) / 2**20, 1) for pid in descendants(root)}
        trees[name] = {"rss_mib": round(sum(processes.values()), 1), "processes": processes}
    total = round(sum(t["rss_mib"] for t in trees.values()), 1)
    count = sum(len(t["processes"]) for t in trees.values())
    return {"total_rss_mib": total, "process_count": count, "by_tree": trees}
