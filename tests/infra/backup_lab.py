"""Helpers shared by the backup tests: which hosts back up what (from the inventory, i.e.
from the services' declarations), and running the client's tool on a host."""

from __future__ import annotations

import json
import shlex
from typing import Any

from .environment import inventory as _inventory

TOOL = "/usr/local/sbin/municloud-backup"
CONFIG = "/etc/municloud-backup/config.json"
STATE = "/var/lib/municloud-backup/state.json"


def clients() -> list[str]:
    inv = _inventory()
    if inv is None:
        return []
    return [h for h, v in inv["all"]["hosts"].items() if v["municloud_backup_set"]["services"]]


def services() -> list[tuple[str, dict[str, Any]]]:
    """(host, service entry) for every implemented stateful service placed on a host."""
    inv = _inventory()
    if inv is None:
        return []
    return [(h, s) for h, v in inv["all"]["hosts"].items()
            for s in v["municloud_backup_set"]["services"]]


def backup_server(lab: dict[str, Any]) -> str:
    name: str = lab["all"]["vars"]["municloud_service_hosts"]["backup_server"][0]["name"]
    return name


def tool(host: Any, *args: str) -> Any:
    return host.run(" ".join([TOOL, *map(shlex.quote, args)]))


def ok(host: Any, *args: str) -> str:
    r = tool(host, *args)
    assert r.rc == 0, f"municloud-backup {' '.join(args)} failed ({r.rc}): {r.stderr or r.stdout}"
    out: str = r.stdout
    return out


def state(host: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(host.file(STATE).content_string)
    return data


def config(host: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(host.file(CONFIG).content_string)
    return data


def archives(host: Any) -> list[str]:
    names: list[str] = json.loads(ok(host, "list"))
    return names


def archive_listing(host: Any, archive: str, paths: list[str]) -> dict[str, str]:
    """path -> sha256 of every regular file of the archive under these paths (borg reads
    the chunks back from the repository to compute them)."""
    out = ok(host, "borg", "list", "--format", "{type}{TAB}{sha256}{TAB}{path}{TAB}{source}{NL}",
             f"::{archive}", *[p.lstrip("/") for p in paths])
    listing: dict[str, str] = {}
    links: dict[str, str] = {}
    for line in out.splitlines():
        kind, digest, path, source = line.split("\t")
        if kind in ("-", "h") and not digest and source:
            links["/" + path] = "/" + source  # a hard link: same bytes as its source
        elif kind == "-":
            listing["/" + path] = digest
    for path, source in links.items():
        listing[path] = listing[source]
    return listing


def live_listing(host: Any, paths: list[str]) -> dict[str, str]:
    """path -> sha256 of every regular file now under these paths on the host."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    r = host.run(f"find {quoted} -type f -print0 2>/dev/null | xargs -0 -r sha256sum")
    listing = {}
    for line in r.stdout.splitlines():
        digest, path = line.split(maxsplit=1)
        listing[path] = digest
    return listing
