"""The control catalog and the tests stay in step (read from the test sources with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from municloud.core import paths
from municloud.core.controls import catalog
from municloud.core.services import load_services

TESTS = paths.TESTS


def _marker_ids(node: ast.expr) -> list[str]:
    """Control ids in `pytest.mark.control("A", "B")` (or a list of such marks)."""
    if isinstance(node, ast.List | ast.Tuple):
        return [i for e in node.elts for i in _marker_ids(e)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "control"):
        return [a.value for a in node.args if isinstance(a, ast.Constant)
                and isinstance(a.value, str)]
    return []


def collect() -> dict[str, list[str]]:
    """test id -> control ids, for every test function under tests/."""
    found: dict[str, list[str]] = {}
    for f in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(f.read_text())
        module_ids: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
                module_ids += _marker_ids(node.value)

        def visit(body: list[ast.stmt], inherited: list[str], prefix: str,
                  f: Path = f) -> None:
            for n in body:
                if isinstance(n, ast.ClassDef) and n.name.startswith("Test"):
                    ids = [i for d in n.decorator_list for i in _marker_ids(d)]
                    visit(n.body, inherited + ids, f"{prefix}{n.name}::")
                elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and \
                        n.name.startswith("test_"):
                    ids = [i for d in n.decorator_list for i in _marker_ids(d)]
                    found[f"{f.relative_to(TESTS)}::{prefix}{n.name}"] = inherited + ids

        visit(tree.body, module_ids, "")
    return found


@pytest.mark.control("BASE-CAT-01")
def test_every_host_test_names_its_controls() -> None:
    unnamed = [t for t, ids in collect().items() if t.startswith("infra/") and not ids]
    assert not unnamed, f"testinfra tests without @pytest.mark.control: {unnamed}"


@pytest.mark.control("BASE-CAT-01")
def test_every_named_control_is_in_the_catalog() -> None:
    known = set(catalog())
    unknown = {(t, i) for t, ids in collect().items() for i in ids if i not in known}
    assert not unknown, f"tests name controls missing from tests/controls/: {sorted(unknown)}"


@pytest.mark.control("BASE-CAT-01")
def test_every_control_has_a_test() -> None:
    tested = {i for ids in collect().values() for i in ids}
    untested = sorted(set(catalog()) - tested)
    assert not untested, f"controls with no test: {untested}"


@pytest.mark.control("BASE-CAT-01")
def test_roles_declare_only_catalogued_controls() -> None:
    known = set(catalog())
    for svc in load_services().values():
        missing = [c for c in svc.controls if c not in known]
        assert not missing, f"roles/{svc.role}/meta/service.yml declares unknown {missing}"


@pytest.mark.control("BASE-CAT-01")
def test_the_scanner_sees_markers(tmp_path: Path) -> None:
    # The scanner itself can fail: a file with one marked and one unmarked test.
    src = ("import pytest\n@pytest.mark.control('X-1')\ndef test_a():\n    pass\n"
           "def test_b():\n    pass\n")
    tree = ast.parse(src)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [i for d in funcs[0].decorator_list for i in _marker_ids(d)] == ["X-1"]
    assert [i for d in funcs[1].decorator_list for i in _marker_ids(d)] == []
