"""Reports built without hosts for the audit tests: a topology, the plan layer of the
mocked program where the environment has a stack, and evidence made up per control."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from municloud.audit import assemble, collect, secrets_scan
from municloud.audit.report_model import Evidence, Report
from municloud.audit.waivers import Waiver
from municloud.core import topology
from municloud.core.controls import catalog


def evidence(outcome: str = "pass", where: str = "db1", excerpt: str = "") -> Evidence:
    return Evidence(layer="host", check="tests/infra/test_x.py::test_y", where=where,
                    when=collect.now(), outcome=outcome, excerpt=excerpt)  # type: ignore[arg-type]


def gathered(outcomes: dict[str, list[Evidence]] | None = None) -> collect.Gathered:
    """Every host control passing on db1, unless `outcomes` says otherwise."""
    g = collect.Gathered()
    for cid, c in catalog().items():
        for e in (outcomes or {}).get(cid, [evidence()] if "host" in c.checked_by else []):
            g.add(cid, e)
    return g


def report(env: str = "lab", outcomes: dict[str, list[Evidence]] | None = None,
           waivers: list[Waiver] | None = None, secrets: list[secrets_scan.Secret] | None = None,
           today: dt.date | None = None) -> Report:
    topo = topology.load(env)
    g = gathered(outcomes)
    g.merge(collect.cloud(topo))
    return assemble.build(topo, g, waivers or [], 1.0, secrets or [], today=today)


def waiver(control: str = "BASE-SYSCTL-01", expires: str = "2099-01-01",
           scope: list[str] | None = None) -> Waiver:
    return Waiver.model_validate({"control": control, "scope": scope or ["all"],
                                  "reason": "containers share the host kernel",
                                  "approver": "the lead", "expires": expires})


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
