"""pytest plugin used by `municloud verify`: records each test's outcome, controls and host
to the JSON file named by MUNICLOUD_VERIFY_REPORT, and, when MUNICLOUD_VERIFY_EVENTS names a
file, appends progress events to it as JSON lines (collected, test_start, test_done: read
by municloud/progress/pytest_events.py while the run goes on).

Works under pytest-xdist: the worker attaches what it knows of the test (controls, host)
to the report's user_properties, which travel to the controlling process; only that
process collects and writes the file."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from typing import Any

import pytest

_results: list[dict[str, Any]] = []
_not_run: list[dict[str, Any]] = []
_KEY = "municloud_verify"
# A test reports a fact for verify's summary with pytest's `record_property` under a name
# with this prefix (e.g. "municloud.soonest_certificate"); it lands in the test's record
# under "facts", without the prefix.
FACT_PREFIX = "municloud."
_WHY = {"disruptive": "a disruptive drill", "exercise": "a role-contract exercise"}


def _controller() -> bool:
    """The process that sees every test: the only one, or xdist's controlling process."""
    return not os.environ.get("PYTEST_XDIST_WORKER")


def _event(event: str, **fields: Any) -> None:
    target = os.environ.get("MUNICLOUD_VERIFY_EVENTS")
    if not target or not _controller():
        return
    with open(target, "a") as f:
        f.write(json.dumps({"event": event, "t": round(time.time(), 3), **fields}) + "\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With MUNICLOUD_VERIFY_ORDER (a JSON file: test file -> seconds its tests took last
    time, written by `municloud verify` for its parallel phase) the slowest files come
    first; a file's tests keep their order, files never recorded keep theirs after the
    recorded ones. Every xdist worker reads the same file, so all collect the same order."""
    target = os.environ.get("MUNICLOUD_VERIFY_ORDER")
    if not target:
        return
    with open(target) as f:
        seconds: dict[str, float] = json.load(f)
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::", 1)[0], 0.0))


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.items:  # xdist's controller collects nothing: its workers report below
        _event("collected", total=len(session.items))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    _event("collected", total=len(ids))


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _event("test_start", test=nodeid)


def _meta(item: pytest.Item) -> dict[str, Any]:
    params = getattr(item, "callspec", None)
    doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
    return {"controls": [c for m in item.iter_markers("control") for c in m.args],
            "host": params.params.get("env_host") if params else None,
            "check": " ".join(doc.split("\n\n")[0].split())[:300]}


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Tests left out by the -m of this run (drills, exercises): reported as not run, so
    that their controls show up as such instead of vanishing from the summary. Every
    worker collects the same tests: the first (or the only process) records them."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        return
    for item in items:
        kinds = [w for m, w in _WHY.items() if item.get_closest_marker(m)]
        _not_run.append({"test": item.nodeid, "outcome": "not run", **_meta(item),
                         "reason": f"{' and '.join(kinds) or 'deselected'}: "
                                   "run by `municloud verify --all`"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    report.user_properties.append((_KEY, _meta(item)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a worker's own call: the controlling process records the report
    if not (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        return
    meta: dict[str, Any] | None = next(
        (v for k, v in report.user_properties if k == _KEY and isinstance(v, dict)), None)
    if meta is None:
        return
    facts = {k.removeprefix(FACT_PREFIX): v for k, v in report.user_properties
             if isinstance(k, str) and k.startswith(FACT_PREFIX)}
    reason, excerpt = "", ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(report.longreprtext).strip()
        reason = (text.splitlines() or [""])[0 if crash is not None else -1][:200]
        excerpt = str(report.longreprtext)[-1500:]
    _results.append({"test": report.nodeid, "outcome": report.outcome,
                     "controls": meta["controls"], "host": meta["host"], "reason": reason,
                     "check": meta.get("check", ""), "excerpt": excerpt,
                     **({"facts": facts} if facts else {}),
                     "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "seconds": round(report.duration, 3)})
    _event("test_done", test=report.nodeid, outcome=report.outcome,
           duration=round(report.duration, 3), controls=meta["controls"], host=meta["host"],
           reason=reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The controlling process writes the results; whoever recorded the deselected tests
    writes them beside it (`<report>.not-run`)."""
    target = os.environ.get("MUNICLOUD_VERIFY_REPORT")
    if not target:
        return
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        with open(target, "w") as f:
            json.dump(_results, f, indent=1)
    if _not_run:
        with open(f"{target}.not-run", "w") as f:
            json.dump(_not_run, f, indent=1)
