"""What a person sees while `municloud` works: phases, their progress rows and notes.

Two displays with one interface:
- `LiveDisplay` (stdout is a terminal): rich's progress block, one row per active phase
  and one per sub-step (the Ansible task running now, the tests), each with a bar where
  the total is known and the elapsed time; notes (a finished play, a failure) are printed
  above the block and stay.
- `PlainDisplay` (not a terminal: CI, a pipe, a file): plain lines, one per phase start,
  note and end, no control characters at all.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from municloud.progress.runlog import RunLog

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """`text` without escape sequences or control characters (tabs and newlines stay)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m{s:02d}s"


class Phase:
    """One step of a command as shown: a title, an optional bar, sub-rows and notes."""

    def __init__(self, display: Display, title: str, depth: int) -> None:
        self.display = display
        self.title = title
        self.depth = depth
        self.start = time.monotonic()
        self.rows: dict[str, TaskID] = {}

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def update(self, text: str | None = None, done: int | None = None,
               total: int | None = None, *, row: str = "main", restart: bool = False) -> None:
        """Change a live row (the phase's own, or a sub-row such as the running task)."""
        self.display.update(self, row, text, done, total, restart)

    def note(self, text: str) -> None:
        """A line that stays: a finished play, a failure, the slowest items."""
        self.display.note(self, text)

    def milestone(self, text: str) -> None:
        """A line for the plain display only (the live one shows it in its bar)."""
        self.display.milestone(self, text)


@dataclass
class Fold:
    """What turns a tool's events into a phase's progress (ansible_events, pytest_events):
    the phase it updates and the log where the tool's full output goes, if any."""

    phase: Phase
    log: RunLog | None = None


class Display:
    def begin(self, phase: Phase) -> None:
        raise NotImplementedError

    def end(self, phase: Phase, ok: bool) -> None:
        raise NotImplementedError

    def update(self, phase: Phase, row: str, text: str | None, done: int | None,
               total: int | None, restart: bool) -> None:
        raise NotImplementedError

    def note(self, phase: Phase, text: str) -> None:
        raise NotImplementedError

    def milestone(self, phase: Phase, text: str) -> None:
        raise NotImplementedError

    def line(self, text: str, err: bool = False) -> None:
        raise NotImplementedError

    def raw(self, text: str) -> None:
        """A line of a tool's own output (`-v`)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class PlainDisplay(Display):
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out
        self.err = err

    def _print(self, text: str, err: bool = False) -> None:
        f = (self.err or sys.stderr) if err else (self.out or sys.stdout)
        f.write(plain(text) + "\n")
        f.flush()

    def begin(self, phase: Phase) -> None:
        self._print(f"{'  ' * phase.depth}==> {phase.title} ...")

    def end(self, phase: Phase, ok: bool) -> None:
        state = "done in" if ok else "FAILED after"
        self._print(f"{'  ' * phase.depth}<== {phase.title}: {state} {phase.elapsed:.1f}s")

    def update(self, phase: Phase, row: str, text: str | None, done: int | None,
               total: int | None, restart: bool) -> None:
        pass

    def note(self, phase: Phase, text: str) -> None:
        pad = "  " * phase.depth + "    "
        self._print("\n".join(pad + ln for ln in text.splitlines()))

    def milestone(self, phase: Phase, text: str) -> None:
        self.note(phase, f"[{duration(phase.elapsed)}] {text}")

    def line(self, text: str, err: bool = False) -> None:
        self._print(text, err)

    def raw(self, text: str) -> None:
        self._print(text.rstrip("\n"))


class _Count(TextColumn):
    """`done/total` where the total is known, `done` where it is not, nothing for none."""

    def __init__(self) -> None:
        super().__init__("{task.fields[count]}", markup=False)


class LiveDisplay(Display):
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            _Count(),
            TimeElapsedColumn(),
            console=self.console,
            refresh_per_second=4,
            transient=True,  # what stays is printed above it: finished phases, notes
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self.started = False

    def _ensure(self) -> None:
        if not self.started:
            self.progress.start()
            self.started = True

    def begin(self, phase: Phase) -> None:
        self._ensure()
        phase.rows["main"] = self.progress.add_task(
            "  " * phase.depth + phase.title, total=None, count="")

    def end(self, phase: Phase, ok: bool) -> None:
        for tid in phase.rows.values():
            self.progress.remove_task(tid)
        phase.rows.clear()
        mark, style = ("✓", "green") if ok else ("✗", "bold red")
        state = "" if ok else " FAILED after"
        self.console.print(Text.assemble(
            ("  " * phase.depth, ""), (mark, style), f" {phase.title}{state} ",
            (duration(phase.elapsed), "dim")))

    def update(self, phase: Phase, row: str, text: str | None, done: int | None,
               total: int | None, restart: bool) -> None:
        indent = "  " * (phase.depth + (0 if row == "main" else 1))
        if row not in phase.rows:
            phase.rows[row] = self.progress.add_task(indent, total=None, count="")
        tid = phase.rows[row]
        if restart:
            self.progress.reset(tid, total=total, completed=done or 0)
        count = "" if done is None else (f"{done}/{total}" if total else str(done))
        description = None
        if text is not None:
            description = indent + (f"{phase.title}: {text}" if row == "main" else text)
        self.progress.update(tid, total=total, completed=done or 0, description=description,
                             count=count)

    def note(self, phase: Phase, text: str) -> None:
        pad = "  " * phase.depth + "  "
        for ln in text.splitlines():
            style = "bold red" if ln.lstrip().startswith("FAILED") else ""
            self.console.print(Text(pad + ln, style=style), soft_wrap=True)

    def milestone(self, phase: Phase, text: str) -> None:
        pass

    def line(self, text: str, err: bool = False) -> None:
        # soft_wrap: long lines (the summary's tables) wrap as the terminal does, unchanged.
        self.console.print(Text(text), style="red" if err else "", soft_wrap=True)

    def raw(self, text: str) -> None:
        self.console.print(Text(text.rstrip("\n")), soft_wrap=True)

    def close(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False
