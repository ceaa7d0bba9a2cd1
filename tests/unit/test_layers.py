"""The layers of ARCHITECTURE.md ("Layers"), read from every module's imports: each package
imports only the packages it may, and no module imports itself through others."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each package may import besides itself, the generated stubs (`ai`) and third-party
# libraries. Keep in step with ARCHITECTURE.md, "Layers".
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "infra": {"domain"},
    "persistence": {"domain", "infra"},
    "application": {"persistence", "domain", "infra"},
    "api": {"application", "domain", "infra"},
    "workflows": {"application", "domain", "infra"},
    "runner": {"domain", "infra"},
    "wfrunner": {"domain", "infra"},
    "client": {"domain"},
    "devtools": {"domain", "infra", "persistence", "application", "api", "workflows", "runner", "wfrunner",
                 "client"},
    "stigmer_service": {"domain", "infra", "persistence", "application", "api", "workflows", "runner",
                        "wfrunner", "client", "devtools"},
}
FIRST_PARTY = set(ALLOWED) | {"ai", "bench", "tests"}
# Libraries that do I/O or serve a protocol: the domain stays pure of them.
NOT_IN_DOMAIN = {"pymongo", "bson", "redis", "grpc", "fastapi", "starlette", "httpx", "temporalio",
                 "langgraph", "langchain_core", "mcp", "asyncio", "socket", "subprocess"}


def modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (at any depth: lazy imports are arrows too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module is not None
            yield node.lineno, node.module
            for alias in node.names:  # `from package import module`
                yield node.lineno, f"{node.module}.{alias.name}"


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = set()
    for name, path in modules().items():
        package = name.split(".")[0]
        for line, imported in imports_of(path):
            top = imported.split(".")[0]
            if top in FIRST_PARTY and top not in {package, "ai"} and top not in ALLOWED[package]:
                wrong.add(f"{path.relative_to(ROOT)}:{line}: {package} imports {top}")
            if package == "domain" and top in NOT_IN_DOMAIN:
                wrong.add(f"{path.relative_to(ROOT)}:{line}: the domain imports {top}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_itself_through_others() -> None:
    known = modules()
    graph = {
        name: {imported for _, imported in imports_of(path) if imported in known and imported != name}
        for name, path in known.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" → ".join(cycle) for cycle in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
