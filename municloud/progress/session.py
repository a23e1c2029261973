"""One `municloud` command's progress session: its log file, its display, its runner.

    with session.start(env, "deploy", verbose=args.verbose):
        ...  # console.step / console.info go through the session's display

Inside a session, `run` starts a tool (ansible-playbook, pytest) with its whole output
going, line by line, to the log file (and to the terminal with `-v`), while the JSON
events the tool writes to a file are read as they arrive and handed to a fold
(`ansible_events`, `pytest_events`) that updates the phase on screen.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.progress.display import Display, LiveDisplay, Phase, PlainDisplay
from municloud.progress.runlog import RunLog, log_path

Event = dict[str, Any]
POLL = 0.2  # seconds between reads of the events file

_current: Session | None = None


class Session:
    def __init__(self, log: RunLog, display: Display, verbose: bool) -> None:
        self.log = log
        self.display = display
        self.verbose = verbose
        self.phases: list[Phase] = []
        self._events = 0

    @property
    def phase(self) -> Phase | None:
        return self.phases[-1] if self.phases else None

    @contextmanager
    def step(self, title: str) -> Iterator[Phase]:
        phase = Phase(self.display, title, len(self.phases))
        self.phases.append(phase)
        self.log.section(f"begin: {title}")
        self.display.begin(phase)
        ok = False
        try:
            yield phase
            ok = True
        finally:
            self.phases.pop()
            self.log.section(f"{'end' if ok else 'FAILED'}: {title} "
                             f"after {phase.elapsed:.1f}s")
            self.display.end(phase, ok)

    def info(self, text: str, err: bool = False) -> None:
        for ln in text.splitlines() or [""]:
            self.log.write(ln)
        self.display.line(text, err)

    def events_file(self, name: str) -> Path:
        self._events += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "events"
        path = self.log.path.with_name(f"{self.log.path.stem}.{self._events:02d}-{slug}"
                                       ".events.jsonl")
        path.touch(mode=0o600)
        return path

    def run(self, cmd: list[str], *, cwd: Path, env: dict[str, str],
            events: Path | None = None, on_event: Callable[[Event], None] | None = None,
            timeout: float | None = None) -> int:
        """Run `cmd`: its output to the log (and the terminal with -v), its events (JSON
        lines appended to `events`) to `on_event` as they come. Returns the exit code."""
        self.log.write(f"$ {shlex.join(cmd)}")
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", bufsize=1)
        reader = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        reader.start()
        tail = _Tail(events) if events is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
                    self.log.write(f"municloud: killed after {timeout:.0f}s")
                    break
                if tail is not None and on_event is not None:
                    for ev in tail.read():
                        on_event(ev)
                time.sleep(POLL)
            proc.wait()
            reader.join(timeout=30)
            if tail is not None and on_event is not None:
                for ev in tail.read():
                    on_event(ev)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        self.log.write(f"$ exit {proc.returncode}")
        return proc.returncode

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.write(line)
            if self.verbose:
                self.display.raw(line)


class _Tail:
    """The complete JSON lines appended to a file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.partial = ""

    def read(self) -> list[Event]:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as f:
                f.seek(self.pos)
                chunk = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()
        out: list[Event] = []
        for ln in lines:
            if ln.strip():
                try:
                    out.append(json.loads(ln))
                except json.JSONDecodeError:
                    continue
        return out


def current() -> Session | None:
    return _current


def is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


@contextmanager
def start(env: str, command: str, *, verbose: bool = False,
          display: Display | None = None) -> Iterator[Session]:
    """The session of one command; prints where its log is. Nested calls (a command run
    inside another, e.g. `run` converging) reuse the outer session."""
    global _current
    if _current is not None:
        yield _current
        return
    log = RunLog(log_path(paths.env_state(env), command))
    if display is None:
        display = PlainDisplay() if verbose or not is_terminal() else LiveDisplay()
    sess = Session(log, display, verbose)
    _current = sess
    try:
        sess.info(f"log: {log.path}")
        yield sess
    except BaseException as exc:
        log.write(f"municloud: {type(exc).__name__}: {exc}")
        raise
    finally:
        _current = None
        display.close()
        log.close()
