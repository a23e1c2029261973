"""The audit's host and drift layers over made-up verify records and check-mode results
(no hosts): records read back with their age, never-run checks, drift diffs masked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from municloud.audit import collect, secrets_scan
from municloud.core import topology
from municloud.deploy import verify
from municloud.deploy.ansible_run import PlayResult


def _rec(test: str, outcome: str, host: str = "db1", reason: str = "", when: str | None = None,
         controls: Sequence[str] = ("BASE-SSH-01",)) -> dict[str, Any]:
    return {"test": test, "outcome": outcome, "controls": list(controls), "host": host,
            "reason": reason, "check": "what it checks", "excerpt": "",
            "when": when or collect.now(), "seconds": 0.2}


def test_exercises_come_from_their_last_records_with_their_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).isoformat(timespec="seconds")
    fresh = [_rec("infra/baseline/test_ssh.py::test_a[db1]", "passed"),
             _rec("infra/backup/test_restore_drill.py::test_drill", "not run",
                  reason="a disruptive drill: run by `municloud verify --all`",
                  controls=("BAK-DRILL-01",)),
             _rec("infra/db/test_db.py::test_never", "not run", reason="an exercise",
                  controls=("DB-INPUT-01",))]
    records = {"infra/backup/test_restore_drill.py::test_drill": _rec(
        "infra/backup/test_restore_drill.py::test_drill", "failed", reason="restore failed",
        when=old, controls=("BAK-DRILL-01",))}
    monkeypatch.setattr(verify, "run_tests", lambda env, **kw: (0, fresh))
    monkeypatch.setattr(verify, "last_records", lambda env: records)
    g = collect.hosts("lab", workers=2, skip_drift_test=True)
    drill = g.evidence["BAK-DRILL-01"][0]
    assert drill.outcome == "fail" and drill.age_seconds is not None
    assert 5 * 3600 - 60 < drill.age_seconds < 5 * 3600 + 60
    assert "last record" in drill.check
    never = g.evidence["DB-INPUT-01"][0]
    assert never.outcome == "not run" and "never run" in never.excerpt
    assert g.evidence["BASE-SSH-01"][0].outcome == "pass"
    assert "1 state checks run now" in g.layers[0].detail


def test_skips_map_to_statuses() -> None:
    assert collect.outcome_of({"outcome": "skipped", "reason": "waived until 2027"}) == "waived"
    assert collect.outcome_of({"outcome": "skipped",
                               "reason": "not deployed: artifact unavailable"}) == "not deployed"
    assert collect.outcome_of({"outcome": "skipped",
                               "reason": "no host runs the service"}) == "not applicable"


def test_drift_findings_carry_the_diff_with_secrets_masked(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "x.password").write_text("Zz9-secret-in-a-diff-77\n")
    secrets = secrets_scan.load("lab", store=tmp_path)
    topo = topology.load("lab")
    result = PlayResult(0, changed=[{
        "host": "db1", "role": "db", "task": "Write my.cnf", "path": "roles/db/tasks/x.yml:3",
        "diff": "--- before\n+++ after\n-password=old\n+password=Zz9-secret-in-a-diff-77\n"}],
        stats={h.name: {"ok": 10, "changed": 0} for h in topo.hosts if h.name != "backup1"})
    result.stats["db1"]["changed"] = 1
    import municloud.deploy.ansible_run as ar

    monkeypatch.setattr(ar, "run_playbook", lambda *a, **kw: result)
    g = collect.drift("lab", topo, secrets)
    by_host = {e.where: e for e in g.evidence["BASE-IDEM-01"]}
    assert by_host["db1"].outcome == "fail"
    assert "Write my.cnf" in by_host["db1"].check
    assert "+password=" + secrets_scan.MASK in by_host["db1"].excerpt
    assert "Zz9" not in by_host["db1"].excerpt
    assert by_host["backup1"].outcome == "not run"
    assert by_host["dir1"].outcome == "pass"


def test_drift_runs_side_by_side_over_parts_of_the_hosts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check run is limited to its part of the hosts (the PKI's localhost play in the
    first); together they cover every host once, and a host's findings come from its own
    run only."""
    topo = topology.load("lab")
    limits: list[str] = []

    def check_run(env: str, book: str, **kw: Any) -> PlayResult:
        limits.append(kw["limit"])
        part = kw["limit"].split(":")
        return PlayResult(2 if "db1" in part else 0, changed=[
            {"host": h, "role": "r", "task": f"drifted in the run of {kw['limit']}"}
            for h in ("db1", "edge1")],  # every run says so: only db1's own run counts
            stats={h: {"ok": 5, "changed": 0} for h in part if h != "localhost"})

    import municloud.deploy.ansible_run as ar

    monkeypatch.setattr(ar, "run_playbook", check_run)
    g = collect.drift("lab", topo, [], runs=3)
    parts = [limit.split(":") for limit in limits]
    assert len(parts) == 3 and sum(p.count("localhost") for p in parts) == 1
    assert sorted(h for p in parts for h in p if h != "localhost") == sorted(
        h.name for h in topo.hosts)
    evidence = g.evidence["BASE-IDEM-01"]
    for host in ("db1", "edge1"):
        [finding] = [e for e in evidence if e.where == host]
        own = next(limit for limit in limits if host in limit.split(":"))
        assert finding.outcome == "fail" and own in finding.check
    assert {e.outcome for e in evidence if e.where not in ("db1", "edge1")} == {"pass"}
    assert "3 runs side by side" in g.layers[0].detail and "(exit 2)" in g.layers[0].detail


def test_a_unit_layer_that_times_out_is_an_error_not_a_crash(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Seen on the loaded lab machine: the offline tests outran their bound and the
    exception ended the whole report. Now the layer is in error and nothing is cached."""
    import subprocess

    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path))

    def too_slow(cmd: list[str], **kw: Any) -> NoReturn:
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])

    monkeypatch.setattr(subprocess, "run", too_slow)
    g = collect.unit("lab", "abc123")
    [layer] = g.layers
    assert layer.state == "error" and f"{collect.UNIT_TIMEOUT} s" in layer.detail
    assert not g.evidence and not collect.unit_records_file("lab").exists()
