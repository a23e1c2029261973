"""pytest plugin used by `municloud verify`: records each test's outcome, controls and host
to the JSON file named by MUNICLOUD_VERIFY_REPORT."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_results: list[dict[str, Any]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        controls = [c for m in item.iter_markers("control") for c in m.args]
        params = getattr(item, "callspec", None)
        host = params.params.get("lab_host") if params else None
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2])
        elif report.failed:
            reason = str(report.longreprtext).strip().splitlines()[-1][:200] \
                if report.longreprtext else ""
        _results.append({"test": item.nodeid, "outcome": report.outcome, "controls": controls,
                         "host": host, "reason": reason})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("MUNICLOUD_VERIFY_REPORT")
    if target:
        with open(target, "w") as f:
            json.dump(_results, f, indent=1)
