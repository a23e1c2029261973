"""Gather the evidence of one environment, layer by layer, into per-control results.

- plan: the cloud rules over the stack's resources (municloud.audit.plan);
- host: `municloud verify`'s state checks, run now; the exercises and drills it leaves
  out are read from their last records (`municloud verify --all`), with their age;
- unit: the offline tests that evidence controls checked by `unit` (catalog, topology
  checker, artifact manifest), through the same recording plugin;
- cloud: `municloud audit cloud` when the topology names an OpenStack cloud;
- drift: a check-mode run of the site playbook; each changed task is a BASE-IDEM-01
  finding with its diff (secrets masked).

The layers run side by side (they wait on subprocesses and the network).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from municloud.audit import secrets_scan
from municloud.audit.report_model import Evidence, Layer, LayerInfo, Status
from municloud.core import paths
from municloud.core.controls import catalog
from municloud.core.topology import Topology

if TYPE_CHECKING:
    from municloud.deploy.ansible_run import PlayResult

DRIFT_CONTROL = "BASE-IDEM-01"
DRIFT_TEST = "test_drift.py::"  # the exercise the drift layer replaces with a fresh run
# Check-mode runs side by side in the drift layer (docs/benchmarks.md: audit).
DRIFT_RUNS = 3
UNIT_TIMEOUT = 600  # seconds for the unit layer's offline tests
EXCERPT = 1500


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def age(when: str, at: dt.datetime | None = None) -> float | None:
    try:
        then = dt.datetime.fromisoformat(when)
    except (TypeError, ValueError):
        return None
    return round(((at or dt.datetime.now(dt.UTC)) - then).total_seconds(), 1)


@dataclass
class Gathered:
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    layers: list[LayerInfo] = field(default_factory=list)

    def add(self, control: str, ev: Evidence) -> None:
        self.evidence.setdefault(control, []).append(ev)

    def merge(self, other: Gathered) -> None:
        for c, evs in other.evidence.items():
            for e in evs:
                self.add(c, e)
        self.layers += other.layers


def outcome_of(record: dict[str, Any]) -> Status:
    """A verify record's outcome as a report status."""
    o, reason = record.get("outcome"), str(record.get("reason", "")).lower()
    if o == "passed":
        return "pass"
    if o == "failed":
        return "fail"
    if o == "skipped":
        if reason.startswith("waived"):
            return "waived"
        if "not deployed" in reason or "not implemented" in reason or "artifact" in reason:
            return "not deployed"
        return "not applicable"
    return "not run"


def _record_evidence(g: Gathered, layer: Layer, r: dict[str, Any], *, read_back: bool) -> None:
    status = outcome_of(r)
    excerpt = r.get("excerpt") or r.get("reason") or (
        f"passed in {r.get('seconds', '?')} s" if status == "pass" else "")
    check = r["test"] + (f": {r['check']}" if r.get("check") else "")
    if read_back:
        check += " (last record)"
    for c in r.get("controls", []):
        g.add(c, Evidence(layer=layer, check=check, where=r.get("host") or "controller",
                          when=r.get("when") or "", outcome=status,
                          age_seconds=age(r.get("when", "")) if read_back else None,
                          excerpt=str(excerpt)[-EXCERPT:]))


def hosts(env: str, workers: int, skip_drift_test: bool,
          extra: list[str] | None = None) -> Gathered:
    """`extra`: more pytest arguments (e.g. `-k backup1` for one host's checks)."""
    from municloud.deploy import verify

    g = Gathered()
    start = time.monotonic()
    _, results = verify.run_tests(env, quiet=True, workers=workers, extra=extra)
    records = verify.last_records(env)
    fresh = read = missing = 0
    for r in results:
        if skip_drift_test and DRIFT_TEST in r["test"]:
            continue
        if r["outcome"] != "not run":
            fresh += 1
            _record_evidence(g, "host", r, read_back=False)
        elif r["test"] in records:
            read += 1
            _record_evidence(g, "host", records[r["test"]], read_back=True)
        else:
            missing += 1
            _record_evidence(g, "host", {**r, "reason": f"never run: {r.get('reason', '')}",
                                         "when": ""}, read_back=False)
    g.layers.append(LayerInfo(
        layer="host", state="ran", seconds=round(time.monotonic() - start, 1),
        detail=f"{fresh} state checks run now ({workers} workers); {read} exercise and drill "
               f"results read from their last records; {missing} never run"))
    return g


