"""The main job's closing summary: hosts, services and their state, URLs, verification."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from municloud.inventory import ssh_config_file
from municloud.services import load_services
from municloud.topology import Topology

FACTS_DIR = "/etc/municloud/services"


def service_records(env: str, host: str) -> dict[str, dict[str, Any]]:
    """What each role recorded on a host (`/etc/municloud/services/<name>.json`)."""
    cmd = ["ssh", "-F", str(ssh_config_file(env)), host,
           f"for f in {FACTS_DIR}/*.json; do [ -e \"$f\" ] && cat \"$f\" && echo; done; true"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    records: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[rec.get("component") or rec.get("service", "?")] = rec
    return records


def service_rows(topo: Topology) -> list[tuple[str, str, str, str]]:
    """(host, service, state, detail) for every service of every host, the baseline first."""
    services = load_services()
    baseline = [s.name for s in services.values() if s.host_wide]
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = dict(zip([h.name for h in topo.hosts],
                           pool.map(lambda h: service_records(topo.environment, h.name),
                                    topo.hosts), strict=True))
    rows = []
    for h in topo.hosts:
        recs = records[h.name]
        for name in baseline + list(h.services):
            related = {k: v for k, v in recs.items()
                       if k == name or v.get("service") == name}
            if not related:
                svc = services[name]
                why = ("role not implemented yet" if not svc.implemented
                       else "no record on the host")
                rows.append((h.name, name, "NOT DEPLOYED", why))
                continue
            for comp, rec in sorted(related.items()):
                status = str(rec.get("status", "?"))
                label = name if comp == name else f"{name}/{comp}"
                detail = rec.get("reason") or rec.get("version") or ""
                rows.append((h.name, label,
                             "deployed" if status == "deployed" else status.upper(), detail))
    return rows


def urls(topo: Topology) -> list[tuple[str, str]]:
    return [(svc, f"https://{name}/") for svc, name in sorted(topo.public_names.items())]
