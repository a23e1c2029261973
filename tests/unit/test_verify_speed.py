"""What makes `municloud verify` fast without changing what it checks: the parallel phase
starts the slowest test files first (the order comes from verify's records; each file's
tests keep their order, so do files never recorded), and the pytest processes keep their
compiled modules outside the repository. scripts/bench-verify reads verify's closing line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.deploy import verify
from municloud.deploy.bench_verify import SUMMARY


def collected(tmp_path: Path, order: dict[str, float] | None) -> list[str]:
    for name in ("test_a.py", "test_b.py", "test_c.py"):
        (tmp_path / name).write_text("def test_1():\n    pass\n\ndef test_2():\n    pass\n")
    env = dict(os.environ, PYTHONPATH=str(paths.REPO))
    env.pop("MUNICLOUD_VERIFY_ORDER", None)
    if order is not None:
        f = tmp_path / "order.json"
        f.write_text(json.dumps(order))
        env["MUNICLOUD_VERIFY_ORDER"] = str(f)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-p", "municloud.deploy.verify_plugin",
                           "test_a.py", "test_b.py", "test_c.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_the_slowest_files_come_first_and_each_keeps_its_order(tmp_path: Path) -> None:
    assert collected(tmp_path, None) == ["test_a.py::test_1", "test_a.py::test_2",
                                         "test_b.py::test_1", "test_b.py::test_2",
                                         "test_c.py::test_1", "test_c.py::test_2"]
    # test_c.py was never recorded: it keeps its place after the recorded files.
    assert collected(tmp_path, {"test_a.py": 1.5, "test_b.py": 30.0}) == [
        "test_b.py::test_1", "test_b.py::test_2", "test_a.py::test_1", "test_a.py::test_2",
        "test_c.py::test_1", "test_c.py::test_2"]


def test_module_seconds_add_up_per_file_from_the_records() -> None:
    records: dict[str, dict[str, Any]] = {
               "tests/infra/x/test_a.py::test_1[h1]": {"seconds": 1.25},
               "tests/infra/x/test_a.py::test_1[h2]": {"seconds": 2.0},
               "tests/infra/x/test_b.py::test_2": {"seconds": 0.5},
               "tests/infra/x/test_b.py::test_3": {"outcome": "passed"}}  # an older record
    assert verify.module_seconds(records) == {"tests/infra/x/test_a.py": 3.25,
                                              "tests/infra/x/test_b.py": 0.5}


def test_compiled_modules_stay_outside_the_repository() -> None:
    cache = Path(verify.bytecode_cache("lab")["PYTHONPYCACHEPREFIX"])
    assert cache.is_relative_to(paths.env_state("lab"))
    assert not cache.is_relative_to(paths.REPO)


def test_the_benchmark_reads_verify_s_closing_line() -> None:
    line = ("verify lab: 76 controls, 0 failed, 13 not run (--all runs them); tests: "
            "457 passed, 0 failed, 15 skipped, 51 not run")
    assert SUMMARY.findall(line) == [("457", "0", "15", "51")]
