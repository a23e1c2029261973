"""`municloud verify <env>`: the testinfra suite over SSH, summarised per control.

Two phases. The state checks (everything in tests/infra that is neither a disruptive drill
nor a role-contract exercise) only read the hosts and mostly wait on the network, so they
run spread over worker processes (pytest-xdist; tests that must not overlap on a host
carry `host_lock`, an flock on the controller: tests/infra/conftest.py). With `--all`,
the exercises (playbook runs: bad input, check mode, artifacts) and the drills (restore,
fault injection) follow, one at a time: they change the hosts on purpose and must not
overlap with anything. A check that reads the record the drills leave (marker
`drill_record`) moves with `--all` into that second phase, after the drills (pytest keeps
file order), so a freshly deployed lab is judged on the drills this run made instead of
failing as "never drilled" before they start.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.core.controls import catalog
from municloud.progress import session
from municloud.progress.pytest_events import PytestProgress

STATE_CHECKS = "not disruptive and not exercise"
CHANGING = "disruptive or exercise"
# With --all: the state checks minus those reading the drill record, which follow the drills.
STATE_CHECKS_BEFORE_DRILLS = f"{STATE_CHECKS} and not drill_record"
CHANGING_THEN_RECORD = f"{CHANGING} or drill_record"
# Worker processes for the state checks: they wait on logins, mail delivery and firewall
# timeouts, not on the CPU (docs/benchmarks.md: verify). 0 runs them in one process.
DEFAULT_WORKERS = 6
# Plugins installed with the test extras that tests/infra does not use: hypothesis's loads
# the whole library at the end of every run (its terminal summary), ~2 s on this machine.
UNUSED_PLUGINS = ["-p", "no:hypothesispytest"]
NO_TESTS_COLLECTED = 5  # pytest's exit code when -m leaves nothing to run


def bytecode_cache(env: str) -> dict[str, str]:
    """Where the pytest processes keep compiled modules (the tests with pytest's assertion
    rewriting, municloud, ...): under the environment's state, outside the repository.
    Every worker process imports and collects the whole suite; without a cache (e.g. under
    PYTHONDONTWRITEBYTECODE) each one parses and rewrites all of it again, seconds of CPU
    apiece on the machine that also runs the lab (docs/benchmarks.md: verify)."""
    return {"PYTHONPYCACHEPREFIX": str(paths.env_state(env) / "verify" / "pycache")}


def module_seconds(records: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Test file -> the seconds its tests took in the last runs (verify's records). The
    parallel phase starts the slowest files first (verify_plugin: MUNICLOUD_VERIFY_ORDER),
    so that their long tests (Horde logins, borg runs) do not start last, when the other
    workers have nothing left to do; a file's own tests keep their order."""
    seconds: dict[str, float] = defaultdict(float)
    for test, record in records.items():
        value = record.get("seconds")
        if isinstance(value, int | float):
            seconds[test.split("::", 1)[0]] += float(value)
    return {f: round(s, 3) for f, s in sorted(seconds.items())}


def _pytest(env: str, args: list[str], quiet: bool,
            label: str = "tests") -> tuple[int, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="municloud-verify-") as tmp:
        report = Path(tmp) / "report.json"
        environ = dict(os.environ, MUNICLOUD_ENV=env, MUNICLOUD_VERIFY_REPORT=str(report),
                       **bytecode_cache(env))
        environ.pop("PYTHONDONTWRITEBYTECODE", None)
        # A run inside a test (the audit breakage test's own state checks) reports its
        # progress to no one: its deliberate failures are not the outer run's.
        environ.pop("MUNICLOUD_VERIFY_EVENTS", None)
        if "-n" in args:
            order = Path(tmp) / "module-seconds.json"
            order.write_text(json.dumps(module_seconds(last_records(env))))
            environ["MUNICLOUD_VERIFY_ORDER"] = str(order)
        cmd = [sys.executable, "-m", "pytest", "-p", "municloud.deploy.verify_plugin",
               str(paths.TESTS / "infra"), "-q", "-p", "no:cacheprovider",
               *UNUSED_PLUGINS, *args]
        sess = session.current()
        if sess is not None and sess.phase is not None:
            # Inside a command's progress session: output to its log, progress on screen.
            events = sess.events_file(f"pytest-{label}")
            environ["MUNICLOUD_VERIFY_EVENTS"] = str(events)
            with sess.step(label) as phase:
                fold = PytestProgress(phase, sess.log)
                returncode = sess.run(cmd, cwd=paths.REPO, env=environ, events=events,
                                      on_event=fold.feed)
                fold.finish()
        else:
            returncode = subprocess.run(cmd, cwd=paths.REPO, env=environ, check=False,
                                        stdout=subprocess.DEVNULL if quiet else None).returncode
        results: list[dict[str, Any]] = []
        for f in (report, report.with_name(report.name + ".not-run")):
            if f.exists() and f.read_text().strip():
                results += json.loads(f.read_text())
    code = 0 if returncode == NO_TESTS_COLLECTED else returncode
    return code, results