def host_records(env: str) -> Gathered:
    """The hosts layer from the last records alone: what `municloud run` uses right after
    its `verify --all`, instead of running the checks a second time."""
    from municloud.deploy import verify

    g = Gathered()
    records = verify.last_records(env)
    for r in records.values():
        _record_evidence(g, "host", r, read_back=True)
    g.layers.append(LayerInfo(layer="host", state="ran" if records else "error", seconds=0.0,
                              detail=f"{len(records)} results read from the records of the "
                                     "last `municloud verify` runs"))
    return g


def unit_test_files(controls: set[str]) -> list[Path]:
    """The files under tests/unit naming one of `controls` in a marker (the report's own
    tests excluded: they render reports in a browser)."""
    wanted = re.compile(r"""control\(([^)]*)\)""")
    found = []
    for f in sorted((paths.TESTS / "unit").glob("test_*.py")):
        if f.name.startswith("test_audit"):
            continue
        named = {i for m in wanted.finditer(f.read_text()) for i in re.findall(
            r"""["']([A-Z0-9-]+)["']""", m.group(1))}
        if named & controls:
            found.append(f)
    return found


def unit_records_file(env: str) -> Path:
    return paths.env_state(env) / "audit" / "unit-records.json"


def unit(env: str, commit: str) -> Gathered:
    """The offline tests of the controls checked by `unit`, recorded by verify's plugin.

    They judge the code, not the hosts: their results are kept per commit, and a clean
    tree at the commit of the last run reuses them (shown as a record with its age)."""
    g = Gathered()
    start = time.monotonic()
    unit_controls = {c.id for c in catalog().values() if "unit" in c.checked_by}
    cache = unit_records_file(env)
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    reuse = cached.get("commit") == commit and not commit.endswith("+changes")
    if reuse:
        results, code = cached["results"], cached["exit"]
    else:
        with tempfile.TemporaryDirectory(prefix="municloud-audit-unit-") as tmp:
            out = Path(tmp) / "unit.json"
            from municloud.deploy.verify import bytecode_cache

            # Compiled modules kept as verify keeps them (its bytecode cache).
            environ = dict(os.environ, MUNICLOUD_VERIFY_REPORT=str(out), MUNICLOUD_ENV=env,
                           **bytecode_cache(env))
            environ.pop("PYTHONDONTWRITEBYTECODE", None)
            environ.pop("MUNICLOUD_VERIFY_EVENTS", None)  # not an outer run's progress
            try:
                code = subprocess.run([sys.executable, "-m", "pytest", "-p",
                                       "municloud.deploy.verify_plugin",
                                       *map(str, unit_test_files(unit_controls)), "-q", "-p",
                                       "no:cacheprovider", "--no-header", "-n", "2"],
                                      cwd=paths.REPO, env=environ, capture_output=True,
                                      text=True, timeout=UNIT_TIMEOUT,
                                      check=False).returncode
            except subprocess.TimeoutExpired:
                # The layer is in error (its controls not run), not the whole report.
                g.layers.append(LayerInfo(
                    layer="unit", state="error", seconds=round(time.monotonic() - start, 1),
                    detail=f"the offline tests did not finish within {UNIT_TIMEOUT} s"))
                return g
            results = json.loads(out.read_text()) if out.exists() and out.read_text() else []
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"commit": commit, "exit": code, "results": results}))
    for r in results:
        r = {**r, "controls": [c for c in r["controls"] if c in unit_controls]}
        _record_evidence(g, "unit", r, read_back=reuse)
    how = f"reused from the run at commit {commit}" if reuse else "run now"
    g.layers.append(LayerInfo(layer="unit", state="ran" if results else "error",
                              seconds=round(time.monotonic() - start, 1),
                              detail=f"{len(results)} offline tests, {how} (pytest exit "
                                     f"{code})"))
    return g


