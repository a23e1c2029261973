"""Ansible callback: record every changed and failed task to a JSON file.

Enabled in ansible.cfg; writes only when MUNICLOUD_CHANGES_FILE is set. `municloud deploy`
reads it for the idempotency gate ("NOT IDEMPOTENT" lists the tasks that changed);
`municloud audit` shows a changed task's diff (--diff runs) as drift evidence. A task with
no_log has its result censored by Ansible before it reaches here: no diff, no message.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DIFF_LIMIT = 4000

DOCUMENTATION = r"""
name: municloud_changes
type: aggregate
short_description: Record changed and failed tasks for municloud's idempotency gate
description:
  - Writes a JSON document with the changed and failed tasks and per-host stats to the
    file named by the environment variable C(MUNICLOUD_CHANGES_FILE).
requirements: []
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "municloud_changes"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.changed: list[dict[str, str]] = []
        self.failed: list[dict[str, str]] = []

    def _diff(self, result: Any) -> str:
        diff = result._result.get("diff")
        if not diff:
            return ""
        try:
            return str(self._get_diff(diff))[:DIFF_LIMIT]
        except Exception:  # a module's odd diff shape must not break the run
            return ""

    def _record(self, into: list[dict[str, str]], result: Any) -> None:
        task = result._task
        into.append({
            "host": result._host.get_name(),
            "task": task.get_name(),
            "role": task._role.get_name() if task._role else "",
            "path": task.get_path() or "",
            "msg": str(result._result.get("msg", ""))[:500] if into is self.failed else "",
            "diff": self._diff(result) if into is self.changed else "",
        })

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._result.get("changed", False):
            self._record(self.changed, result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self._record(self.failed, result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(self.failed, result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        target = os.environ.get("MUNICLOUD_CHANGES_FILE")
        if not target:
            return
        hosts = sorted(stats.processed.keys())
        doc = {
            "changed": self.changed,
            "failed": self.failed,
            "stats": {h: stats.summarize(h) for h in hosts},
        }
        with open(target, "w") as f:
            json.dump(doc, f, indent=1)
