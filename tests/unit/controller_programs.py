"""Which programs municloud runs on the controller, read from its own code.

Python (municloud/, the Python scripts in scripts/): every `subprocess.*` / `os.exec*`
call, `shutil.which(...)`, and the argv of the dataclasses that carry one (`argv` field:
lab daemons, devcloud processes). The argv is followed through local names, `list(...)`,
`+`, `*splat`, loops over literal tables, helper functions returning an argv, module
constants (also imported ones) and wrappers that pass a parameter on as the argv.
Shell (scripts/ bash scripts, .ci/run): the first word of every command.

A call whose program cannot be told is reported as such: the caller fails instead of
silently missing a program.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from municloud.core import paths

REPO = paths.REPO
SUBPROCESS = {"run", "Popen", "check_output", "check_call", "call"}
EXEC = {"execvp", "execv", "execvpe", "execlp", "execl"}
VENV = "<venv>"  # sys.executable and programs next to it (the .venv of scripts/bootstrap)


@dataclass(frozen=True)
class Call:
    program: str  # a command name, an absolute path, or "<venv>/NAME"
    file: str
    line: int


def python_files() -> list[Path]:
    files = sorted((REPO / "municloud").rglob("*.py"))
    return files + [p for p in sorted((REPO / "scripts").iterdir())
                    if p.is_file() and p.read_text().startswith("#!/usr/bin/env python")]


def shell_files() -> list[Path]:
    return [p for p in [*sorted((REPO / "scripts").iterdir()), REPO / ".ci" / "run"]
            if p.is_file() and p.read_text().startswith("#!/usr/bin/env bash")]


def _each(values: list[ast.expr] | None,
          resolve: Callable[[ast.expr], list[str] | None]) -> list[str] | None:
    """All programs the values resolve to; None when one of them cannot be told."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        got = resolve(v)
        if got is None:
            return None
        out += got
    return out


class _Module:
    def __init__(self, path: Path, constants: dict[str, ast.expr]) -> None:
        self.path = path
        self.shown = str(path.relative_to(REPO))
        self.tree = ast.parse(path.read_text())
        self.constants = constants
        self.functions = {f.name: f for f in ast.walk(self.tree)
                          if isinstance(f, ast.FunctionDef)}
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node

    def function_of(self, node: ast.AST) -> ast.FunctionDef | None:
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, ast.FunctionDef):
                return node
        return None


def _module_constants(files: list[Path]) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for f in files:
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
                found[node.targets[0].id] = node.value
    return found


