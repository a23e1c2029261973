"""Fold the events of the verify plugin (municloud/deploy/verify_plugin.py) into a phase.

On screen: tests done out of those collected (a bar), how many failed, the test that
started last; each failure in place (test, host, controls, reason); at the end the
slowest tests and, for each failure, the line of its full report in the log. The plain
display gets a line at every tenth of the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from municloud.progress.display import Fold, duration

SLOWEST = 5


def short(nodeid: str) -> str:
    """tests/infra/test_mail.py::test_dkim[mail1] -> test_mail.py::test_dkim[mail1]"""
    path, _, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}::{rest}" if rest else nodeid


def section_title(nodeid: str) -> str:
    """The head line pytest prints over a failure's report: Class.test_name[param]."""
    return ".".join(nodeid.split("::")[1:]) or nodeid


@dataclass
class PytestProgress(Fold):
    total: int = 0
    done: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)
    durations: list[tuple[float, str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    _tenth: int = 0

    def __post_init__(self) -> None:
        self.phase.update("collecting tests")

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "collected":
            # Under xdist every worker's collection reports the same total: say it once.
            total = int(ev.get("total") or 0)
            if total > self.total:
                self.total = total
                self.phase.milestone(f"{self.total} tests collected")
        elif kind == "test_start":
            self.running.append(ev["test"])
        elif kind == "test_done":
            self._done(ev)
        else:
            return
        self._show()

    def _done(self, ev: dict[str, Any]) -> None:
        test = ev["test"]
        if test in self.running:
            self.running.remove(test)
        self.done += 1
        self.total = max(self.total, self.done)
        outcome = ev.get("outcome", "?")
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.durations.append((float(ev.get("duration") or 0.0), test))
        if outcome == "failed":
            self.failures.append(ev)
            controls = ", ".join(ev.get("controls") or []) or "no control"
            host = f" on {ev['host']}" if ev.get("host") else ""
            self.phase.note(f"FAILED {short(test)}{host} ({controls})\n"
                            f"    {ev.get('reason') or '(no message)'}")
        if self.total:
            tenth = self.done * 10 // self.total
            if tenth > self._tenth:
                self._tenth = tenth
                self.phase.milestone(self._counts())

    def _counts(self) -> str:
        failed = self.outcomes.get("failed", 0)
        skipped = self.outcomes.get("skipped", 0)
        return (f"{self.done}/{self.total or '?'} tests, {failed} failed"
                + (f", {skipped} skipped" if skipped else ""))

    def _show(self) -> None:
        now = f"  now: {short(self.running[-1])}" if self.running else ""
        self.phase.update(f"{self._counts()}{now}", self.done, self.total or None)

    def slowest(self, n: int = SLOWEST) -> list[tuple[float, str]]:
        return sorted(self.durations, key=lambda d: -d[0])[:n]

    def finish(self) -> None:
        slow = [s for s in self.slowest() if s[0] >= 0.05]
        if slow:
            self.phase.note("slowest tests:\n" + "\n".join(
                f"  {duration(sec):>7}  {short(test)}" for sec, test in slow))
        if self.failures and self.log is not None:
            lines = []
            for ev in self.failures:
                at = self.log.section_line(section_title(ev["test"]))
                lines.append(f"  {short(ev['test'])}: {self.log.path}"
                             + (f":{at}" if at else ""))
            self.phase.note("failure reports in the log:\n" + "\n".join(lines))
