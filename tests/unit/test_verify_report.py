"""The verify report (municloud.deploy.verify_plugin) under pytest-xdist workers and in one process:
every test run is recorded once with its controls and host, and the tests a -m left out are
recorded as "not run" with the reason, so that `municloud verify` can show their controls."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from municloud.core import paths
from municloud.deploy.verify import (
    CHANGING,
    CHANGING_THEN_RECORD,
    STATE_CHECKS,
    STATE_CHECKS_BEFORE_DRILLS,
    by_control,
    soonest_expiries,
)

SUITE = '''
import os
import pathlib

import pytest

@pytest.fixture(params=["h1", "h2"])
def env_host(request):
    return request.param

@pytest.mark.control("C-STATE")
def test_state(env_host, record_property):
    end = {"h1": "2027-01-10T00:00:00+00:00", "h2": "2026-12-20T12:00:00+00:00"}[env_host]
    record_property("municloud.soonest_certificate", {"path": "/etc/x.crt", "not_after": end})
    record_property("unrelated", 1)
    assert env_host

@pytest.mark.control("C-FAIL")
def test_fails():
    assert False, "broken on purpose"

@pytest.mark.exercise
@pytest.mark.control("C-EXERCISE")
def test_exercise():
    pass

@pytest.mark.disruptive
@pytest.mark.control("C-DRILL")
def test_drill():
    pathlib.Path(os.environ["DRILL_RECORD"]).write_text("ok")

@pytest.mark.drill_record
@pytest.mark.control("C-DRILL")
def test_drill_record():
    assert pathlib.Path(os.environ["DRILL_RECORD"]).exists(), "never drilled"
'''


def run(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n  control(*ids): c\n  exercise: e\n  disruptive: d\n"
        "  drill_record: r\n")
    report = tmp_path / "report.json"
    env = dict(os.environ, MUNICLOUD_VERIFY_REPORT=str(report),
               PYTHONPATH=str(paths.REPO), DRILL_RECORD=str(tmp_path / "drilled"))
    env.pop("PYTEST_XDIST_WORKER", None)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "municloud.deploy.verify_plugin", str(tmp_path), *args],
                   cwd=tmp_path, env=env, capture_output=True, check=False)
    results: list[dict[str, object]] = json.loads(report.read_text())
    not_run = report.with_name("report.json.not-run")
    if not_run.exists():
        results += json.loads(not_run.read_text())
    return results


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_state_checks_are_recorded_once_with_controls_hosts_and_not_run(
        tmp_path: Path, workers: list[str]) -> None:
    results = run(tmp_path, "-m", STATE_CHECKS, *workers)
    by_test = {(r["test"].split("::")[-1], r["outcome"]): r for r in results}
    assert len(results) == 6, results
    assert by_test[("test_state[h1]", "passed")]["host"] == "h1"
    assert by_test[("test_state[h2]", "passed")]["controls"] == ["C-STATE"]
    assert "broken on purpose" in str(by_test[("test_fails", "failed")]["reason"])
    assert "exercise" in str(by_test[("test_exercise", "not run")]["reason"])
    assert "drill" in str(by_test[("test_drill", "not run")]["reason"])
    assert "never drilled" in str(by_test[("test_drill_record", "failed")]["reason"])
    rows = {cid: result for cid, _, result, _ in by_control(results)}
    assert rows == {"C-STATE": "passed", "C-FAIL": "FAILED", "C-EXERCISE": "not run",
                    "C-DRILL": "FAILED"}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_facts_a_test_records_reach_the_summary(tmp_path: Path, workers: list[str]) -> None:
    """`municloud verify` reports the soonest certificate expiry per host from the facts
    BASE-PKI-02's state check records (record_property "municloud.<name>")."""
    results = run(tmp_path, "-m", STATE_CHECKS, *workers)
    facts = {r["host"]: r["facts"] for r in results if r.get("facts")}
    assert set(facts) == {"h1", "h2"}, results
    assert "unrelated" not in facts["h1"]
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    assert soonest_expiries(results, now) == [
        ("h2", "2026-12-20 12:00 UTC", "18", "/etc/x.crt"),
        ("h1", "2027-01-10 00:00 UTC", "39", "/etc/x.crt")]


def test_the_soonest_of_several_records_of_a_host_wins() -> None:
    def rec(host: str, end: str, path: str) -> dict[str, Any]:
        return {"host": host, "facts": {"soonest_certificate": {"path": path, "not_after": end}}}

    rows = soonest_expiries([rec("a", "2027-03-01T00:00:00+00:00", "/old"),
                             rec("a", "2027-02-01T00:00:00+00:00", "/new"),
                             {"host": "b", "outcome": "passed"}],
                            dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert rows == [("a", "2027-02-01 00:00 UTC", "31", "/new")]


def test_the_changing_phase_runs_exercises_and_drills(tmp_path: Path) -> None:
    results = run(tmp_path, "-m", CHANGING)
    ran = {str(r["test"]).split("::")[-1] for r in results if r["outcome"] == "passed"}
    assert ran == {"test_exercise", "test_drill"}


def test_with_all_the_drill_record_is_read_after_the_drills(tmp_path: Path) -> None:
    """A plain verify of a never-drilled host fails the drill record (above); `verify --all`
    leaves it out of the state checks and reads it after the drills it has just run."""
    first = run(tmp_path, "-m", STATE_CHECKS_BEFORE_DRILLS)
    assert not any("test_drill" in str(r["test"]) and r["outcome"] != "not run"
                   for r in first), first
    second = {str(r["test"]).split("::")[-1]: r["outcome"]
              for r in run(tmp_path, "-m", CHANGING_THEN_RECORD) if r["outcome"] != "not run"}
    assert second == {"test_exercise": "passed", "test_drill": "passed",
                      "test_drill_record": "passed"}, second


def test_in_the_suite_every_drill_record_check_follows_the_drills() -> None:
    """pytest keeps file order: the drill-record checks must be collected after every
    drill, or `verify --all` would read the record before the drills write it."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", CHANGING_THEN_RECORD,
                           str(paths.TESTS / "infra")],
                          cwd=paths.REPO, capture_output=True, text=True, check=False)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    records = [i for i, t in enumerate(ids) if "passed_a_recent_drill" in t]
    drills = [i for i, t in enumerate(ids) if "restore_drill" in t and i not in records]
    assert records and drills, proc.stdout[-2000:]
    assert min(records) > max(drills), ids
