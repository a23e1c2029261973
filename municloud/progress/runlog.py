"""The log file of one `municloud` command: every line any tool printed, numbered.

While lines come in, it keeps the line numbers of Ansible's task headers and failure
lines and of pytest's failure sections, so that a failure shown on screen can say where
its full output is (`<log>:<line>`)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<title>.*)\](?: \[CHECK MODE\])? \*+$")
FAILURE = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]\s]+)")
PYTEST_SECTION = re.compile(r"^_{3,} (?P<title>.+?) _{3,}$")
_KEPT = 30  # log files kept per environment


@dataclass
class _Index:
    headers: list[tuple[int, str]] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)


class RunLog:
    """Append-only, line-numbered. Safe to write from a reader thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        self.path = path
        self._f = path.open("a", encoding="utf-8", errors="replace")
        path.chmod(0o600)
        self._lines = 0
        self._lock = threading.Lock()
        self._index = _Index()

    @property
    def lines(self) -> int:
        return self._lines

    def write(self, line: str) -> int:
        """Write one line (without its newline); return its number (1-based)."""
        line = line.rstrip("\r\n")
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()
            self._lines += 1
            n = self._lines
            if m := TASK_HEADER.match(line):
                self._index.headers.append((n, m["title"]))
            elif m := FAILURE.match(line):
                self._index.failures.append((n, m["host"]))
            elif m := PYTEST_SECTION.match(line):
                self._index.sections.append((n, m["title"]))
        return n

    def section(self, title: str) -> int:
        return self.write(f"==== {title} ({time.strftime('%Y-%m-%d %H:%M:%S')}) ====")

    def header_line(self, title: str, after: int) -> int | None:
        """The first task header named `title` after line `after`."""
        with self._lock:
            return next((n for n, t in self._index.headers if n > after and t == title), None)

    def failure_line(self, host: str, title: str, after: int = 0,
                     wait: float = 2.0) -> int | None:
        """The line where Ansible printed `host`'s failure of the task `title` (the first
        fatal/failed line for that host under the latest header of that task after line
        `after`).
        Waits up to `wait` seconds for the reader to catch up with the tool's output."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                found = self._failure_under(host, title, after)
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def _failure_under(self, host: str, title: str, after: int) -> int | None:
        headers = self._index.headers
        for i in reversed(range(len(headers))):  # the latest: the task that just ran
            n, t = headers[i]
            if n <= after or t != title:
                continue
            end = headers[i + 1][0] if i + 1 < len(headers) else None
            for ln, h in self._index.failures:
                if ln > n and (end is None or ln < end) and h == host:
                    return ln
        return None

    def section_line(self, title: str) -> int | None:
        """The last pytest failure section headed `title`."""
        with self._lock:
            return next((n for n, t in reversed(self._index.sections) if t == title), None)

    def close(self) -> None:
        with self._lock:
            self._f.close()


def log_path(env_state: Path, command: str) -> Path:
    """<state>/<env>/logs/<date>-<time>-<command>.log; keeps the newest few."""
    folder = env_state / "logs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{command}.log"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{command}-{n}.log"
    logs = sorted(folder.glob("*.log")) if folder.exists() else []
    if len(logs) >= _KEPT:
        for f in logs[:len(logs) - _KEPT + 1]:
            f.unlink(missing_ok=True)
            for ev in folder.glob(f"{f.stem}.*.events.jsonl"):
                ev.unlink(missing_ok=True)
    return path
