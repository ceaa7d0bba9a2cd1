"""Every file of this repository that a comment, docstring or document names by its path
exists: a path left behind by a move misleads the next reader."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("api", "bench", "client", "core", "devtools", "persistence", "proto", "runner",
         "stigmer_service", "tests", "workflows")
NAMED_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(ROOMS)})/[\w/]+\.(?:py|html|svg|proto|yaml|toml|md))\b")
SKIP = {ROOT / "proto" / "ai"}  # generated stubs


def sources() -> list[Path]:
    files = [ROOT / name for name in ("README.md", "ARCHITECTURE.md", "Dockerfile", "compose.yaml",
                                      "compose.prod.yaml", "pyproject.toml", ".ci/run")]
    for room in ROOMS:
        files += [p for p in (ROOT / room).rglob("*") if p.suffix in (".py", ".html", ".proto")
                  and not any(skip in p.parents for skip in SKIP)]
    return [f for f in files if f.is_file()]


def test_every_path_named_in_the_sources_exists() -> None:
    missing = sorted(
        f"{source.relative_to(ROOT)}: {named}"
        for source in sources()
        for named in set(NAMED_PATH.findall(source.read_text(errors="replace")))
        if not (ROOT / named).exists()
    )
    assert not missing, "paths named but not there:\n" + "\n".join(missing)
