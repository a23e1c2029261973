"""The main job's closing summary: hosts, services and their state, URLs, verification."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from municloud.core import remote
from municloud.core.inventory import ssh_config_file
from municloud.core.services import load_services
from municloud.core.topology import Topology

FACTS_DIR = "/etc/municloud/services"
SEPARATOR = "--municloud-record--"


def service_records(env: str, host: str) -> dict[str, dict[str, Any]]:
    """What each role recorded on a host (`/etc/municloud/services/<name>.json`)."""
    # One JSON document per file, one line or pretty-printed; files end with a separator.
    script = (f"for f in {FACTS_DIR}/*.json; do [ -e \"$f\" ] && cat \"$f\" && "
              f"printf '\\n{SEPARATOR}\\n'; done; true")
    try:
        proc = remote.run(host, [script], ssh_config_file(env), timeout=60)
    except subprocess.TimeoutExpired:
        return {}
    return parse_records(proc.stdout)


def parse_records(text: str) -> dict[str, dict[str, Any]]:
    """Records by component (or service) name from the separated JSON documents."""
    records: dict[str, dict[str, Any]] = {}
    for chunk in text.split(SEPARATOR):
        try:
            rec = json.loads(chunk) if chunk.strip() else None
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            records[str(rec.get("component") or rec.get("service", "?"))] = rec
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
        names = baseline + list(h.services)
        # Components a host runs besides its declared services (e.g. the backup client).
        names += sorted({str(r.get("service")) for r in recs.values()} - set(names))
        for name in names:
            related = {k: v for k, v in recs.items()
                       if k == name or v.get("service") == name}
            if not related and name in services:
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
