"""Fold the events of our Ansible callback (municloud_events) into a phase's progress.

On screen: the play running now (n/total plays, with a bar), the task running now with
its role and how many of the play's hosts have finished it (the bar: tasks of the play),
a line per finished play (hosts, tasks, changes, time), each failure in place (host,
role, task, the module's message, the log line), and the slowest tasks at the end.
Times come from the events, so a recorded event file replays to the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from municloud.progress.display import Fold, duration
from municloud.progress.runlog import RunLog

SLOWEST = 5


@dataclass
class Failure:
    host: str
    role: str
    task: str
    msg: str
    line: int | None
    unreachable: bool = False

    def describe(self, log: RunLog | None) -> str:
        what = "UNREACHABLE" if self.unreachable else "FAILED"
        head = f"{what} {self.host}" + (f"  role {self.role}" if self.role else "") + \
            f"  task {self.task!r}"
        msg = self.msg.strip() or "(no message)"
        lines = [head] + [f"    {ln}" for ln in msg.splitlines()[:8]]
        if log is not None:
            where = f"{log.path}:{self.line}" if self.line else str(log.path)
            lines.append(f"    log: {where}")
        return "\n".join(lines)


@dataclass
class _Task:
    title: str
    role: str
    name: str
    start: float
    hosts: set[str] = field(default_factory=set)
    end: float | None = None


@dataclass
class AnsibleProgress(Fold):
    plays_total: int = 0
    plays_done: int = 0
    play: str = ""
    play_start: float = 0.0
    play_hosts: list[str] = field(default_factory=list)
    play_tasks_total: int = 0
    play_tasks: int = 0
    play_changed: int = 0
    task: _Task | None = None
    tasks: list[_Task] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    start_line: int = 0
    empty_plays: int = 0

    def __post_init__(self) -> None:
        if self.log is not None:
            self.start_line = self.log.lines

    # events ---------------------------------------------------------------------------

    def feed(self, ev: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{ev.get('event', '')}", None)
        if handler is not None:
            handler(ev)

    def _on_playbook_start(self, ev: dict[str, Any]) -> None:
        self.plays_total += int(ev.get("plays") or 0)

    def _on_play_start(self, ev: dict[str, Any]) -> None:
        self._close_play(ev["t"])
        self.play = ev.get("play") or "(unnamed play)"
        self.play_start = ev["t"]
        self.play_hosts = list(ev.get("hosts") or [])
        self.play_tasks_total = int(ev.get("tasks") or 0)
        self.play_tasks = 0
        self.play_changed = 0
        self.plays_total = max(self.plays_total, self.plays_done + 1)
        self._show_play()
        n = len(self.play_hosts)
        self.phase.update(f"starting on {n} host{'s' if n != 1 else ''}", 0,
                          self.play_tasks_total or None, row="task", restart=True)

    def _on_task_start(self, ev: dict[str, Any]) -> None:
        self._close_task(ev["t"])
        self.task = _Task(ev.get("title", ""), ev.get("role", ""), ev.get("task", ""), ev["t"])
        self.play_tasks += 1
        self.play_tasks_total = max(self.play_tasks_total, self.play_tasks)
        self._show_task()

    def _host_done(self, ev: dict[str, Any]) -> None:
        if self.task is None:
            return
        self.task.hosts.add(ev["host"])
        if ev["host"] not in self.play_hosts:
            self.play_hosts.append(ev["host"])
        self._show_task()

    def _on_host_ok(self, ev: dict[str, Any]) -> None:
        self._host_done(ev)

    def _on_host_skipped(self, ev: dict[str, Any]) -> None:
        self._host_done(ev)

    def _on_host_changed(self, ev: dict[str, Any]) -> None:
        self.play_changed += 1
        self._host_done(ev)

    def _on_host_failed(self, ev: dict[str, Any]) -> None:
        self._host_done(ev)
        if not ev.get("ignored"):
            self._failure(ev, unreachable=False)

    def _on_host_unreachable(self, ev: dict[str, Any]) -> None:
        self._host_done(ev)
        self._failure(ev, unreachable=True)

    def _on_stats(self, ev: dict[str, Any]) -> None:
        self._close_play(ev["t"])
        self.stats = dict(ev.get("hosts") or {})

    # state and display --------------------------------------------------------------

    def _failure(self, ev: dict[str, Any], unreachable: bool) -> None:
        line = None
        if self.log is not None:
            line = self.log.failure_line(ev["host"], ev.get("title", ""), self.start_line)
        f = Failure(ev["host"], ev.get("role", ""), ev.get("task", ""), ev.get("msg", ""),
                    line, unreachable)
        self.failures.append(f)
        self.phase.note(f.describe(self.log))

    def _close_task(self, t: float) -> None:
        if self.task is not None and self.task.end is None:
            self.task.end = t
            self.tasks.append(self.task)

    def _close_play(self, t: float) -> None:
        self._close_task(t)
        self.task = None
        if not self.play:
            return
        self.plays_done += 1
        hosts = len(self.play_hosts)
        if self.play_tasks == 0:  # no host of this run (--limit): counted, not listed
            self.empty_plays += 1
            self.play = ""
            self._show_play()
            return
        self.phase.note(
            f"play {self.plays_done}/{self.plays_total} {self.play}: {hosts} "
            f"host{'s' if hosts != 1 else ''}, {self.play_tasks} tasks, "
            f"{self.play_changed} changed, {duration(t - self.play_start)}")
        self.play = ""
        self._show_play()

    def _show_play(self) -> None:
        now = f"play {self.plays_done + 1}/{self.plays_total} {self.play}" if self.play \
            else f"{self.plays_done}/{self.plays_total} plays"
        self.phase.update(now, self.plays_done, self.plays_total or None)

    def _show_task(self) -> None:
        if self.task is None:
            return
        label = f"{self.task.role} : {self.task.name}" if self.task.role else self.task.name
        hosts = len(self.play_hosts)
        self.phase.update(f"{label}  (hosts {len(self.task.hosts)}/{hosts})",
                          self.play_tasks - 1, self.play_tasks_total or None, row="task")

    # the end ----------------------------------------------------------------------

    def slowest(self, n: int = SLOWEST) -> list[tuple[float, str, int]]:
        """(seconds, task title, hosts) of the slowest tasks."""
        timed = [((t.end or t.start) - t.start, t.title, len(t.hosts)) for t in self.tasks]
        return sorted(timed, key=lambda x: -x[0])[:n]

    def finish(self) -> None:
        """Close what is still open and note the slowest tasks."""
        last = self.task.start if self.task is not None else self.play_start
        if self.play:
            self._close_play(last)
        if self.empty_plays:
            self.phase.note(f"{self.empty_plays} of {self.plays_total} plays had no host "
                            "in this run")
        slow = [s for s in self.slowest() if s[0] >= 0.05]
        if slow:
            self.phase.note("slowest tasks:\n" + "\n".join(
                f"  {duration(sec):>7}  {title} ({hosts} host{'s' if hosts != 1 else ''})"
                for sec, title, hosts in slow))
