"""`municloud run` ends by writing the compliance report and printing its path (issue 14).

`municloud run lab` runs through the program's entry point with its whole-estate phases
injected (lab up, the converge's ansible-playbook, the two pytest phases of `verify
--all`, the service summary read over SSH) against a state directory in tmp_path;
everything after them is the real code: verify's records, the report built from those
records alone (no second run of the checks, no check-mode run), the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from municloud import cli
from municloud.audit import collect
from municloud.audit.report_model import LayerInfo
from municloud.deploy import ansible_run, summary, verify
from municloud.lab import lifecycle

STATE_TEST = "tests/infra/baseline/test_ssh.py::test_sshd_settings[db1]"
DRIFT_TEST = "tests/infra/baseline/test_drift.py::test_check_mode_reports_no_change"


def _rec(test: str, outcome: str, control: str, reason: str = "") -> dict[str, Any]:
    return {"test": test, "outcome": outcome, "controls": [control], "host": "db1",
            "reason": reason, "check": "what it checks", "excerpt": reason,
            "when": collect.now(), "seconds": 0.3}


@pytest.fixture
def main_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The main job with its phases injected; `calls` records what ran, in order."""
    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path))
    (tmp_path / "lab" / "ssh").mkdir(parents=True)
    (tmp_path / "lab" / "ssh" / "config").write_text("# the lab's SSH config\n")
    job: dict[str, Any] = {"calls": [], "state_outcome": "passed"}

    def pytest_phase(env: str, args: list[str], quiet: bool,
                     label: str = "tests") -> tuple[int, list[dict[str, Any]]]:
        job["calls"].append(f"pytest {label}")
        if "exercises" in label:
            return 0, [_rec(DRIFT_TEST, "passed", "BASE-IDEM-01")]
        failed = job["state_outcome"] == "failed"
        return (1 if failed else 0), [_rec(STATE_TEST, job["state_outcome"], "BASE-SSH-01",
                                           "PasswordAuthentication yes" if failed else "")]

    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError("the report of `municloud run` must reuse verify's records")

    def unit_layer(env: str, commit: str) -> collect.Gathered:
        job["calls"].append("unit layer")
        g = collect.Gathered()
        g.layers.append(LayerInfo(layer="unit", state="ran", seconds=0.0, detail="injected"))
        return g

    monkeypatch.setattr(lifecycle, "up", lambda topo: job["calls"].append("lab up"))
    def converge(env: str, book: str, **kw: object) -> ansible_run.PlayResult:
        assert book == "site.yml" and not kw.get("check")
        job["calls"].append("converge")
        return ansible_run.PlayResult(0, stats={"db1": {"ok": 1, "changed": 0}})

    monkeypatch.setattr(ansible_run, "run_playbook", converge)
    monkeypatch.setattr(verify, "_pytest", pytest_phase)
    monkeypatch.setattr(summary, "service_rows", lambda topo: [("db1", "db", "deployed", "")])
    monkeypatch.setattr(summary, "urls", lambda topo: [])
    monkeypatch.setattr(collect, "unit", unit_layer)
    monkeypatch.setattr(collect, "hosts", forbidden)
    monkeypatch.setattr(collect, "drift", forbidden)
    job["report_dir"] = tmp_path / "lab" / "audit"
    return job


def _run() -> int:
    return cli.main(["run", "lab"])


def test_run_ends_by_writing_the_report_and_printing_its_path(
        main_job: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run() == 0
    html = main_job["report_dir"] / "report.html"
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert any(str(html) in ln for ln in lines[-3:]), lines[-5:]
    for name in ("report.html", "report.json", "report.junit.xml"):
        assert (main_job["report_dir"] / name).stat().st_size > 0, name
    # Verify ran once (state checks, then exercises and drills); the report read its records.
    assert main_job["calls"] == ["lab up", "converge", "pytest state checks (6 workers)",
                                 "pytest exercises and drills, one at a time", "unit layer"]
    report = json.loads((main_job["report_dir"] / "report.json").read_text())
    by_id = {c["id"]: c for c in report["controls"]}
    assert by_id["BASE-SSH-01"]["status"] == "pass"
    assert by_id["BASE-IDEM-01"]["status"] == "pass"
    assert all("(last record)" in e["check"] for e in by_id["BASE-IDEM-01"]["evidence"])


def test_a_failed_verification_is_in_the_report_and_fails_the_run(
        main_job: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    main_job["state_outcome"] = "failed"
    assert _run() == 1
    out = capsys.readouterr().out
    assert str(main_job["report_dir"] / "report.html") in out
    report = json.loads((main_job["report_dir"] / "report.json").read_text())
    ssh = next(c for c in report["controls"] if c["id"] == "BASE-SSH-01")
    assert ssh["status"] == "fail"
    assert "PasswordAuthentication yes" in json.dumps(ssh["evidence"])
