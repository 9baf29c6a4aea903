"""Ship Python bytecode with the SAM build, in a form Lambda can use.

`sam build` leaves no `.pyc` in `.aws-sam/build`, and Lambda's `/var/task` and `/opt` are read-only,
so every cold start would compile every module it imports from source and throw the result away
(`make bench` measures it: about a second per function). Compiling after the build is not enough by
itself: SAM zips its artifacts without timestamps, so the default, timestamp-checked `.pyc` would
never match its source and would be ignored. They are written hash-based and unchecked (PEP 552):
the artifacts are never edited after this step, so the bytecode is always the source's.

    python -m infra.bytecode .aws-sam/build          # compile every .py, then check
    python -m infra.bytecode --check .aws-sam/build  # exit 1 if a module would compile at start

Run by `make build` with the template's Python (bytecode is specific to a minor version).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import py_compile
import sys
from pathlib import Path

from infra import template

MODE = py_compile.PycInvalidationMode.UNCHECKED_HASH
FLAGS_UNCHECKED_HASH = 0b01  # PEP 552: bit 0 set = hash-based, bit 1 clear = not checked against the source


def runtime_version() -> tuple[int, int]:
    """(3, 11) from the template's `Runtime: python3.11` (Globals)."""
    runtime = template.load()["Globals"]["Function"]["Runtime"]
    major, minor = runtime.removeprefix("python").split(".")
    return int(major), int(minor)


def compile_tree(root: Path) -> None:
    if not compileall.compile_dir(str(root), quiet=1, force=True, workers=0, invalidation_mode=MODE):
        raise SystemExit(f"some modules under {root} do not compile")


def problems(root: Path) -> list[str]:
    """Modules under `root` that Python would have to compile when imported."""
    found: list[str] = []
    magic = importlib.util.MAGIC_NUMBER
    for source in sorted(root.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists():
            found.append(f"{source}: no bytecode")
            continue
        header = cached.read_bytes()[:8]
        if header[:4] != magic:
            found.append(f"{source}: bytecode of another Python version")
        elif int.from_bytes(header[4:8], "little") != FLAGS_UNCHECKED_HASH:
            found.append(f"{source}: bytecode checked against the source's timestamp or hash")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the SAM build directory (.aws-sam/build)")
    parser.add_argument("--check", action="store_true", help="only check, compile nothing")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != runtime_version():
        print(f"bytecode must be written by python{'.'.join(map(str, runtime_version()))}, the template's "
              f"runtime; this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    if not args.root.is_dir():
        print(f"{args.root} is not a directory (run `sam build` first)", file=sys.stderr)
        return 2
    if not args.check:
        compile_tree(args.root)
    missing = problems(args.root)
    for line in missing[:20]:
        print(line, file=sys.stderr)
    modules = sum(1 for _ in args.root.rglob("*.py"))
    if missing:
        print(f"{len(missing)} of {modules} modules would be compiled at every cold start", file=sys.stderr)
        return 1
    print(f"bytecode: {modules} modules under {args.root}, hash-based, for python{sys.version_info[0]}."
          f"{sys.version_info[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
