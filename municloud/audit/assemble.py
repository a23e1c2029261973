"""From gathered evidence to the report: every catalog control, waivers applied, secrets
masked, summaries per framework and per host."""

from __future__ import annotations

import datetime as dt
import subprocess

from municloud.audit import secrets_scan
from municloud.audit.collect import Gathered, now
from municloud.audit.report_model import (
    ControlResult,
    Evidence,
    Report,
    Status,
    WaiverInfo,
    combine,
    frameworks_of,
    summarise,
)
from municloud.audit.waivers import Waiver, waiver_for
from municloud.core import paths
from municloud.core.controls import catalog
from municloud.core.topology import Topology

REPORT_CONTROL = "SEC-RPT-01"  # no secret in the report itself: judged by the renderers


def commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.REPO,
                          capture_output=True, text=True, timeout=10, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=paths.REPO, capture_output=True, text=True, timeout=10,
                           check=False).stdout.strip()
    return (proc.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def _apply_waiver(ev: Evidence, w: Waiver | None, today: dt.date) -> Evidence:
    if w is None or ev.outcome in ("pass", "not applicable"):
        return ev
    if ev.outcome == "waived" and not w.expired(today):
        return ev  # the check itself honoured the waiver (and said so)
    if w.expired(today):
        return ev.model_copy(update={"outcome": "fail", "excerpt": (
            f"waiver expired on {w.expires} (approved by {w.approver}): {ev.excerpt}")})
    return ev.model_copy(update={"outcome": "waived", "excerpt": (
        f"waived until {w.expires} by {w.approver}: {w.reason} | {ev.excerpt}")})


def _reason(status: Status, evidence: list[Evidence]) -> str:
    if status == "pass":
        return ""
    first = next((e for e in evidence if e.outcome == status), None)
    if first is None:
        return "no check of this control ran in this audit"
    return f"{first.where}: {first.excerpt.splitlines()[0] if first.excerpt else first.check}"


def build(topo: Topology, gathered: Gathered, waivers: list[Waiver], seconds: float,
          secrets: list[secrets_scan.Secret], today: dt.date | None = None) -> Report:
    today = today or dt.date.today()
    services = {h.name: tuple(h.services) for h in topo.hosts}
    host_names = set(services)
    results = []
    for cid, ctl in sorted(catalog().items()):
        evidence = [_apply_waiver(e, waiver_for(waivers, cid, e.where, services.get(
            e.where, ())), today) for e in gathered.evidence.get(cid, [])]
        waiver = next((w for w in waivers if w.control == cid), None)
        if waiver is not None and waiver.expired(today):
            evidence.append(Evidence(layer="report", check=f"waiver of {cid}",
                                     where=", ".join(waiver.scope), when=now(),
                                     outcome="fail",
                                     excerpt=f"the waiver expired on {waiver.expires} "
                                             f"(approved by {waiver.approver}): "
                                             f"{waiver.reason}"))
        evidence = [e.model_copy(update={"excerpt": secrets_scan.mask(e.excerpt, secrets),
                                         "check": secrets_scan.mask(e.check, secrets)})
                    for e in evidence]
        per_host: dict[str, list[str]] = {}
        for e in evidence:
            if e.where in host_names:
                per_host.setdefault(e.where, []).append(e.outcome)
        status = combine([e.outcome for e in evidence])
        if not evidence:
            status = "not run"
        results.append(ControlResult(
            id=cid, title=ctl.title, references=list(ctl.references),
            frameworks=frameworks_of(list(ctl.references)), checked_by=list(ctl.checked_by),
            status=status, reason=_reason(status, evidence),
            hosts={h: combine(o) for h, o in sorted(per_host.items())}, evidence=evidence,
            waiver=WaiverInfo(**waiver.as_dict(today)) if waiver else None))  # type: ignore[arg-type]
    return Report(environment=topo.environment, municipality=topo.municipality.name,
                  generated=now(), seconds=round(seconds, 1), commit=commit(),
                  layers=sorted(gathered.layers, key=lambda layer: layer.layer),
                  controls=results,
                  waivers=[WaiverInfo(**w.as_dict(today)) for w in waivers],  # type: ignore[arg-type]
                  summary=summarise(results))


def judge_secrets_in_report(report: Report, rendered: dict[str, str],
                            secrets: list[secrets_scan.Secret]) -> Report:
    """SEC-RPT-01: no secret of the store in any rendered form of the report. Records the
    verdict in the report (its status then shows in what is written)."""
    if REPORT_CONTROL not in {c.id for c in report.controls}:
        return report
    hits = [h for fmt, text in rendered.items()
            for h in secrets_scan.in_text(text, secrets, f"report.{fmt}")]
    ev = Evidence(layer="report", check=f"the {len(secrets)} secrets of the controller's "
                  "store searched in the rendered report (" + ", ".join(sorted(rendered)) + ")",
                  where="controller", when=now(), outcome="fail" if hits else "pass",
                  excerpt=("found: " + ", ".join(f"{h.secret} in {h.where}" for h in hits))
                  if hits else "no secret value in the report; evidence masked before "
                  "rendering")
    controls = []
    for c in report.controls:
        if c.id == REPORT_CONTROL:
            evs = [*c.evidence, ev]
            status = combine([e.outcome for e in evs])
            c = c.model_copy(update={"evidence": evs, "status": status,
                                     "reason": _reason(status, evs)})
        controls.append(c)
    return report.model_copy(update={"controls": controls, "summary": summarise(controls)})


def missing_controls(report: Report) -> list[str]:
    """Catalog controls the report does not account for (it must hold every one)."""
    present = {c.id for c in report.controls}
    return sorted(set(catalog()) - present)