def _per_control(g: Gathered, layer: Layer, controls: list[str], where: str,
                 found: dict[str, list[Any]], what: str) -> None:
    when = now()
    for c in controls:
        fs = found.get(c, [])
        if fs:
            for f in fs:
                g.add(c, Evidence(layer=layer, check=f"rule {c} over {what}", where=where,
                                  when=when, outcome="fail",
                                  excerpt=f"{f.kind} {f.name}: {f.message}"))
        else:
            g.add(c, Evidence(layer=layer, check=f"rule {c} over {what}", where=where,
                              when=when, outcome="pass", excerpt="no finding"))


def _not_applicable(layer: Layer, checked_by: str, why: str) -> Gathered:
    g = Gathered()
    for c in catalog().values():
        if checked_by in c.checked_by:
            g.add(c.id, Evidence(layer=layer, check=f"{layer} layer", where="-", when=now(),
                                 outcome="not applicable", excerpt=why))
    g.layers.append(LayerInfo(layer=layer, state="not applicable", detail=why, seconds=0.0))
    return g


def plan(topo: Topology, preview: Path | None) -> Gathered:
    from municloud.audit import plan as planning

    if topo.openstack is None and preview is None:
        return _not_applicable("plan", "plan", f"not applicable: environment "
                               f"{topo.environment} runs on platform {topo.platform}, "
                               "there is no Pulumi stack")
    g = Gathered()
    start = time.monotonic()
    found, count = planning.findings(topo, preview)
    what = (f"the saved preview {preview}" if preview
            else f"the Pulumi program (mocked) for stack {topo.environment}")
    controls = [c.id for c in catalog().values() if "plan" in c.checked_by]
    _per_control(g, "plan", controls, f"stack {topo.environment}",
                 {k: list(v) for k, v in found.items()}, f"{count} resources of {what}")
    g.layers.append(LayerInfo(layer="plan", state="ran", seconds=round(time.monotonic() -
                                                                       start, 1),
                              detail=f"{count} resources judged ({what})"))
    return g


def cloud(topo: Topology) -> Gathered:
    if topo.openstack is None:
        return _not_applicable("cloud", "cloud", "not applicable: no cloud (platform "
                               f"{topo.platform})")
    from municloud.audit.cloud import audit
    from municloud.core.errors import UserError

    name = topo.openstack.cloud
    start = time.monotonic()
    try:
        report = audit(name, topo.environment)
    except (UserError, OSError) as exc:
        g = Gathered()
        for c in catalog().values():
            if "cloud" in c.checked_by:
                g.add(c.id, Evidence(layer="cloud", check="municloud audit cloud",
                                     where=f"cloud {name}", when=now(), outcome="not run",
                                     excerpt=f"cloud unreachable: {exc}"[:EXCERPT]))
        g.layers.append(LayerInfo(layer="cloud", state="error", detail=str(exc)[:300],
                                  seconds=round(time.monotonic() - start, 1)))
        return g
    g = Gathered()
    by: dict[str, list[Any]] = {}
    for f in report.findings:
        by.setdefault(f.control, []).append(f)
    controls = [c.id for c in catalog().values() if "cloud" in c.checked_by]
    _per_control(g, "cloud", controls, f"cloud {name}", by,
                 f"the live estate ({report.servers} servers)")
    g.layers.append(LayerInfo(layer="cloud", state="ran", seconds=round(report.seconds, 1),
                              detail=f"cloud {name}: {report.servers} servers, "
                                     f"{len(report.findings)} findings"))
    return g


def _check_runs(env: str, parts: list[list[str]]) -> PlayResult:
    """Check-mode runs of the site playbook side by side, one per part of the hosts, as
    one result (each part's own hosts only). The site playbook's service plays run one
    after the other, each on its own few hosts: split by host, they overlap."""
    from municloud.deploy.ansible_run import PlayResult, run_playbook

    def one(part: list[str]) -> PlayResult:
        return run_playbook(env, "site.yml", check=True, quiet=True, limit=":".join(part))

    out = PlayResult(0)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        for part, r in zip(parts, pool.map(one, parts), strict=True):
            out.returncode = max(out.returncode, r.returncode)
            out.changed += [t for t in r.changed if t["host"] in part]
            out.failed += [t for t in r.failed if t["host"] in part]
            out.stats.update({h: s for h, s in r.stats.items() if h in part})
    return out


