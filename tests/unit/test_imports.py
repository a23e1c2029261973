"""Tests import domain modules, never a feature's CLI module (`municloud/<feature>/cli.py`
only parses arguments and prints; what a test checks lives in a domain module). A test of
a command runs it as a user does: the program's entry point `municloud.cli.main([...])`
or `python -m municloud.cli` in a subprocess."""

from __future__ import annotations

import ast

import pytest

from municloud.core import paths

pytestmark = pytest.mark.control("BASE-CAT-01")


def _cli(module: str) -> bool:
    return module.startswith("municloud.") and module.endswith(".cli") \
        and module != "municloud.cli"


def test_no_test_imports_a_cli_module() -> None:
    found = []
    for f in sorted(paths.TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found += [f"{f.relative_to(paths.REPO)}:{node.lineno}: {n}"
                      for n in names if _cli(n)]
    assert not found, "tests import CLI modules:\n" + "\n".join(found)
