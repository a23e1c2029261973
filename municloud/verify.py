"""`municloud verify <env>`: the testinfra suite over SSH, summarised per control."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from municloud import paths
from municloud.controls import catalog


def run_tests(env: str, *, quiet: bool = False, disruptive: bool = False,
              extra: list[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Run tests/infra against an environment. Tests marked `disruptive` (restore drills,
    fault injection) run only when asked: they destroy data on purpose to prove recovery."""
    extra = [*(extra or []), *([] if disruptive else ["-m", "not disruptive"])]
    with tempfile.NamedTemporaryFile(prefix="municloud-verify-", suffix=".json") as tmp:
        environ = dict(os.environ, MUNICLOUD_ENV=env, MUNICLOUD_VERIFY_REPORT=tmp.name)
        cmd = [sys.executable, "-m", "pytest", "-p", "municloud.verify_plugin",
               str(paths.TESTS / "infra"), "-q", "-p", "no:cacheprovider", *(extra or [])]
        proc = subprocess.run(cmd, cwd=paths.REPO, env=environ, check=False,
                              stdout=subprocess.DEVNULL if quiet else None)
        text = Path(tmp.name).read_text()
    return proc.returncode, json.loads(text) if text.strip() else []


def by_control(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(control, title, result, detail) rows: failed if any test failed, passed if any passed
    and none failed, else skipped (with the reason)."""
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
            result = "skipped"
            detail = rs[0]["reason"][:100]
        title = cat[cid].title if cid in cat else "(not in the catalog)"
        rows.append((cid, title[:60], result, detail))
    return rows