def run_tests(env: str, *, quiet: bool = False, everything: bool = False,
              workers: int = DEFAULT_WORKERS,
              extra: list[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Run tests/infra against an environment: the state checks in parallel, then (with
    `everything`) the exercises and drills one at a time. Returns the worst exit code and
    one record per test; a test no phase ran is recorded as "not run", with the reason."""
    parallel = ["-n", str(workers)] if workers > 0 else []
    state = f"state checks ({workers} workers)" if workers > 0 else "state checks"
    if everything:
        phases = [(state, ["-m", STATE_CHECKS_BEFORE_DRILLS, *parallel]),
                  ("exercises and drills, one at a time", ["-m", CHANGING_THEN_RECORD])]
    else:
        phases = [(state, ["-m", STATE_CHECKS, *parallel])]
    code, results = 0, []
    for label, args in phases:
        phase_code, phase_results = _pytest(env, [*args, *(extra or [])], quiet, label)
        code = code or phase_code
        results += phase_results
    ran = {r["test"] for r in results if r["outcome"] != "not run"}
    results = [r for r in results if r["outcome"] != "not run" or r["test"] not in ran]
    save_records(env, results)
    return code, results


def records_file(env: str) -> Path:
    return paths.env_state(env) / "verify" / "records.json"


def last_records(env: str) -> dict[str, dict[str, Any]]:
    """The last result of every test any verify run ran (test id -> record, with `when`):
    what `municloud audit` reads for the exercises and drills it does not run itself."""
    f = records_file(env)
    try:
        data = json.loads(f.read_text()) if f.exists() else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def current_records(records: dict[str, dict[str, Any]],
                    results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The records with this run's results, less those of tests that no longer exist: a
    test of a file this run collected (every collected test is in `results`, the left-out
    ones as "not run") that is not among them was renamed or removed, and its last result
    (perhaps a failure) must not speak for a control any more. A test this run left out
    keeps its earlier result; files this run did not collect keep theirs."""
    collected = {r["test"] for r in results}
    files = {t.split("::", 1)[0] for t in collected}
    kept = {t: r for t, r in records.items()
            if t in collected or t.split("::", 1)[0] not in files}
    kept.update({r["test"]: r for r in results if r["outcome"] != "not run"})
    return kept


def save_records(env: str, results: list[dict[str, Any]]) -> None:
    """Keep each test's latest result (a test this run left out keeps its earlier one)."""
    records = current_records(last_records(env), results)
    f = records_file(env)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True))
    tmp.replace(f)


def by_control(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(control, title, result, detail) rows: failed if any test failed, passed if any passed
    and none failed, else skipped or not run (with the reason)."""
    cat = catalog()
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        for c in r["controls"]:
            grouped[c].append(r)
    rows = []
    for cid in sorted(grouped):
        rs = grouped[cid]
        failed = [r for r in rs if r["outcome"] == "failed"]
        passed = [r for r in rs if r["outcome"] == "passed"]
        if failed:
            result = "FAILED"
            detail = "; ".join(sorted({f"{r['host'] or ''} {r['reason']}".strip()
                                       for r in failed}))[:100]
        elif passed:
            result = "passed"
            detail = f"{len(passed)} checks"
        else:
            skipped = [r for r in rs if r["outcome"] == "skipped"]
            result = "skipped" if skipped else "not run"
            detail = (skipped or rs)[0]["reason"][:100]
        title = cat[cid].title if cid in cat else "(not in the catalog)"
        rows.append((cid, title[:60], result, detail))
    return rows


def soonest_expiries(results: list[dict[str, Any]],
                     now: dt.datetime | None = None) -> list[tuple[str, str, str, str]]:
    """(host, expiry date, days left, certificate file) per host, the soonest certificate
    first: what BASE-PKI-02's state check found on each host (its fact
    `soonest_certificate`: {"path", "not_after"}, an ISO 8601 time)."""
    now = now or dt.datetime.now(dt.UTC)
    found: dict[str, tuple[dt.datetime, str]] = {}
    for r in results:
        fact = (r.get("facts") or {}).get("soonest_certificate")
        if not isinstance(fact, dict) or not r.get("host"):
            continue
        end = dt.datetime.fromisoformat(str(fact["not_after"]))
        if r["host"] not in found or end < found[r["host"]][0]:
            found[r["host"]] = (end, str(fact["path"]))
    rows = sorted(found.items(), key=lambda kv: kv[1][0])
    return [(host, f"{end:%Y-%m-%d %H:%M} UTC", f"{(end - now).days}", path)
            for host, (end, path) in rows]
