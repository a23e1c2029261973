"""Run a playbook of the repository against the lab with extra variables and report the
exit code, the output and the per-host change counts (the role-contract exercises)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.deploy import ansible_run

from .environment import ENV


def run(playbook: str, limit: str | None, extra: dict[str, Any],
        timeout: int = 900, args: tuple[str, ...] = ()) -> tuple[int, str, dict[str, Any]]:
    """ansible-playbook PLAYBOOK [--limit LIMIT] -e EXTRA ARGS: its exit code, its output,
    and the per-host stats of the run (changed, failed, ...)."""
    with tempfile.TemporaryDirectory() as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra))
        changes = Path(tmp) / "changes.json"
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
               str(ansible_run.inventory_source(ENV)), str(paths.PLAYBOOKS / playbook),
               *(["--limit", limit] if limit else []), "-e", f"@{vars_file}", *args]
        proc = subprocess.run(cmd, cwd=paths.REPO, capture_output=True, text=True, check=False,
                              env=ansible_run.ansible_env({"MUNICLOUD_CHANGES_FILE": str(changes)}),
                              timeout=timeout)
        text = changes.read_text() if changes.exists() else ""
        stats = json.loads(text).get("stats", {}) if text.strip() else {}
    return proc.returncode, proc.stdout + proc.stderr, stats
