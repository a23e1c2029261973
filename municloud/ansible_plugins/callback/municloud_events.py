"""Ansible callback: one JSON line per playbook event, for municloud's progress display.

Enabled in ansible.cfg; writes only when MUNICLOUD_EVENTS_FILE is set (`municloud deploy`
sets it and reads the file as it grows: municloud/progress/ansible.py). The raw output
of the stdout callback is untouched: it goes to the run's log file.

Events (key `event`, with `t`: seconds since the epoch):
  playbook_start {playbook, plays}      plays: how many plays the playbook holds (imports
                                        are resolved when it loads)
  play_start     {play, hosts, tasks}   hosts: the hosts this play runs on (after --limit);
                                        tasks: the play's tasks known before it runs
                                        (dynamic includes add more)
  task_start     {task, role, title, handler}
  host_ok / host_changed / host_skipped {host, task, role}
  host_failed    {host, task, role, title, msg, ignored}
  host_unreachable {host, task, role, title, msg}
  stats          {hosts: {host: {ok, changed, failures, unreachable, skipped, ...}}}
Messages of tasks with `no_log` are never written.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: municloud_events
type: aggregate
short_description: Write playbook events as JSON lines for municloud's progress display
description:
  - Appends one JSON document per event (play, task, host result, stats) to the file named
    by the environment variable C(MUNICLOUD_EVENTS_FILE).
requirements: []
"""

HIDDEN = "(output hidden: the task has no_log)"
MSG_LIMIT = 600


def _count_tasks(blocks: list[Any]) -> int:
    """Tasks in compiled blocks (block/rescue/always), without Ansible's implicit meta tasks."""
    n = 0
    for b in blocks:
        for part in (getattr(b, "block", []), getattr(b, "always", [])):
            for t in part or []:
                if hasattr(t, "block"):
                    n += _count_tasks([t])
                elif getattr(t, "action", "") not in ("meta", "ansible.builtin.meta"):
                    n += 1
    return n


def _message(res: dict[str, Any]) -> str:
    """The module's message: msg, else stderr or stdout, else the first failed loop item's."""
    if res.get("_ansible_no_log") or res.get("censored"):
        return HIDDEN
    for key in ("msg", "stderr", "stdout", "reason"):
        val = res.get(key)
        if val:
            text = str(val).strip()
            if key == "msg" and text.startswith("One or more items failed"):
                break
            return text[-MSG_LIMIT:] if key in ("stderr", "stdout") else text[:MSG_LIMIT]
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            return f"item {item.get('item', '?')!s:.80}: {_message(item)}"
    return str(res.get("msg", ""))[:MSG_LIMIT]


class CallbackModule(CallbackBase):  # type: ignore[misc]
    """Appends each event as one JSON line and flushes it, so that a reader tailing the
    file sees a play, a task or a failure as it happens."""

    CALLBACK_NAME = "municloud_events"
    CALLBACK_TYPE = "aggregate"
    CALLBACK_VERSION = 2.0
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        target = os.environ.get("MUNICLOUD_EVENTS_FILE")
        self._out = open(target, "a", buffering=1) if target else None  # noqa: SIM115

    def _emit(self, event: str, **fields: Any) -> None:
        if self._out is None:
            return
        self._out.write(json.dumps({"event": event, "t": round(time.time(), 3), **fields},
                                   default=str) + "\n")
        self._out.flush()

    @staticmethod
    def _task_fields(task: Any) -> dict[str, str]:
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        name = (task.name or task.action or "").strip()
        return {"task": name, "role": role, "title": task.get_name().strip(),
                "action": task.action or ""}

    def _result(self, event: str, result: Any, **extra: Any) -> None:
        self._emit(event, host=result._host.get_name(), **self._task_fields(result._task),
                   **extra)

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._emit("playbook_start", playbook=os.path.basename(playbook._file_name),
                   plays=len(playbook.get_plays()))

    def v2_playbook_on_play_start(self, play: Any) -> None:
        hosts: list[str] = []
        tasks = 0
        try:
            inventory = play.get_variable_manager()._inventory
            hosts = [h.get_name() for h in inventory.get_hosts(play.hosts)]
        except Exception:
            hosts = []
        try:
            tasks = _count_tasks(play.compile())
        except Exception:
            tasks = 0
        self._emit("play_start", play=play.get_name().strip(), hosts=hosts, tasks=tasks)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._emit("task_start", handler=False, **self._task_fields(task))

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._emit("task_start", handler=True, **self._task_fields(task))

    def v2_runner_on_ok(self, result: Any) -> None:
        changed = bool(result._result.get("changed", False))
        self._result("host_changed" if changed else "host_ok", result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result("host_skipped", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result("host_failed", result, msg=_message(result._result),
                     ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result("host_unreachable", result, msg=_message(result._result))

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._emit("stats", hosts={h: stats.summarize(h) for h in sorted(stats.processed)})
        if self._out is not None:
            self._out.close()
            self._out = None