class Reader:
    def __init__(self) -> None:
        files = python_files()
        constants = _module_constants(files)
        self.modules = [_Module(f, constants) for f in files]
        self.calls: list[Call] = []
        self.unknown: list[str] = []
        self.wrappers: dict[tuple[str, str], int] = {}  # (file, function) -> argv parameter
        self.argv_classes = self._argv_classes()

    # -- resolving an argv expression to its program names ----------------------------
    def program(self, m: _Module, node: ast.expr, scope: ast.FunctionDef | None,
                depth: int = 0) -> list[str] | None:
        """The program names an expression that is a program (argv[0]) may hold."""
        if depth > 8:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Attribute) and ast.unparse(node) == "sys.executable":
            return [f"{VENV}/python"]
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "str" and node.args:
            return self.program(m, node.args[0], scope, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and \
                isinstance(node.right, ast.Constant):  # Path(sys.executable).parent / "x"
            base, right = ast.unparse(node.left), str(node.right.value)
            if "sys.executable" in base or "bindir" in base or ".venv" in base:
                return [f"{VENV}/{right}"]
            if right.startswith(".venv/bin/"):
                return [f"{VENV}/{right.removeprefix('.venv/bin/')}"]
            return None
        if isinstance(node, ast.Name):
            return _each(self._values_of(m, node.id, scope),
                         lambda v: self.program(m, v, scope, depth + 1))
        return None

    def argv(self, m: _Module, node: ast.expr, scope: ast.FunctionDef | None,
             depth: int = 0) -> list[str] | None:
        """The programs an argv expression (a list of words) may start with."""
        if depth > 8:
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            if not node.elts:
                return None
            first = node.elts[0]
            if isinstance(first, ast.Starred):
                return self.argv(m, first.value, scope, depth + 1)
            return self.program(m, first, scope, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.argv(m, node.left, scope, depth + 1)
        if isinstance(node, ast.Call):
            fname = ast.unparse(node.func)
            if fname in ("list", "tuple") and node.args:
                return self.argv(m, node.args[0], scope, depth + 1)
            if fname in m.functions:  # a helper returning an argv
                fn = m.functions[fname]
                returns = [r.value for r in ast.walk(fn)
                           if isinstance(r, ast.Return) and r.value is not None]
                return _each(returns, lambda r: self.argv(m, r, fn, depth + 1)) or None
            return None
        if isinstance(node, ast.Attribute) and node.attr == "argv":
            return self._class_argvs(m)
        if isinstance(node, ast.Name):
            if scope is not None and node.id in [a.arg for a in scope.args.args]:
                self.wrappers[(m.shown, scope.name)] = [a.arg for a in scope.args.args].index(
                    node.id)
                return []  # the callers' argvs are read at their call sites
            return _each(self._values_of(m, node.id, scope),
                         lambda v: self.argv(m, v, scope, depth + 1))
        return None

    def _values_of(self, m: _Module, name: str,
                   scope: ast.FunctionDef | None) -> list[ast.expr] | None:
        """What a name is bound to: local assignments, loop targets over literal tables,
        module constants."""
        values: list[ast.expr] = []
        if scope is not None:
            for node in ast.walk(scope):
                assigned = (isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets)) or (
                    isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and node.target.id == name)
                if assigned and getattr(node, "value", None) is not None:
                    values.append(node.value)  # type: ignore[attr-defined]
                if isinstance(node, ast.For) and isinstance(node.target, ast.Name) \
                        and node.target.id == name:
                    values += self._loop_items(m, node.iter, scope) or []
            # An enclosing function's names (closures).
            outer = m.function_of(scope)
            if not values and outer is not None:
                return self._values_of(m, name, outer)
        if not values and name in m.constants:
            values.append(m.constants[name])
        return values or None

    def _loop_items(self, m: _Module, it: ast.expr,
                    scope: ast.FunctionDef) -> list[ast.expr] | None:
        if isinstance(it, ast.Subscript):  # chains[name]: every value of the table
            table = self._values_of(m, ast.unparse(it.value), scope) or []
            items: list[ast.expr] = []
            for t in table:
                if isinstance(t, ast.Dict):
                    for v in t.values:
                        items += v.elts if isinstance(v, (ast.List, ast.Tuple)) else [v]
            return items or None
        if isinstance(it, (ast.List, ast.Tuple)):
            return list(it.elts)
        return None

    def _argv_classes(self) -> dict[str, tuple[_Module, int]]:
        found: dict[str, tuple[_Module, int]] = {}
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.ClassDef):
                    fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                              and isinstance(s.target, ast.Name)]
                    if "argv" in fields:
                        found[node.name] = (m, fields.index("argv"))
        return found

    def _class_argvs(self, where: _Module) -> list[str] | None:
        """The argvs given to the argv-carrying classes of `where` (else of any module)."""
        own = {c for c, (m, _) in self.argv_classes.items() if m is where}
        classes = own or set(self.argv_classes)
        out: list[str] = []
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                        node.func.id in classes:
                    index = self.argv_classes[node.func.id][1]
                    arg = next((k.value for k in node.keywords if k.arg == "argv"), None)
                    if arg is None and len(node.args) > index:
                        arg = node.args[index]
                    if arg is None:
                        continue
                    got = self.argv(m, arg, m.function_of(node))
                    if got is None:
                        self.unknown.append(f"{m.shown}:{node.lineno}: {ast.unparse(arg)}")
                        continue
                    out += got
        return out

    # -- the walk ----------------------------------------------------------------------
    def read(self) -> None:
        for m in self.modules:
            for node in ast.walk(m.tree):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                owner, fn = ast.unparse(node.func.value), node.func.attr
                scope = m.function_of(node)
                if owner == "os" and fn in EXEC and node.args and \
                        isinstance(node.args[0], ast.Constant) and \
                        isinstance(node.args[0].value, str):  # os.execvp("ssh", argv)
                    self.calls.append(Call(node.args[0].value, m.shown, node.lineno))
                elif (owner == "subprocess" and fn in SUBPROCESS) or (owner == "os" and fn in EXEC):
                    arg = node.args[1] if owner == "os" and len(node.args) > 1 else (
                        node.args[0] if node.args else None)
                    self._record(m, node, arg, scope)
                elif owner == "shutil" and fn == "which" and node.args:
                    self._record_program(m, node, node.args[0], scope)
        # Wrappers: the argv their callers pass.
        for (shown, fname), index in list(self.wrappers.items()):
            for m in self.modules:
                for node in ast.walk(m.tree):
                    if isinstance(node, ast.Call) and len(node.args) > index and (
                            (isinstance(node.func, ast.Name) and node.func.id == fname
                             and m.shown == shown)
                            or (isinstance(node.func, ast.Attribute) and node.func.attr == fname
                                and Path(shown).stem == ast.unparse(node.func.value))):
                        self._record(m, node, node.args[index], m.function_of(node))

    def _record(self, m: _Module, node: ast.Call, arg: ast.expr | None,
                scope: ast.FunctionDef | None) -> None:
        got = None if arg is None else self.argv(m, arg, scope)
        if got is None:
            self.unknown.append(f"{m.shown}:{node.lineno}: {ast.unparse(node)[:80]}")
            return
        self.calls += [Call(p, m.shown, node.lineno) for p in got]

    def _record_program(self, m: _Module, node: ast.Call, arg: ast.expr,
                        scope: ast.FunctionDef | None) -> None:
        got = self.program(m, arg, scope)
        if got is None:
            # shutil.which over a table's keys (`for c in commands`): the table is read
            # where it is defined (artifacts.gpg.PACKAGES), not here.
            return
        self.calls += [Call(p, m.shown, node.lineno) for p in got]


