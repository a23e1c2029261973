"""verify's records: the last result of each test, less the tests that no longer exist
(municloud.deploy.verify.current_records)."""

from __future__ import annotations

from typing import Any

from municloud.deploy.verify import current_records


def _r(test: str, outcome: str) -> dict[str, Any]:
    return {"test": test, "outcome": outcome, "controls": ["X-01"]}


def test_a_renamed_test_no_longer_speaks_for_its_control() -> None:
    records = {"t/a.py::test_old_name": _r("t/a.py::test_old_name", "failed"),
               "t/a.py::test_drill": _r("t/a.py::test_drill", "passed"),
               "t/b.py::test_other": _r("t/b.py::test_other", "failed")}
    results = [_r("t/a.py::test_new_name", "passed"), _r("t/a.py::test_drill", "not run")]
    kept = current_records(records, results)
    # Renamed away: gone. Left out by this run (not run): its earlier result stays.
    # A file this run did not collect: untouched.
    assert sorted(kept) == ["t/a.py::test_drill", "t/a.py::test_new_name", "t/b.py::test_other"]
    assert kept["t/a.py::test_drill"]["outcome"] == "passed"
    assert kept["t/a.py::test_new_name"]["outcome"] == "passed"
