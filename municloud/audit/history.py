"""`--since REPORT.json`: what changed since an earlier report: new failures, fixed items,
changed evidence (the excerpts of a control's evidence differ), changed statuses."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from municloud.audit.report_model import Comparison, ControlResult, Report
from municloud.core.errors import InvalidInput, Problem


def load(file: Path) -> Report:
    try:
        return Report.model_validate(json.loads(file.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput([Problem(str(file), "", f"cannot read the earlier report: {exc}",
                                    "a report.json written by `municloud audit`")]) from exc
    except ValidationError as exc:
        e = exc.errors()[0]
        raise InvalidInput([Problem(str(file), ".".join(map(str, e["loc"])), e["msg"],
                                    "a report.json written by `municloud audit`")]) from exc


def _fingerprint(c: ControlResult) -> list[tuple[str, str, str, str, str]]:
    """What an auditor compares: a passing check's excerpt carries only its timing."""
    return sorted((e.layer, e.where, e.check, e.outcome,
                   "" if e.outcome == "pass" else e.excerpt) for e in c.evidence)


def compare(before: Report, now: Report, label: str) -> Comparison:
    old = {c.id: c for c in before.controls}
    new_failures: list[str] = []
    fixed: list[str] = []
    changed: list[str] = []
    status: dict[str, list[str]] = {}
    for c in now.controls:
        prev = old.get(c.id)
        if prev is None:
            if c.status == "fail":
                new_failures.append(c.id)
            continue
        if c.status == "fail" and prev.status != "fail":
            new_failures.append(c.id)
        if prev.status == "fail" and c.status != "fail":
            fixed.append(c.id)
        if prev.status != c.status:
            status[c.id] = [prev.status, c.status]
        elif _fingerprint(prev) != _fingerprint(c):
            changed.append(c.id)
    return Comparison(since=f"{label} (generated {before.generated})",
                      new_failures=new_failures, fixed=fixed, changed_evidence=changed,
                      changed_status=status)
