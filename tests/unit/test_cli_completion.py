"""Shell completion (issue 17, item 9) and the command table behind the short start-up:
`municloud completion bash` prints a script that, sourced in a real bash, completes every
command and subcommand, each command's options and the environments of the inventories;
`municloud COMMAND` registers only the feature of COMMAND, with the same arguments."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from municloud import cli


def _script(shell: str) -> str:
    run = subprocess.run([sys.executable, "-m", "municloud.cli", "completion", shell],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "municloud.bash"
    path.write_text(_script("bash"))
    return path


def _complete(script: Path, words: list[str], env: dict[str, str] | None = None) -> list[str]:
    """What bash offers when TAB is pressed after `words` (the last is being typed)."""
    line = " ".join(shlex.quote(w) for w in words)
    program = (f"source {shlex.quote(str(script))}\n"
               f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
               f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}\n'
               "COMPREPLY=(); _shtab_municloud\n"
               "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    run = subprocess.run(["bash", "--norc", "--noprofile", "-c", program],
                         capture_output=True, text=True, check=False, timeout=60,
                         env=env)
    assert run.returncode == 0 and not run.stderr, run.stderr
    return [w for w in run.stdout.splitlines() if w]


def _subcommands(p: argparse.ArgumentParser) -> list[str]:
    return [name for a in p._actions if isinstance(a, argparse._SubParsersAction)
            for name in a.choices]


def test_bash_completes_every_command_and_subcommand(bash_script: Path) -> None:
    tree = list(cli.walk(cli.parser()))
    with_subcommands = [(path, p) for path, p in tree if _subcommands(p)]
    assert len(with_subcommands) >= 5  # municloud, topology, lab, devcloud, artifacts, ...
    for path, p in with_subcommands:
        offered = _complete(bash_script, [*path.split(), ""])
        assert sorted(offered) == sorted(_subcommands(p)), path
    assert "dns-records" in _complete(bash_script, ["municloud", "dn"])


def test_bash_completes_the_options_of_a_command(bash_script: Path) -> None:
    for path, p in cli.walk(cli.parser()):
        if path in ("municloud deploy", "municloud audit", "municloud artifacts fetch"):
            options = {o for a in p._actions for o in a.option_strings if o.startswith("--")}
            assert set(_complete(bash_script, [*path.split(), "--"])) == options, path


def test_bash_completes_the_environments_of_the_inventories(bash_script: Path,
                                                            tmp_path: Path) -> None:
    for name in ("lab", "heraklion-prod", "staging"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "topology.yml").write_text("environment: x\n")
    (tmp_path / "notes").mkdir()  # no topology: not an environment
    env = {"PATH": "/usr/bin:/bin", "MUNICLOUD_INVENTORIES": str(tmp_path)}
    assert sorted(_complete(bash_script, ["municloud", "topology", "check", ""], env)) == [
        "heraklion-prod", "lab", "staging"]
    assert _complete(bash_script, ["municloud", "lab", "--env", "he"], env) == [
        "heraklion-prod"]
    assert _complete(bash_script, ["municloud", "deploy", "s"], env) == ["staging"]
    # Without the variable: the repository's own inventories.
    offered = _complete(bash_script, ["municloud", "verify", ""], {"PATH": "/usr/bin:/bin"})
    assert {"lab", "production", "staging"} <= set(offered)


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_other_shells_get_a_script_naming_every_command(shell: str) -> None:
    text = _script(shell)
    assert all(name in text for name in _subcommands(cli.parser()))


def test_an_unknown_shell_is_bad_input() -> None:
    run = subprocess.run([sys.executable, "-m", "municloud.cli", "completion", "fish2"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 2 and "invalid choice: 'fish2'" in run.stderr


def test_the_command_table_names_the_feature_that_registers_each_command() -> None:
    full = cli.parser()
    commands = [c for c in _subcommands(full) if c != "completion"]
    assert sorted(cli.COMMANDS) == sorted(commands)
    assert sorted(set(cli.COMMANDS.values())) == sorted(cli.FEATURES)
    full_help = {path: p.format_help() for path, p in cli.walk(full)}
    for command in commands:
        alone = dict(cli.walk(cli.parser(command)))
        registered = _subcommands(alone["municloud"])
        assert command in registered and len(registered) < len(commands), registered
        for path, p in alone.items():
            if path.startswith(f"municloud {command}"):
                assert p.format_help() == full_help[path], path


def test_a_command_imports_only_its_own_feature() -> None:
    probe = ("import sys; from municloud import cli; cli.parser('topology'); "
             "print(sorted(m for m in sys.modules if m.startswith('municloud.') and "
             "m.endswith('.cli')))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=False, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['municloud.cli', 'municloud.core.cli']"
    # Everything else still sees every command.
    assert all(importlib.util.find_spec(m) for m in cli.FEATURES)
    assert cli._command(["--help"]) is None and cli._command([]) is None
    assert cli._command(["lab", "up"]) == "lab"
