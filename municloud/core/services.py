"""Service declarations: each role declares once, in `roles/<role>/meta/service.yml`, the
ports it serves and to whom, the web names the edge publishes, what must be backed up,
what it needs from other services (`needs:` a database, a directory bind account, a mail
relay, an OIDC client) and the controls it evidences. The firewall, security groups, edge
proxy, backups, providers (db, directory, mail, identity) and tests all read these
declarations through this module; `municloud.core.needs` turns `needs:` into each
provider's list of consumers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from municloud.core import artifact_manifest, paths
from municloud.core.declared import declaration_files
from municloud.core.errors import InvalidInput, Problem

# Who may connect: the internet, hosts on a network of a given purpose, the topology's
# admin sources (access.admin_sources: the controller, a bastion, a VPN), or `consumers`:
# the networks of the hosts running a service that declares a need this service provides
# (PROVIDERS; e.g. mail's submission port from the services needing mail_relay).
Source = Literal["internet", "edge", "services", "data", "management", "admin", "consumers"]
SOURCES: tuple[str, ...] = ("internet", "edge", "services", "data", "management", "admin",
                            "consumers")

# Access levels of the login page: TAXISnet = full, Google/Facebook = limited, a staff
# account of the directory = staff.
Level = Literal["full", "limited", "staff"]
LEVELS: tuple[str, ...] = ("full", "limited", "staff")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Port(_Model):
    port: int = Field(ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535, description="last port of a range")
    proto: Literal["tcp", "udp"] = "tcp"
    sources: list[Source] = Field(alias="from")
    purpose: str
    # The vendor part serving this port: an artifact of inventories/artifacts.yml or a
    # package of an apt artifact (e.g. jitsi-videobridge2). The port is opened only where
    # the environment's manifest lets that part be deployed (municloud.core.deployable).
    component: str | None = None


# IP protocols without ports that a service may speak between its own hosts, with their
# protocol numbers (nftables names them, Neutron takes the name or the number).
IP_PROTOCOLS: dict[str, int] = {"vrrp": 112}


class IpProtocol(_Model):
    """An IP protocol without ports (VRRP: keepalived moving the edge's virtual address),
    admitted only from `peers`: the other hosts running the same service on the same
    network. VRRP is opened only where the topology gives that network a virtual address
    (municloud.core.ports.protocol_rules)."""

    protocol: Literal["vrrp"]
    sources: list[Literal["peers"]] = Field(alias="from", min_length=1)
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
    post: str | None = Field(default=None,
                             description="command run after the archive is written, also "
                                         "when it failed (e.g. start what `pre` stopped)")


# A database, user, schema or account name: lower case, starts with a letter, at most 32
# characters (MariaDB's user name limit).
_NAME = r"^[a-z][a-z0-9_]{0,31}$"
_URL_PATH = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"
_UNIT = r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,250}\.service$"


class UnitSettings(_Model):
    """How systemd handles one declared unit after a crash, where its packaged unit file
    does not do it well (roles/common/tasks/restart.yml writes these into the unit's
    restart drop-in). Unset fields keep the packaged unit's own setting."""

    # A crashed main process can leave workers that wait for it: systemd sends them SIGTERM,
    # then SIGKILL after TimeoutStopSec (90 s by default), and only then restarts the unit.
    stop_timeout: str | None = Field(default=None, pattern=r"^[1-9][0-9]*(ms|s|min)$",
                                     description="TimeoutStopSec, e.g. 15s")
    kill_mode: Literal["control-group", "mixed", "process"] | None = Field(
        default=None, description="KillMode: which processes a stop signals")
    # A forking daemon whose unit names no main process (systemd then cannot see it die).
    pid_file: str | None = Field(default=None, pattern=r"^/[^\s]*$",
                                 description="PIDFile: where the daemon writes its main PID")


class DatabaseNeed(_Model):
    """db creates database `name` and user `name`, allowed only from this service's hosts
    over TLS; the password is at <secrets>/db/<service>.password."""

    name: str = Field(pattern=_NAME)


class DirectoryNeed(_Model):
    """directory creates the read-only bind account uid=<service>,ou=services,<base>; its
    password is at <secrets>/directory/<service>.password."""

    account: bool = True


class MailRelayNeed(_Model):
    """mail accepts submission (587) from this service's hosts."""


class OidcClientNeed(_Model):
    """identity registers an OpenID Connect relying party (client_id = the service name);
    the paths are joined to https://<public name of the service>."""

    redirect_paths: list[str] = Field(min_length=1)
    post_logout_paths: list[str] = []
    levels: list[Level] = Field(default=["staff"], min_length=1)
    claims: list[str] = ["uid", "mail", "groups", "access_level"]
    # Lifetime of the access tokens issued to this client (default: the identity
    # declaration's sessions.access_token_seconds). A service that hands the person's token
    # to a backend for the whole of its own session (webmail: IMAP XOAUTH2 on every
    # request) asks for that session's length; the provider still ends the token with the
    # single sign-on session (introspection answers inactive after a logout).
    access_token_seconds: int | None = Field(default=None, ge=60, le=86400)

    @model_validator(mode="after")
    def _paths(self) -> Self:
        for field in ("redirect_paths", "post_logout_paths"):
            for p in getattr(self, field):
                if not re.match(_URL_PATH, p):
                    raise ValueError(f"{field}: {p!r} is not an absolute URL path "
                                     "(allowed: a path starting with /, no scheme or host)")
        return self


class Needs(_Model):
    """What a service needs from its providers (see PROVIDERS)."""

    database: DatabaseNeed | None = None
    directory: DirectoryNeed | None = None
    mail_relay: MailRelayNeed | None = None
    oidc_client: OidcClientNeed | None = None


# Which service provides each kind of need: a consumer converges after its providers.
PROVIDERS: dict[str, str] = {
    "database": "db",
    "directory": "directory",
    "mail_relay": "mail",
    "oidc_client": "identity",
}
NEED_KINDS: tuple[str, ...] = tuple(PROVIDERS)


class Service(_Model):
    name: str
    summary: str
    role: str = ""
    host_wide: bool = Field(default=False, description="applies to every host (the baseline)")
    ports: list[Port] = []
    protocols: list[IpProtocol] = []
    publish: Publish | None = None
    # Named paths the role owns (state directories, dump directories), read by the role as
    # municloud_declarations.<service>.paths.<name>; backup.paths refers to them with YAML
    # anchors, so each path is written once.
    paths: dict[str, str] = {}
    backup: BackupDecl = BackupDecl()
    requires: list[str] = []
    needs: Needs = Needs()
    # Converge: the service's own playbook under playbooks/ (default <name>.yml when that
    # file exists, else site.yml applies the role to the service's group), and whether it
    # converges after every other service (the backups take what the others wrote).
    playbook: str | None = Field(default=None, pattern=r"^[a-z0-9_-]+\.yml$")
    converge_last: bool = False
    controls: list[str] = []
    # The long-running systemd units the service runs (its daemons): each gets a restart
    # policy on its hosts (roles/common, tasks/restart.yml) and BASE-SVC-01 checks them.
    # A unit of a part that is not deployed (a vendor artifact absent) is simply not loaded.
    units: list[str] = Field(default=[], description="systemd units of the service's daemons")
    # Per declared unit, what its restart drop-in also sets (UnitSettings).
    unit_settings: dict[str, UnitSettings] = {}
    vendor: bool = False
    implemented: bool = True
    replicas: int = Field(default=1, ge=1, description="hosts it is meant to run on; fewer "
                          "gives a `topology check` warning (no failover)")

    @model_validator(mode="after")
    def _absolute_paths(self) -> Self:
        for name, p in self.paths.items():
            if not re.match(_NAME, name) or not p.startswith("/"):
                raise ValueError(f"paths.{name}: {p!r} (allowed: a lower-case name and an "
                                 "absolute path)")
        for p in self.backup.paths:
            if not p.startswith("/"):
                raise ValueError(f"backup.paths: {p!r} is not absolute")
        return self

    @model_validator(mode="after")
    def _unit_names(self) -> Self:
        for u in self.units:
            if not re.match(_UNIT, u):
                raise ValueError(f"units: {u!r} (allowed: a systemd service unit name such "
                                 "as slapd.service or postfix@-.service)")
        for u in self.unit_settings:
            if u not in self.units:
                raise ValueError(f"unit_settings: {u!r} is not one of the service's units "
                                 f"(allowed: {', '.join(self.units) or 'none declared'})")
        return self

    @model_validator(mode="after")
    def _unique_purposes(self) -> Self:
        seen: set[str] = set()
        for p in self.ports:
            if p.purpose in seen:
                raise ValueError(f"ports: purpose {p.purpose!r} given twice (allowed: one "
                                 "port entry per purpose; roles find their ports by it)")
            seen.add(p.purpose)
        return self

    @property
    def stateful(self) -> bool:
        return bool(self.backup.paths)

    def needed(self) -> dict[str, BaseModel]:
        """The needs this service declares, by kind."""
        return {k: getattr(self.needs, k) for k in NEED_KINDS
                if getattr(self.needs, k) is not None}

    def export(self) -> dict[str, object]:
        """The declaration as the inventory hands it to every host
        (`municloud_declarations[<service>]`): the YAML's own keys (`from` for a port's
        sources), defaults filled in, plus `port`: {purpose: port number}, so a role reads
        `municloud_declarations.mail.port.imaps` instead of restating 993."""
        data = self.model_dump(mode="json", by_alias=True)
        data["needs"] = {k: v.model_dump(mode="json") for k, v in self.needed().items()}
        data["port"] = {p.purpose: p.port for p in self.ports}
        return data


def _unknown_components(services: Iterable[Service]) -> list[Problem]:
    """Ports naming a component no manifest entry provides (a typo would close the port
    for good, silently)."""
    if not any(p.component is not None for svc in services for p in svc.ports):
        return []  # nothing to check; and the manifest's own check reads the declarations
    known = artifact_manifest.known_components()
    return [Problem(f"roles/{svc.role}/meta/service.yml", f"ports[{i}].component",
                    f"unknown vendor component {p.component!r}",
                    "an artifact or apt package of inventories/artifacts.yml: "
                    + ", ".join(sorted(known)))
            for svc in services for i, p in enumerate(svc.ports)
            if p.component is not None and p.component not in known]


def host_units(services: list[str], roles_dir: Path = paths.ROLES) -> list[str]:
    """The long-running units on a host running `services`: the host-wide services' units
    (the baseline's sshd, chrony) and those its services declare, sorted, each once."""
    declared = load_services(roles_dir)
    chosen = [s for s in declared.values() if s.host_wide or s.name in services]
    return sorted({u for s in chosen for u in s.units})


def host_unit_settings(services: list[str],
                       roles_dir: Path = paths.ROLES) -> dict[str, dict[str, str]]:
    """The declared settings (UnitSettings) of the units on a host running `services`,
    by unit; a unit several services run (nginx) takes them from the first that has any."""
    declared = load_services(roles_dir)
    chosen = [s for s in declared.values() if s.host_wide or s.name in services]
    out: dict[str, dict[str, str]] = {}
    for s in chosen:
        for unit, settings in s.unit_settings.items():
            out.setdefault(unit, settings.model_dump(exclude_none=True))
    return dict(sorted(out.items()))


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
        shown = f"roles/{svc.role}/meta/service.yml"
        for dep in svc.requires:
            if dep not in found:
                problems.append(Problem(shown, "requires",
                                        f"unknown service {dep!r}", ", ".join(sorted(found))))
        for kind in svc.needed():
            provider = PROVIDERS[kind]
            if provider not in found:
                problems.append(Problem(shown, f"needs.{kind}",
                                        f"no service {provider!r} is declared to provide it"))
            elif provider == svc.name:
                problems.append(Problem(shown, f"needs.{kind}",
                                        "a service cannot need itself",
                                        ", ".join(k for k, v in PROVIDERS.items()
                                                  if v != svc.name)))
    problems.extend(_unknown_components(found.values()))
    if problems:
        raise InvalidInput(problems)
    return found


def host_services(names: list[str], roles_dir: Path = paths.ROLES) -> list[Service]:
    """The host-wide services plus the named ones, in a stable order."""
    all_services = load_services(roles_dir)
    base = [s for s in all_services.values() if s.host_wide]
    return base + [all_services[n] for n in names if n in all_services]
