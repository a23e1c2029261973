"""A verify run started inside a test (the audit breakage test's own state checks of a
host it broke on purpose) writes no progress events into the outer run's events file:
seen in a fresh-machine run, where the outer run's progress counted the nested run's
four deliberate failures."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from municloud.deploy import verify


def test_a_nested_run_reports_no_progress_to_the_outer_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICLOUD_VERIFY_EVENTS", str(tmp_path / "outer.events.jsonl"))
    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path))
    seen: dict[str, str] = {}

    def fake_run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kw["env"])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    code, results = verify._pytest("lab", ["-k", "backup1"], quiet=True)
    assert (code, results) == (0, [])
    assert "MUNICLOUD_VERIFY_REPORT" in seen
    assert "MUNICLOUD_VERIFY_EVENTS" not in seen
