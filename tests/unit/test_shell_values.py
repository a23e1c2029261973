"""No value reaches a shell unquoted (issue 17, item 2).

Where a shell reads what municloud builds: the remote command of `ssh` (the remote login
shell parses it), Ansible's `shell`/`raw` tasks, `command` tasks given a string (split
into words: a value with a space becomes two arguments), the `command="..."` of an
authorized_keys line (sshd hands it to the shell) and templates of shell scripts. Each
such place must quote every value (`shlex.quote`, Ansible's `quote`) or not take one.
The checks read the code itself, so a new place is checked as soon as it is written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import paths

REPO = paths.REPO
JINJA = re.compile(r"{{(.*?)}}", re.S)
QUOTED = re.compile(r"\|\s*quote\s*$")
# A Jinja expression that yields only a literal ('--append-only' or '').
LITERAL_CHOICE = re.compile(r"^\s*'[^'{}$`;|&]*'\s+if\s+[\w.]+\s+else\s+''\s*$")
COMMAND_MODULES = ("ansible.builtin.command", "command")
SHELL_MODULES = ("ansible.builtin.shell", "shell", "ansible.builtin.raw", "raw")
SHELL_SHEBANG = re.compile(r"^#!\s*/(usr/)?bin/(env\s+)?(ba|da|z)?sh\b")


def _yaml_files() -> list[Path]:
    files = sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("roles/*/handlers/*.yml"))
    return files + sorted(REPO.glob("playbooks/*.yml"))


def _tasks(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always", "tasks", "handlers", "pre_tasks",
                    "post_tasks"):
            if key in node:
                yield from _tasks(node[key])


def _ansible_problems() -> list[str]:
    problems: list[str] = []
    for f in _yaml_files():
        for task in _tasks(yaml.safe_load(f.read_text())):
            where = f"{f.relative_to(REPO)}: {task.get('name', '?')}"
            for module in COMMAND_MODULES:
                arg = task.get(module)
                text = arg if isinstance(arg, str) else (arg or {}).get("cmd") \
                    if isinstance(arg, dict) else None
                if isinstance(text, str) and "{{" in text:
                    problems.append(f"{where}: `{module}` with a templated string; use argv")
            for module in SHELL_MODULES:
                arg = task.get(module)
                text = arg if isinstance(arg, str) else (arg or {}).get("cmd") \
                    if isinstance(arg, dict) else None
                for expr in JINJA.findall(text or ""):
                    if not QUOTED.search(expr):
                        problems.append(f"{where}: `{module}` takes {{{{{expr}}}}} unquoted")
    return problems


def _template_problems() -> list[str]:
    problems: list[str] = []
    for f in sorted(REPO.glob("roles/*/templates/**/*.j2")):
        text = f.read_text()
        shown = f.relative_to(REPO)
        # authorized_keys forced commands run in the login shell.
        for cmd in re.findall(r'command="([^"]*)"', text):
            problems += [f"{shown}: command=\"...\" takes {{{{{e}}}}} unquoted"
                         for e in JINJA.findall(cmd)
                         if not QUOTED.search(e) and not LITERAL_CHOICE.match(e)]
        # Shell scripts, and `sh -c` in systemd units.
        lines = text.splitlines() if SHELL_SHEBANG.match(text) else [
            ln for ln in text.splitlines() if re.search(r"\bsh\s+-c\b", ln)]
        for ln in lines:
            problems += [f"{shown}: shell line takes {{{{{e}}}}} unquoted: {ln.strip()}"
                         for e in JINJA.findall(ln) if not QUOTED.search(e)]
    return problems


def _python_files() -> list[Path]:
    files = sorted((REPO / "municloud").rglob("*.py"))
    return files + [p for p in sorted((REPO / "scripts").iterdir())
                    if p.is_file() and p.read_text().startswith("#!/usr/bin/env python")]


def _safe_value(v: ast.expr) -> bool:
    """A formatted value that is quoted, or a module constant (UPPER_CASE)."""
    if isinstance(v, ast.Call):
        f = v.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        return name == "quote"
    return isinstance(v, ast.Name) and v.id.isupper()


def _unquoted(node: ast.expr) -> list[str]:
    if isinstance(node, ast.JoinedStr):
        return [ast.unparse(v.value) for v in node.values
                if isinstance(v, ast.FormattedValue) and not _safe_value(v.value)]
    if isinstance(node, ast.BinOp):  # "..." + x
        return [ast.unparse(node)]
    return []


SSH_OPTIONS_WITH_VALUE = frozenset({"-B", "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J",
                                    "-L", "-l", "-m", "-O", "-o", "-p", "-Q", "-R", "-S", "-W",
                                    "-w"})


def _remote_words(args: list[ast.expr]) -> list[ast.expr]:
    """The words of an ssh argv after the destination: the remote command."""
    i = 0
    while i < len(args):
        a = args[i]
        text = a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
        if text == "--":
            return args[i + 2:]
        if text is None or not text.startswith("-"):
            return args[i + 1:]
        i += 2 if text in SSH_OPTIONS_WITH_VALUE else 1
    return []


def _ssh_problems() -> list[str]:
    problems: list[str] = []
    for f in _python_files():
        tree = ast.parse(f.read_text())
        shown = f.relative_to(REPO)
        relays: dict[str, int] = {}  # functions that put a parameter into an ssh command
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for node in ast.walk(fn):
                if isinstance(node, ast.List) and node.elts and \
                        isinstance(node.elts[0], ast.Constant) and node.elts[0].value == "ssh":
                    for el in _remote_words(node.elts[1:]):
                        problems += [f"{shown}:{node.lineno}: ssh command takes {{{v}}} "
                                     "unquoted" for v in _unquoted(el)]
                    last = node.elts[-1]
                    if isinstance(last, ast.Name) and last.id in params:
                        relays[fn.name] = params.index(last.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in relays and len(node.args) > relays[node.func.id]:
                arg = node.args[relays[node.func.id]]
                problems += [f"{shown}:{node.lineno}: {node.func.id}() runs {{{v}}} over ssh "
                             "unquoted" for v in _unquoted(arg)]
    return problems


@pytest.mark.parametrize("check", [_ansible_problems, _template_problems, _ssh_problems],
                         ids=["ansible-tasks", "templates", "ssh-commands"])
def test_no_value_reaches_a_shell_unquoted(check: Any) -> None:
    assert check() == []


def test_the_checks_see_what_they_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check fails on the mistake it guards (a copy of the tree with one planted)."""
    root = tmp_path / "repo"
    (root / "roles/x/tasks").mkdir(parents=True)
    (root / "roles/x/templates").mkdir(parents=True)
    (root / "municloud").mkdir()
    (root / "scripts").mkdir()
    (root / "roles/x/tasks/main.yml").write_text(
        "- name: Free-form command\n  ansible.builtin.command: nft list table {{ t }}\n"
        "- name: Shell\n  ansible.builtin.shell: echo {{ a | quote }} {{ b }}\n")
    (root / "roles/x/templates/authorized_keys.j2").write_text(
        'command="borg serve --restrict-to-repository {{ repo }}",restrict key\n')
    (root / "roles/x/templates/run.sh.j2").write_text("#!/bin/sh\nrm -rf {{ dir }}\n")
    (root / "municloud/m.py").write_text(
        "import subprocess\n"
        "def read(host, path):\n"
        "    subprocess.run(['ssh', host, f'cat {path}'])\n"
        "def remote(host, cmd):\n"
        "    subprocess.run(['ssh', host, cmd])\n"
        "def main(svc):\n"
        "    remote('h', f'drill --service {svc}')\n")
    monkeypatch.setattr(paths, "REPO", root)
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", root)
    assert len(_ansible_problems()) == 2
    assert len(_template_problems()) == 2
    assert [p.split(": ", 1)[1] for p in _ssh_problems()] == [
        "ssh command takes {path} unquoted", "remote() runs {svc} over ssh unquoted"]
