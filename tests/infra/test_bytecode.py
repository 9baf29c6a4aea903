"""infra.bytecode: the SAM build ships bytecode Lambda will use (hash-based, for the runtime's Python)."""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
import sys
from pathlib import Path

from infra import bytecode


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = 41 + 1\n")
    (root / "app.py").write_text("from pkg.mod import VALUE\n")
    return root


def test_the_runtime_is_the_templates():
    assert bytecode.runtime_version() == (3, 11)


def test_a_compiled_tree_has_unchecked_hash_bytecode_for_every_module(tmp_path):
    root = _tree(tmp_path / "build")
    assert len(bytecode.problems(root)) == 3
    bytecode.compile_tree(root)
    assert bytecode.problems(root) == []
    cached = Path(importlib.util.cache_from_source(str(root / "pkg" / "mod.py")))
    assert int.from_bytes(cached.read_bytes()[4:8], "little") == 0b01


def test_the_bytecode_is_used_even_when_the_sources_timestamps_change(tmp_path):
    """What SAM's zip does to every file: the module still loads from its .pyc, not from source."""
    root = _tree(tmp_path / "build")
    bytecode.compile_tree(root)
    (root / "pkg" / "mod.py").write_text("VALUE = 0  # changed after the build: an unchecked .pyc ignores it\n")
    done = subprocess.run([sys.executable, "-B", "-c", "import app; print(app.VALUE)"], cwd=root,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "42"


def test_missing_and_timestamp_bytecode_are_both_reported(tmp_path):
    root = _tree(tmp_path / "build")
    py_compile.compile(str(root / "pkg" / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    found = bytecode.problems(root)
    assert any("mod.py: bytecode checked against the source's timestamp" in line for line in found)
    assert any("app.py: no bytecode" in line for line in found)


def test_the_command_compiles_then_checks_and_refuses_a_missing_build(tmp_path, capsys):
    root = _tree(tmp_path / "build")
    assert bytecode.main(["--check", str(root)]) == 1
    assert "3 of 3 modules would be compiled at every cold start" in capsys.readouterr().err
    assert bytecode.main([str(root)]) == 0
    assert "bytecode: 3 modules" in capsys.readouterr().out
    assert bytecode.main([str(tmp_path / "nothing")]) == 2

