"""`municloud audit ENV`: collect, assemble and write the compliance report."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from municloud.audit import assemble, collect, history, render_html, render_junit, secrets_scan
from municloud.audit import waivers as waiver_file
from municloud.audit.report_model import Report
from municloud.core import paths, topology
from municloud.core.errors import UserError
from municloud.core.inventory import ssh_config_file

FORMATS = ("html", "json", "junit")
FILENAMES = {"html": "report.html", "json": "report.json", "junit": "report.junit.xml"}


@dataclass
class Written:
    report: Report
    files: dict[str, Path]


def default_out(env: str) -> Path:
    return paths.env_state(env) / "audit"


def render(report: Report) -> dict[str, str]:
    return {"json": report.model_dump_json(indent=1) + "\n",
            "html": render_html.render(report), "junit": render_junit.render(report)}


def parse_formats(text: str) -> list[str]:
    wanted = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise UserError(f"--format: unknown {', '.join(bad) or '(empty)'} "
                        f"(allowed: a comma-separated list of {', '.join(FORMATS)})")
    return wanted


def run(env: str, *, formats: list[str], out: Path | None = None, since: Path | None = None,
        preview: Path | None = None, workers: int = 6, drift: bool = True,
        reuse_verify: bool = False) -> Written:
    """Collect, assemble and write. `reuse_verify`: the hosts layer from the records the
    last `municloud verify --all` left (exercises included, so BASE-IDEM-01 is its
    check-mode exercise) instead of running the checks and the check-mode run again."""
    topo = topology.load(env)
    scopes = {h.name for h in topo.hosts} | {s for h in topo.hosts for s in h.services}
    waivers = waiver_file.load(env, known_scopes=scopes)  # refused before anything runs
    earlier = history.load(since) if since else None
    reachable = ssh_config_file(env).exists()
    if topo.platform == "lab" and not reachable:
        raise UserError(f"the lab '{env}' is not up: run `municloud lab up --env {env}` first")
    start = time.monotonic()
    gathered = collect.gather(topo, workers=workers, preview=preview,
                              with_drift=drift and reachable and not reuse_verify,
                              with_hosts=reachable, hosts_from_records=reuse_verify)
    secrets = secrets_scan.load(env)
    report = assemble.build(topo, gathered, waivers, time.monotonic() - start, secrets)
    if earlier is not None and since is not None:
        report = report.model_copy(update={"comparison": history.compare(earlier, report,
                                                                         str(since))})
    report = assemble.judge_secrets_in_report(report, render(report), secrets)
    rendered = render(report)
    target = out or default_out(env)
    target.mkdir(parents=True, exist_ok=True)
    files = {}
    for fmt in formats:
        f = target / FILENAMES[fmt]
        f.write_text(rendered[fmt])
        files[fmt] = f
    # Every report's JSON is also kept by date: the history `--since` compares with.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    archive = target / "history"
    archive.mkdir(exist_ok=True)
    (archive / f"report-{stamp}.json").write_text(rendered["json"])
    return Written(report, files)
