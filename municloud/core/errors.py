"""Errors a user can act on: each names the file, the field, what is wrong and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """An error the CLI prints as one clear message (no traceback) before exiting non-zero."""

    exit_code = 1


class BadArgument(UserError):
    """A command-line value that cannot work (a path that cannot be written, ...): exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file."""

    file: str
    path: str
    problem: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.problem}"
        return f"{text} (allowed: {self.allowed})" if self.allowed else text


class InvalidInput(UserError):
    """One or more problems in input files; exit code 2, nothing was changed."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
