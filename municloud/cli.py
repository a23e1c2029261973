"""The `municloud` command. Thin: parse arguments, call one function, print a summary.

Each feature module exposes `register(subparsers)`; add new ones to FEATURES.
Errors a user can act on (`UserError`) print one clear message and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="municloud",
        description="Stand up and run a municipality's private cloud from one topology.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in FEATURES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UserError as exc:
        print(f"municloud: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("municloud: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
