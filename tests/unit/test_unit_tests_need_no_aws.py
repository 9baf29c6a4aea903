"""The unit tests run on the in-memory fakes (tests/fakes.py), never on moto: no file of tests/unit (nor the
fakes) imports moto, boto3 or botocore, or asks for a fixture of tests/conftest.py that starts moto. Read
statically, so that the rule cannot break silently; the services' tests on moto live in tests/integration."""

from __future__ import annotations

import ast
from pathlib import Path

UNIT = Path(__file__).resolve().parent
FAKES = UNIT.parent / "fakes.py"
AWS_MODULES = {"moto", "boto3", "botocore"}
AWS_FIXTURES = {"aws", "seeded", "outbox", "relay_outbox", "domain_events", "atomic_aws"}  # tests/conftest.py
# Known exceptions, (file, module): each must still be needed, so that the list only ever shrinks.
# test_attributes.py compares seats' own attribute serializer with boto3's TypeSerializer (pure Python,
# no AWS): an adapter test that belongs in tests/integration or tests/contract.
EXCEPTIONS = {("test_attributes.py", "boto3.dynamodb.types")}


def _files() -> list[Path]:
    return [*sorted(UNIT.rglob("*.py")), FAKES]


def _imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found


def _fixtures_asked_for(tree: ast.Module) -> list[str]:
    """Parameters of functions (tests and fixtures), and names given to usefixtures / getfixturevalue."""
    asked = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            asked += [arg.arg for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("usefixtures", "getfixturevalue"):
            asked += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return asked


def _name(path: Path) -> str:
    return path.relative_to(UNIT).as_posix() if path.is_relative_to(UNIT) else path.name


def test_no_unit_test_imports_moto_boto3_or_botocore():
    found = {(_name(path), module) for path in _files()
             for module in _imports(ast.parse(path.read_text(encoding="utf-8")))
             if module.split(".")[0] in AWS_MODULES}

    assert found - EXCEPTIONS == set()
    assert EXCEPTIONS - found == set(), "an exception no longer needed: remove it from EXCEPTIONS"


def test_no_unit_test_asks_for_a_fixture_that_starts_moto():
    found = {(_name(path), fixture) for path in _files()
             for fixture in _fixtures_asked_for(ast.parse(path.read_text(encoding="utf-8")))
             if fixture in AWS_FIXTURES}

    assert found == set()


def test_the_check_sees_what_it_looks_for():
    sample = ast.parse(
        "import moto\nfrom botocore.exceptions import ClientError\nimport boto3.dynamodb\n"
        "@pytest.mark.usefixtures('aws')\ndef test_x(seeded, repo):\n    request.getfixturevalue('outbox')\n")

    assert _imports(sample) == ["moto", "botocore.exceptions", "boto3.dynamodb"]
    assert {"aws", "seeded", "outbox"} <= set(_fixtures_asked_for(sample))
