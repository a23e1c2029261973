"""`municloud` conventions (issue 17, item 9): every subcommand and every argument says
what it is for; `--version`; the exit codes are documented where users look."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata

import pytest

from municloud import cli
from municloud.core import paths


def _missing_help() -> list[str]:
    missing: list[str] = []
    for path, p in cli.walk(cli.parser()):
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                missing += [f"{path} {name}" for name in action.choices
                            if not helps.get(name)]
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_subcommand_and_argument_has_a_help_line() -> None:
    assert _missing_help() == []


def test_the_walk_sees_a_missing_help(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli.parser

    def with_a_gap() -> argparse.ArgumentParser:
        p = real()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["topology"].add_argument("--undocumented")
        sub.add_parser("mystery").add_argument("thing")
        return p

    before = set(_missing_help())
    monkeypatch.setattr(cli, "parser", with_a_gap)
    assert set(_missing_help()) - before == {"municloud mystery", "municloud mystery thing",
                                             "municloud topology --undocumented"}


def test_version_comes_from_the_package_metadata() -> None:
    run = subprocess.run([sys.executable, "-m", "municloud.cli", "--version"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0
    assert run.stdout.strip() == f"municloud {metadata.version('municloud')}"


def test_exit_codes_are_documented_in_the_readme_and_help() -> None:
    readme = (paths.REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|$", readme, re.M))
    assert set(map(int, table)) == set(cli.EXIT_CODES), table
    epilog = cli.parser().epilog or ""
    assert all(f"{code} " in epilog for code in cli.EXIT_CODES)
