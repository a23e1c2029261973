"""What each host must back up, derived from the declarations of the services it runs.

Every stateful role declares in `roles/<role>/meta/service.yml`:

    backup:
      paths: [/var/backups/municloud/directory]          # what borg takes
      pre: slapcat -n 1 -l /var/backups/municloud/directory/data.ldif   # consistent dump
      restore: ...      # optional: how the dump is loaded back
      units: [...]      # optional: systemd units stopped while restoring
      post: ...         # optional: run after the archive is written, also when it failed

The backup role lists no service: the inventory gives each host `municloud_backup_set`
(built here) and the `backup_client` role and the restore playbooks read it. A restore
needs the reverse of the dump step; when the declaration does not say it, it is derived
from the dump tool named in `pre` (slapcat -> slapadd with slapd stopped, mariadb-dump ->
the mariadb client with the server running). A dump tool this module does not know and
no `restore:` declared means the restore puts the dump files back and stops there,
saying so (`load_known: false`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.core.services import Service, load_services


@dataclass(frozen=True)
class Derived:
    restore: str | None
    units: list[str]
    dumps: list[str]


def _option(words: list[str], short: str, long: str) -> str | None:
    """The value of `-x V`, `-xV`, `--long=V` or `--long V` in a command line."""
    for i, w in enumerate(words):
        if w in (short, long) and i + 1 < len(words):
            return words[i + 1]
        if long and w.startswith(long + "="):
            return w.split("=", 1)[1]
        if short and w.startswith(short) and len(w) > len(short) and not w.startswith("--"):
            return w[len(short):]
    return None


def _redirect_target(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        if w == ">" and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(">") and len(w) > 1:
            return w[1:]
    return None


# The LDAP database directory is read from cn=config at restore time (Debian's default
# /var/lib/ldap when cn=config names none), so a role may move it.
_SLAPADD = (
    "set -e; db=$(slapcat -n 0 2>/dev/null | sed -n 's/^olcDbDirectory: //p' | head -n 1); "
    "db=${{db:-/var/lib/ldap}}; find \"$db\" -mindepth 1 -delete; "
    "slapadd -q -n {n} -l {file}; chown -R openldap:openldap \"$db\""
)


def derive(pre: str | None) -> Derived:
    """Restore command, units to stop and dump files implied by a dump command."""
    if not pre:
        return Derived(None, [], [])
    words = shlex.split(pre)
    tool = Path(words[0]).name if words else ""
    if tool == "slapcat":
        out = _option(words, "-l", "") or _redirect_target(words)
        n = _option(words, "-n", "") or "1"
        if out:
            return Derived(_SLAPADD.format(n=shlex.quote(n), file=shlex.quote(out)),
                           ["slapd"], [out])
    if tool in ("mariadb-dump", "mysqldump"):
        out = _option(words, "-r", "--result-file") or _redirect_target(words)
        if out:
            # The server must run to load the dump; privileges come back with mysql.*.
            return Derived(f"mariadb < {shlex.quote(out)} && mariadb -e 'FLUSH PRIVILEGES'",
                           [], [out])
    out = _redirect_target(words)
    return Derived(None, [], [out] if out else [])


def service_entry(svc: Service) -> dict[str, Any]:
    d = derive(svc.backup.pre)
    restore = svc.backup.restore or d.restore
    return {
        "name": svc.name,
        "paths": list(svc.backup.paths),
        "pre": svc.backup.pre,
        "post": svc.backup.post,
        "restore": restore,
        "units": list(svc.backup.units) if svc.backup.units is not None else d.units,
        "dumps": d.dumps,
        # False when the service dumps with a tool whose reverse is unknown: a restore
        # then only puts the dump files back.
        "load_known": restore is not None or not svc.backup.pre,
    }


def for_host(service_names: list[str], roles_dir: Path = paths.ROLES) -> dict[str, Any]:
    """The backup set of a host running these services: only implemented, stateful ones."""
    declared = load_services(roles_dir)
    entries = [service_entry(declared[n]) for n in service_names
               if n in declared and declared[n].stateful and declared[n].implemented]
    union: list[str] = []
    for e in entries:
        union += [p for p in e["paths"] if p not in union]
    return {"services": entries, "paths": union}


def stateful_declared(roles_dir: Path = paths.ROLES) -> dict[str, Service]:
    """Every declared stateful service (implemented or not), for reports and tests."""
    return {n: s for n, s in load_services(roles_dir).items() if s.stateful}
