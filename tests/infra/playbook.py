"""Run a playbook of the repository against the lab with extra variables and report the
exit code, the output and the per-host change counts (the role-contract exercises)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.deploy import ansible_run

from .environment import ENV


def command(playbook: str, limit: str | None, vars_file: Path,
            args: tuple[str, ...] = ()) -> list[str]:
    """The ansible-playbook command line of `run` and `start`."""
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
            str(ansible_run.inventory_source(ENV)), str(paths.PLAYBOOKS / playbook),
            *(["--limit", limit] if limit else []), "-e", f"@{vars_file}", *args]


def run(playbook: str, limit: str | None, extra: dict[str, Any],
        timeout: int = 900, args: tuple[str, ...] = ()) -> tuple[int, str, dict[str, Any]]:
    """ansible-playbook PLAYBOOK [--limit LIMIT] -e EXTRA ARGS: its exit code, its output,
    and the per-host stats of the run (changed, failed, ...)."""
    with tempfile.TemporaryDirectory() as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra))
        changes = Path(tmp) / "changes.json"
        proc = subprocess.run(command(playbook, limit, vars_file, args), cwd=paths.REPO,
                              capture_output=True, text=True, check=False,
                              env=ansible_run.ansible_env({"MUNICLOUD_CHANGES_FILE": str(changes)}),
                              timeout=timeout)
        text = changes.read_text() if changes.exists() else ""
        stats = json.loads(text).get("stats", {}) if text.strip() else {}
    return proc.returncode, proc.stdout + proc.stderr, stats


@dataclass
class Killed:
    """What a converge killed midway had done: the tasks whose output it printed, the
    signal that ended it (negative return code) and its output up to then."""

    tasks: list[str]
    returncode: int
    output: str


def kill_after(playbook: str, limit: str | None, task: str, timeout: float = 600,
               extra: dict[str, Any] | None = None) -> Killed:
    """Start ansible-playbook like `run` and SIGKILL it (the whole process group: its
    forked workers too, as a crash of the controller would) as soon as the task after the
    first one whose header contains `task` begins (so `task` has run, and the handlers it
    notified have not), or when `timeout` seconds have passed."""
    with tempfile.TemporaryDirectory() as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra or {}))
        proc = subprocess.Popen(command(playbook, limit, vars_file), cwd=paths.REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=ansible_run.ansible_env({"PYTHONUNBUFFERED": "1"}),
                                start_new_session=True)
        assert proc.stdout is not None
        seen: list[str] = []
        lines: list[str] = []
        reached = False
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith(("TASK [", "RUNNING HANDLER [")):
                    if reached:
                        os.killpg(proc.pid, signal.SIGKILL)
                        break
                    seen.append(line.strip())
                    reached = task in line
        finally:
            timer.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.stdout.close()
            code = proc.wait(timeout=30)
    return Killed(seen, code, "".join(lines))
