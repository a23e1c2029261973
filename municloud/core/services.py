"""Service declarations: each role declares once, in `roles/<role>/meta/service.yml`, the
ports it serves and to whom, the web names the edge publishes, what must be backed up and
the controls it evidences. The firewall, security groups, edge proxy, backups and tests
all read these declarations through this module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from municloud.core import paths
from municloud.core.errors import InvalidInput, Problem

# Who may connect: the internet, hosts on a network of a given purpose, or the
# topology's admin sources (access.admin_sources: the controller, a bastion, a VPN).
Source = Literal["internet", "edge", "services", "data", "management", "admin"]
SOURCES: tuple[str, ...] = ("internet", "edge", "services", "data", "management", "admin")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Port(_Model):
    port: int = Field(ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535, description="last port of a range")
    proto: Literal["tcp", "udp"] = "tcp"
    sources: list[Source] = Field(alias="from")
    purpose: str


class Publish(_Model):
    """A web name the edge proxy publishes for this service."""

    upstream_port: int
    upstream_scheme: Literal["http", "https"] = "https"
    path: str = "/"


class BackupDecl(_Model):
    paths: list[str] = []
    pre: str | None = Field(default=None, description="command that writes a consistent dump")
    # Optional: how a restore loads the dump back and which units it stops meanwhile.
    # When absent, municloud.core.backup_sets derives both from the dump tool named in `pre`.
    restore: str | None = Field(default=None, description="command that loads the dump back")
    units: list[str] | None = Field(default=None,
                                    description="systemd units stopped during a restore")


class Service(_Model):
    name: str
    summary: str
    role: str = ""
    host_wide: bool = Field(default=False, description="applies to every host (the baseline)")
    ports: list[Port] = []
    publish: Publish | None = None
    backup: BackupDecl = BackupDecl()
    requires: list[str] = []
    controls: list[str] = []
    vendor: bool = False
    implemented: bool = True

    @property
    def stateful(self) -> bool:
        return bool(self.backup.paths)


def declaration_files(roles_dir: Path = paths.ROLES) -> list[Path]:
    return sorted(roles_dir.glob("*/meta/service.yml"))


@cache
def load_services(roles_dir: Path = paths.ROLES) -> dict[str, Service]:
    """Every declared service by name, `common` (host-wide) included."""
    problems: list[Problem] = []
    found: dict[str, Service] = {}
    for f in declaration_files(roles_dir):
        shown = str(f.relative_to(roles_dir.parent) if f.is_relative_to(roles_dir.parent) else f)
        role = f.parent.parent.name
        try:
            data = yaml.safe_load(f.read_text()) or {}
            data.setdefault("role", role)
            svc = Service.model_validate(data)
        except yaml.YAMLError as exc:
            problems.append(Problem(shown, "", f"not valid YAML: {exc}"))
            continue
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"])
                problems.append(Problem(shown, loc, e["msg"]))
            continue
        if svc.name in found:
            problems.append(Problem(shown, "name", f"service {svc.name!r} declared twice",
                                    "one declaration per service"))
        found[svc.name] = svc
    for svc in found.values():
        for dep in svc.requires:
            if dep not in found:
                problems.append(Problem(f"roles/{svc.role}/meta/service.yml", "requires",
                                        f"unknown service {dep!r}", ", ".join(sorted(found))))
    if problems:
        raise InvalidInput(problems)
    return found


def host_services(names: list[str], roles_dir: Path = paths.ROLES) -> list[Service]:
    """The host-wide services plus the named ones, in a stable order."""
    all_services = load_services(roles_dir)
    base = [s for s in all_services.values() if s.host_wide]
    return base + [all_services[n] for n in names if n in all_services]