def drift(env: str, topo: Topology, secrets: list[secrets_scan.Secret],
          limit: str | None = None, runs: int = DRIFT_RUNS) -> Gathered:
    """`runs`: check-mode runs side by side, the hosts dealt among them (the controller's
    own play, the PKI, goes with the first)."""
    g = Gathered()
    start = time.monotonic()
    names = [h.name for h in topo.hosts]
    parts = ([limit.split(":")] if limit else
             [p for p in (names[i::max(runs, 1)] for i in range(max(runs, 1))) if p])
    if not limit:
        parts[0] = ["localhost", *parts[0]]
    result = _check_runs(env, parts)
    when = now()
    check = "check-mode run of playbooks/site.yml (--check --diff)"
    for host in (h.name for h in topo.hosts if limit is None or h.name in limit.split(":")):
        changed = [t for t in result.changed if t["host"] == host]
        failed = [t for t in result.failed if t["host"] == host]
        if host not in result.stats and not failed:
            g.add(DRIFT_CONTROL, Evidence(layer="drift", check=check, where=host, when=when,
                                          outcome="not run",
                                          excerpt="the check run did not reach this host"))
            continue
        for t in failed:
            g.add(DRIFT_CONTROL, Evidence(
                layer="drift", check=check, where=host, when=when, outcome="fail",
                excerpt=secrets_scan.mask(f"task failed: {t['role']} : {t['task']}\n"
                                          f"{t.get('msg', '')}", secrets)[:EXCERPT]))
        for t in changed:
            diff = secrets_scan.mask(str(t.get("diff") or "(no diff reported)"), secrets)
            g.add(DRIFT_CONTROL, Evidence(
                layer="drift", check=f"{check}: {t['role'] + ' : ' if t['role'] else ''}"
                f"{t['task']}", where=host, when=when, outcome="fail",
                excerpt=f"would change ({t.get('path', '')}):\n{diff}"[:EXCERPT]))
        if not changed and not failed:
            s = result.stats.get(host, {})
            g.add(DRIFT_CONTROL, Evidence(layer="drift", check=check, where=host, when=when,
                                          outcome="pass",
                                          excerpt=f"no drift: changed=0, ok={s.get('ok', 0)}"))
    g.layers.append(LayerInfo(layer="drift", state="ran" if result.stats else "error",
                              seconds=round(time.monotonic() - start, 1),
                              detail=f"check mode on {len(result.stats)} hosts "
                                     f"({len(parts)} runs side by side): "
                                     f"{len(result.changed)} changed tasks, "
                                     f"{len(result.failed)} failed (exit "
                                     f"{result.returncode})"))
    return g


def _unreached(layer: Layer, env: str) -> Gathered:
    from municloud.core.inventory import ssh_config_file

    why = (f"the hosts of {env} were not reached (no {ssh_config_file(env)})"
           if not ssh_config_file(env).exists() else "left out (--no-drift)")
    g = Gathered()
    g.layers.append(LayerInfo(layer=layer, state="error", detail=why, seconds=0.0))
    if layer == "drift":
        g.add(DRIFT_CONTROL, Evidence(layer="drift", check="check-mode run", where="-",
                                      when=now(), outcome="not run", excerpt=why))
    return g


def gather(topo: Topology, *, workers: int, preview: Path | None = None,
           with_drift: bool = True, with_hosts: bool = True, with_unit: bool = True,
           hosts_from_records: bool = False) -> Gathered:
    env = topo.environment
    secrets = secrets_scan.load(env)
    jobs: list[Callable[[], Gathered]] = [lambda: plan(topo, preview), lambda: cloud(topo)]
    if with_hosts and hosts_from_records:
        jobs.append(lambda: host_records(env))
    elif with_hosts:
        jobs.append(lambda: hosts(env, workers, skip_drift_test=with_drift))
    else:
        jobs.append(lambda: _unreached("host", env))
    if with_drift:
        jobs.append(lambda: drift(env, topo, secrets))
    elif not hosts_from_records:
        jobs.append(lambda: _unreached("drift", env))
    if with_unit:
        from municloud.audit.assemble import commit

        revision = commit()
        jobs.append(lambda: unit(env, revision))
    out = Gathered()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for part in pool.map(lambda job: job(), jobs):
            out.merge(part)
    return out
