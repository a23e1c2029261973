"""The `municloud` command. Thin: parse arguments, call one function, print a summary.

Each feature module exposes `register(subparsers)`; add new ones to FEATURES.
Errors a user can act on (`UserError`) print one clear message and exit non-zero; the
exit codes are EXIT_CODES (also in `municloud --help` and the README).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata

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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="municloud",
        description="Stand up and run a municipality's private cloud from one topology.",
        epilog="exit codes: " + "; ".join(f"{c} {t}" for c, t in EXIT_CODES.items()),
    )
    p.add_argument("--version", action="version", version=f"municloud {version()}",
                   help="print municloud's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in FEATURES:
        importlib.import_module(name).register(sub)
    return p


def _closed_stdout() -> int:
    # Python would report the pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    print("municloud: standard output was closed before all was written", file=sys.stderr)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