# -- shell ---------------------------------------------------------------------------------
SHELL_WORDS = {"if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until",
               "case", "esac", "function", "{", "}", "!", "[", "[[", "]]", "]", "time",
               "exec"}  # `exec CMD`: CMD is the command
BUILTINS = {"echo", "printf", "cd", "set", "export", "local", "return", "exit", "true",
            "false", "shift", "read", "test", "source", ".", "trap", "wait", "declare", "unset",
            "eval", "command", "type", "readonly", "let", "break", "continue", "compgen", "kill",
            "stage"}


def _command_words(line: str) -> Iterator[str]:
    """The first word of each command on one line of bash (shlex: quotes, `;`, `|`, `&&`,
    `(`; command substitutions inside words are read too)."""
    line = re.sub(r"\d*[<>]&\d+", " ", line)  # a descriptor copied (`>&2`): no target
    line = re.sub(r"\d*[<>]+&?\d*", " > ", line)  # redirections: `2>/dev/null`, `> file`
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()>")
    lexer.wordchars += "+:@%,"
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: a continued string, no command
        return
    first, skip_for = True, 0
    for tok in tokens:
        for inner in re.findall(r"\$\(([^()]*)\)?", tok):
            yield from _command_words(inner)
        if tok == ">":
            skip_for = max(skip_for, 1)  # the redirection's target is no command
            continue
        if tok and set(tok) <= set(";&|()"):
            first = True
            continue
        if skip_for:
            skip_for -= 1
            continue
        if not first:
            continue
        if tok == "for":
            skip_for, first = 1, False  # for NAME in WORDS
            continue
        if tok in SHELL_WORDS or re.match(r"^\w+\+?=", tok):
            continue
        first = False
        if tok in BUILTINS or tok.startswith(("$", "-")) or tok.endswith("()"):
            continue
        if re.match(r"^[\w./+-]+$", tok):
            yield tok


def shell_calls() -> Iterator[Call]:
    """The first word of every command of the bash scripts (here-documents, arithmetic,
    one-line arrays, case patterns and calls of the script's own functions are not
    commands)."""
    for f in shell_files():
        shown = str(f.relative_to(REPO))
        in_array, heredoc = False, ""
        text = f.read_text().replace("\\\n", " ")  # continuation lines
        functions = set(re.findall(r"^\s*(\w+)\(\)\s*{", text, flags=re.M))
        for n, line in enumerate(text.splitlines(), 1):
            if heredoc:
                heredoc = "" if line.strip() == heredoc else heredoc
                continue
            if in_array:
                in_array = ")" not in line
                continue
            if re.match(r"^\s*\w+=\((?!.*\))", line):  # an array over several lines
                in_array = True
                continue
            if m := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):  # a here-document follows
                heredoc = m.group(1)
            line = re.sub(r"\$\(\(.*?\)\)", "0", line)  # arithmetic
            line = re.sub(r"\b\w+=\([^)]*\)", "", line)  # a one-line array
            line = re.sub(r"^\s*[^\s()]+\)\s", " ", line)  # a case pattern
            if re.match(r"^\s*\w+\(\)\s*{", line):  # a function: its body
                line = line.split("{", 1)[1].rsplit("}", 1)[0]
            yield from (Call(w, shown, n) for w in _command_words(line)
                        if w not in functions)


def all_calls() -> tuple[list[Call], list[str]]:
    r = Reader()
    r.read()
    return r.calls + list(shell_calls()), r.unknown
