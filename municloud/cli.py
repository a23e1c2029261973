"""The `municloud` command. Thin: parse arguments, call one function, print a summary.

Each feature module exposes `register(subparsers)`; add new ones to FEATURES and their
commands to COMMANDS: `municloud COMMAND ...` imports only the feature that registers
COMMAND (a shorter start-up), `municloud --help` and anything else registers them all.
`municloud completion bash|zsh|tcsh` prints a static completion script of all of them.
Errors a user can act on (`UserError`) print one clear message and exit non-zero; the
exit codes are EXIT_CODES (also in `municloud --help` and the README).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

from municloud.core.errors import UserError

FEATURES = (
    "municloud.core.cli",
    "municloud.devcloud.cli",
    "municloud.audit.cli",
    "municloud.lab.cli",
    "municloud.deploy.cli",
    "municloud.artifacts.cli",
    "municloud.backup.cli",
    "municloud.dns.cli",
    "municloud.diagram.cli",
)

# The feature that registers each command (tests/unit/test_cli_help.py checks the table).
COMMANDS = {
    "topology": "municloud.core.cli", "inventory": "municloud.core.cli",
    "devcloud": "municloud.devcloud.cli",
    "preflight": "municloud.audit.cli", "audit": "municloud.audit.cli",
    "lab": "municloud.lab.cli",
    "deploy": "municloud.deploy.cli", "verify": "municloud.deploy.cli",
    "run": "municloud.deploy.cli",
    "artifacts": "municloud.artifacts.cli",
    "backup": "municloud.backup.cli",
    "dns-records": "municloud.dns.cli",
    "diagram": "municloud.diagram.cli",
}
SHELLS = ("bash", "zsh", "tcsh")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "a check, test, audit or command failed (findings, failed controls)",
    EXIT_BAD_INPUT: "bad input: a wrong argument or file, named with what is allowed; "
                    "nothing was changed",
    3: "`artifacts status`: the mirror server is not running",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "standard output was closed early (e.g. `| head`)",
}


def version() -> str:
    try:
        return metadata.version("municloud")
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown (not installed)"


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: of every command, or of `command` alone where known."""
    p = argparse.ArgumentParser(
        prog="municloud",
        description="Stand up and run a municipality's private cloud from one topology.",
        epilog="exit codes: " + "; ".join(f"{c} {t}" for c, t in EXIT_CODES.items()),
    )
    p.add_argument("--version", action="version", version=f"municloud {version()}",
                   help="print municloud's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (COMMANDS[command],) if command in COMMANDS else FEATURES:
        importlib.import_module(name).register(sub)
    c = sub.add_parser("completion", help="print a shell completion script of every command",
                       description="Print a static completion script for municloud's "
                       "commands and options. bash: `municloud completion bash > "
                       "/etc/bash_completion.d/municloud` (or `source <(municloud "
                       "completion bash)` in ~/.bashrc).")
    c.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    c.set_defaults(func=completion)
    return p


def completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(completing(parser()), shell=args.shell), end="")
    return EXIT_OK


def completing(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser with what shtab completes beyond commands, options and choices: file
    and folder names for path arguments, and in bash an environment (a folder of the
    inventories holding a topology.yml, listed when TAB is pressed)."""
    import shtab

    from municloud.core import paths

    environments = {"bash": "_municloud_environments", "preamble": {"bash": f"""
_municloud_environments() {{
  local d=$MUNICLOUD_INVENTORIES t
  [[ -n $d ]] || d={shlex.quote(str(paths.inventories()))}
  for t in "$d"/*/topology.yml; do
    [[ -e $t ]] || continue
    t=${{t%/topology.yml}}
    [[ ${{t##*/}} == "$1"* ]] && printf '%s\\n' "${{t##*/}}"
  done
}}
"""}}
    for _, sub in walk(p):
        for action in sub._actions:
            if action.dest == "env" or str(action.metavar).startswith("ENV"):
                action.complete = environments  # type: ignore[attr-defined]
            elif action.type is Path:
                folder = action.dest in ("out", "dir", "to")
                action.complete = shtab.DIRECTORY if folder else shtab.FILE  # type: ignore[attr-defined]
    return p


def walk(p: argparse.ArgumentParser, path: str = "municloud") -> Iterator[
        tuple[str, argparse.ArgumentParser]]:
    """Every parser of the command tree with its command line (`municloud lab up`)."""
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (its first argument), if any."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _closed_stdout() -> int:
    # Python would report the pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    print("municloud: standard output was closed before all was written", file=sys.stderr)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parser(_command(given)).parse_args(given)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_stdout()
    except UserError as exc:
        print(f"municloud: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("municloud: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
