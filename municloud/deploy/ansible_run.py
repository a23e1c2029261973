"""Running ansible-playbook for an environment and reading what it changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.core.errors import UserError
from municloud.progress import session
from municloud.progress.ansible_events import AnsibleProgress


@dataclass
class PlayResult:
    returncode: int
    changed: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed_count(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())


def inventory_source(env: str) -> Path:
    return paths.inventories() / env / "municloud.yml"


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(paths.REPO / "ansible.cfg")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.update(extra or {})
    return env


def run_playbook(env: str, playbook: str, *, check: bool = False, limit: str | None = None,
                 extra_args: list[str] | None = None, quiet: bool = False,
                 ansible_cfg: Path | None = None, output: Path | None = None,
                 events: Path | None = None) -> PlayResult:
    book = paths.PLAYBOOKS / playbook
    if not book.exists():
        raise UserError(f"no playbook {book.relative_to(paths.REPO)}")
    sess = session.current()
    with tempfile.NamedTemporaryFile(prefix="municloud-changes-", suffix=".json") as tmp:
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"),
               "-i", str(inventory_source(env)), str(book)]
        if check:
            cmd += ["--check", "--diff"]
        if limit:
            cmd += ["--limit", limit]
        cmd += extra_args or []
        extra = {"MUNICLOUD_CHANGES_FILE": tmp.name}
        if events is not None:  # the event stream kept for a reader (e.g. a benchmark)
            extra["MUNICLOUD_EVENTS_FILE"] = str(events)
        if ansible_cfg is not None:
            extra["ANSIBLE_CONFIG"] = str(ansible_cfg)
        if output is not None:  # the whole output to a file (e.g. a -vvv run searched later)
            with output.open("w") as log:
                returncode = subprocess.run(cmd, cwd=paths.REPO, env=ansible_env(extra),
                                            check=False, stdout=log,
                                            stderr=subprocess.STDOUT).returncode
        elif sess is not None and sess.phase is not None and not quiet:
            # Inside a command's progress session: output to its log, progress on screen.
            events = sess.events_file(f"ansible-{book.stem}")
            extra["MUNICLOUD_EVENTS_FILE"] = str(events)
            fold = AnsibleProgress(sess.phase, sess.log)
            returncode = sess.run(cmd, cwd=paths.REPO, env=ansible_env(extra),
                                  events=events, on_event=fold.feed)
            fold.finish()
        else:
            returncode = subprocess.run(cmd, cwd=paths.REPO, env=ansible_env(extra),
                                        check=False,
                                        stdout=subprocess.DEVNULL if quiet else None).returncode
        data: dict[str, Any] = {}
        text = Path(tmp.name).read_text()
        if text.strip():
            data = json.loads(text)
    return PlayResult(returncode, data.get("changed", []), data.get("failed", []),
                      data.get("stats", {}))
