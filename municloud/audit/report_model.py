"""The compliance report: one document per environment across plan time, the hosts, the
live cloud and drift. The JSON form is this model (`report.schema.json` is its schema,
checked in; tests/unit/test_audit_report.py keeps them equal); HTML and JUnit render it.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
Status = Literal["pass", "fail", "waived", "not applicable", "not deployed", "not run"]
STATUSES: tuple[str, ...] = ("pass", "fail", "waived", "not applicable", "not deployed",
                             "not run")
Layer = Literal["plan", "host", "cloud", "drift", "unit", "report"]
# Framework names as the catalog's references begin.
FRAMEWORKS: dict[str, str] = {
    "CIS Debian Linux 12 Benchmark": "CIS Debian 12",
    "ISO/IEC 27001:2022": "ISO 27001:2022",
    "NIS2 Art. 21(2)": "NIS2 Art. 21(2)",
    "GDPR Art. 32": "GDPR Art. 32",
}


def frameworks_of(references: list[str]) -> list[str]:
    return sorted({short for prefix, short in FRAMEWORKS.items()
                   for r in references if r.startswith(prefix)})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Model):
    layer: Layer
    check: str = Field(description="what was checked (a test, a rule, a task)")
    where: str = Field(description="host, stack, cloud or file")
    when: str = Field(description="ISO 8601 time the check ran")
    age_seconds: float | None = Field(default=None, description="age of a record read "
                                      "back (exercises, drills), else null")
    outcome: Status
    excerpt: str = ""


class WaiverInfo(_Model):
    control: str
    scope: list[str]
    reason: str
    approver: str
    expires: str
    expired: bool


class ControlResult(_Model):
    id: str
    title: str
    references: list[str]
    frameworks: list[str]
    checked_by: list[str]
    status: Status
    reason: str = Field(default="",
                        description="why: a failure's first line, or why not applicable")
    hosts: dict[str, Status] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)
    waiver: WaiverInfo | None = None


class LayerInfo(_Model):
    layer: Layer
    state: Literal["ran", "not applicable", "error"]
    detail: str
    seconds: float


class Comparison(_Model):
    since: str = Field(description="the earlier report: its file and generation time")
    new_failures: list[str]
    fixed: list[str]
    changed_evidence: list[str]
    changed_status: dict[str, list[str]] = Field(
        description="control -> [earlier status, status now]")


class Summary(_Model):
    statuses: dict[str, int]
    frameworks: dict[str, dict[str, int]]
    hosts: dict[str, dict[str, int]]


class Report(_Model):
    schema_version: int = SCHEMA_VERSION
    environment: str
    municipality: str
    generated: str
    seconds: float
    commit: str
    layers: list[LayerInfo]
    controls: list[ControlResult]
    waivers: list[WaiverInfo]
    summary: Summary
    comparison: Comparison | None = None

    def control(self, cid: str) -> ControlResult:
        return next(c for c in self.controls if c.id == cid)

    @property
    def failed(self) -> list[ControlResult]:
        return [c for c in self.controls if c.status == "fail"]


def combine(outcomes: list[str]) -> Status:
    """One status from several: a failure anywhere fails; then waived, pass, not deployed;
    not applicable only when everything was; no outcome at all is not run."""
    present = set(outcomes)
    for s in ("fail", "waived", "pass", "not deployed", "not run"):
        if s in present:
            return s
    return "not applicable" if present else "not run"


def summarise(controls: list[ControlResult]) -> Summary:
    statuses: Counter[str] = Counter(c.status for c in controls)
    frameworks: dict[str, Counter[str]] = {short: Counter() for short in FRAMEWORKS.values()}
    hosts: dict[str, Counter[str]] = {}
    for c in controls:
        for fw in c.frameworks:
            frameworks[fw][c.status] += 1
        for host, status in c.hosts.items():
            hosts.setdefault(host, Counter())[status] += 1
    full = {s: 0 for s in STATUSES}
    return Summary(statuses={**full, **statuses},
                   frameworks={fw: {**full, **n} for fw, n in frameworks.items()},
                   hosts={h: {**full, **n} for h, n in sorted(hosts.items())})


def json_schema() -> dict[str, object]:
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://municloud.invalid/schemas/audit-report-1.json"
    return schema
