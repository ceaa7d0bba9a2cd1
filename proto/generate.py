"""Regenerate the Python stubs of the wire contract: `python proto/generate.py`.

Stubs are committed; tests/unit/test_proto_stubs.py fails when they are stale.
"""

from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parent
WELL_KNOWN = pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: pathlib.Path) -> None:
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{WELL_KNOWN}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for directory in {out_dir / pathlib.Path(f).parent for f in proto_files()}:
        # Make every generated directory a regular package.
        while directory != out_dir:
            (directory / "__init__.py").touch()
            directory = directory.parent


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
