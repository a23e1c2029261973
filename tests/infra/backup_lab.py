"""Helpers shared by the backup tests: which hosts back up what (from the inventory, i.e.
from the services' declarations), and running the client's tool on a host."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from municloud.core import paths

from .environment import ENV
from .environment import inventory as _inventory

TOOL = "/usr/local/sbin/municloud-backup"
CONFIG = "/etc/municloud-backup/config.json"
STATE = "/var/lib/municloud-backup/state.json"


def clients() -> list[str]:
    inv = _inventory()
    if inv is None:
        return []
    return [h for h, v in inv["all"]["hosts"].items() if v["municloud_backup_set"]["services"]]


@cache
def _role_defaults(role: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((paths.ROLES / role / "defaults" / "main.yml")
                                          .read_text())
    return data


def controller_client() -> str:
    """The repository name of the controller's own state on the backup server (empty when
    backup_server_controller_client disables it)."""
    return str(_role_defaults("backup_server").get("backup_server_controller_client") or "")


def controller_setting(name: str) -> Any:
    """A default of the role backup_controller, rendered for this environment (its paths
    derive from the state directory)."""
    d = _role_defaults("backup_controller")
    known = {"municloud_secrets_dir": str(paths.secrets_dir(ENV)),
             "backup_controller_state_dir": str(paths.env_state(ENV)),
             "backup_controller_client": str(d["backup_controller_client"])}
    if name in known:
        return known[name]
    value = d[name]
    return jinja2.Template(value).render(**known) if isinstance(value, str) else value


def controller_borg(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """borg on the controller against the controller's repository, as the role runs it."""
    work = Path(controller_setting("backup_controller_work_dir"))
    env = dict(os.environ,
               BORG_REPO=(f"ssh://municloud-backup-server"
                          f"{controller_setting('backup_controller_server_root')}/repos/"
                          f"{controller_setting('backup_controller_client')}"),
               BORG_RSH=f"ssh -F {shlex.quote(str(work / 'ssh_config'))}",
               BORG_PASSCOMMAND="cat " + shlex.quote(
                   controller_setting("backup_controller_passphrase_file")),
               BORG_BASE_DIR=str(work), BORG_RELOCATED_REPO_ACCESS_IS_OK="no",
               BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no")
    return subprocess.run(["borg", *args], env=env, capture_output=True, check=False,
                          text=True, timeout=timeout)


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
