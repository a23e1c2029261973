"""What the backup client on each host last did (its state file, read over SSH), as rows
for `municloud backup status`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from municloud.core import inventory, remote

STATE_FILE = "/var/lib/municloud-backup/state.json"


@dataclass(frozen=True)
class Row:
    host: str
    service: str
    last_success: str | None
    age_hours: float | None
    archives: int | None
    repo_bytes: int | None
    last_check: str | None
    drill: str
    error: str | None

    def stale(self, max_age_hours: float) -> bool:
        return self.age_hours is None or self.age_hours > max_age_hours


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def age_hours(value: str | None, now: dt.datetime) -> float | None:
    t = _parse_time(value)
    return None if t is None else round((now - t).total_seconds() / 3600, 2)


def rows_from_state(host: str, services: list[str], state: dict[str, Any] | None,
                    error: str | None, now: dt.datetime) -> list[Row]:
    """One row per service backed up on a host, from that host's state file."""
    if state is None:
        return [Row(host, s, None, None, None, None, None, "-", error or "no state file")
                for s in services]
    rows = []
    repo = state.get("repository") or {}
    for s in services:
        svc = (state.get("services") or {}).get(s, {})
        last = svc.get("last_success")
        drill = (state.get("drills") or {}).get(s)
        drill_text = "-" if not drill else (
            f"{'ok' if drill.get('ok') else 'FAILED'} {drill.get('at', '')}")
        rows.append(Row(host, s, last, age_hours(last, now), state.get("archives"),
                        repo.get("unique_csize"), state.get("last_check"), drill_text,
                        state.get("last_error")))
    return rows


def read_state(env: str, host: str, address: str) -> tuple[dict[str, Any] | None, str | None]:
    ssh = inventory.ssh_config_file(env)
    try:
        proc = (remote.run(host, ["cat", STATE_FILE], ssh, timeout=60) if ssh.exists()
                else remote.run(address, ["cat", STATE_FILE], timeout=60))
    except subprocess.TimeoutExpired:
        return None, "unreachable (timeout)"
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return None, f"state file not JSON: {exc}"
    return data, None
