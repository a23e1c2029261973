"""The topology: one file per environment (`inventories/<env>/topology.yml`), the single
source of truth for networks, hosts, services, volumes and administrators.

`load(env)` returns a validated `Topology` or raises `InvalidInput` listing every
problem with the file, the path inside it, what is wrong and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from municloud.core import paths
from municloud.core.errors import InvalidInput, Problem, UserError
from municloud.core.services import Service, load_services

NetworkPurpose = Literal["edge", "services", "data", "management"]
PURPOSES: tuple[str, ...] = ("edge", "services", "data", "management")
HOSTNAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SSH_KEY_RE = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com)"
    r" [A-Za-z0-9+/=]{40,}( .*)?$"
)


class UnknownEnvironment(UserError):
    exit_code = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Municipality(_Model):
    name: str
    domain: str = Field(description="mail domain, LDAP base DN and parent of public names")
    timezone: str = "Europe/Athens"
    locales: list[str] = ["el_GR.UTF-8", "en_US.UTF-8"]
    default_locale: str = "en_US.UTF-8"


class Network(_Model):
    name: str
    cidr: str
    purpose: NetworkPurpose
    dns_nameservers: list[str] = []
    egress: Literal["open", "restricted"] = "open"


class Volume(_Model):
    name: str
    size_gb: int | None = None
    mount: str
    type: str | None = None
    backup: bool = True


class Size(_Model):
    vcpus: int = Field(gt=0)
    ram_mb: int = Field(gt=0)
    disk_gb: int = Field(gt=0)
    flavor: str | None = None


class Host(_Model):
    name: str
    services: list[str]
    size: str
    network: str
    address: str | None = None
    volumes: list[Volume] = []
    boot_from_volume: bool = False


class Admin(_Model):
    name: str
    ssh_keys: list[str] = []
    # Keys generated on the controller instead of listed (municloud.core.admin_keys):
    # `lab-admin`, made by `municloud lab up`; lab environments only.
    ssh_keys_from: Literal["lab-admin"] | None = None
    groups: list[str] = ["sudo"]


class Access(_Model):
    ansible_user: str = "root"
    admin_sources: list[str] = Field(
        default=[], description="CIDRs besides the management network that may reach SSH"
    )


class Time(_Model):
    servers: list[str]


class Packages(_Model):
    mirror: str = "http://deb.debian.org/debian"
    security_mirror: str = "http://deb.debian.org/debian-security"
    proxy: str | None = None


class OpenStack(_Model):
    cloud: str = Field(description="clouds.yaml entry")
    external_network: str
    image: str = Field(description="pinned image name-with-version or ID, never 'latest'")
    volume_type: str | None = None
    encrypted_volume_type: str | None = None
    dns_zone: str | None = None
    keypair: str = "municloud"


class Backup(_Model):
    daily: int = 7
    weekly: int = 4
    monthly: int = 6
    max_age_hours: int = 26


class Topology(_Model):
    environment: str
    platform: Literal["lab", "openstack"]
    municipality: Municipality
    public_names: dict[str, str] = {}
    networks: list[Network]
    sizes: dict[str, Size]
    hosts: list[Host]
    admins: list[Admin]
    access: Access = Access()
    time: Time
    packages: Packages = Packages()
    openstack: OpenStack | None = None
    backup: Backup = Backup()

    # Derived views -----------------------------------------------------------
    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def network(self, name: str) -> Network:
        for n in self.networks:
            if n.name == name:
                return n
        raise KeyError(name)

    def networks_with_purpose(self, purpose: str) -> list[Network]:
        return [n for n in self.networks if n.purpose == purpose]

    def hosts_running(self, service: str) -> list[Host]:
        return [h for h in self.hosts if service in h.services]

    def services(self) -> list[str]:
        seen: dict[str, None] = {}
        for h in self.hosts:
            for s in h.services:
                seen.setdefault(s, None)
        return list(seen)

    def fqdn(self, host: str) -> str:
        return f"{host}.{self.municipality.domain}"


def topology_file(env: str) -> Path:
    return paths.inventories() / env / "topology.yml"


def load(env: str, services: Mapping[str, Service] | None = None) -> Topology:
    """Load and validate one environment's topology against the declared services."""
    known = paths.known_environments()
    if env not in known:
        raise UnknownEnvironment(
            f"unknown environment '{env}': no {_shown(topology_file(env))} "
            f"(known environments: {', '.join(known) or 'none'})"
        )
    return load_file(topology_file(env), load_services() if services is None else services)


def load_file(path: Path, services: Mapping[str, Service]) -> Topology:
    shown = _shown(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(shown, "", f"not valid YAML: {exc}")]) from exc
    except OSError as exc:
        raise InvalidInput([Problem(shown, "", f"cannot read: {exc.strerror}")]) from exc
    if not isinstance(data, dict):
        raise InvalidInput([Problem(shown, "", "must be a mapping", "a YAML mapping")])
    try:
        topo = Topology.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput([_from_pydantic(shown, e) for e in exc.errors()]) from exc
    problems = check(topo, shown, services)
    if problems:
        raise InvalidInput(problems)
    return topo


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.REPO))
    except ValueError:
        return str(path)


def _loc(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _from_pydantic(shown: str, err: Any) -> Problem:
    loc = _loc(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return Problem(shown, loc, "unknown field", "the fields documented in docs/topology.md")
    if kind == "missing":
        return Problem(shown, loc, "required field is missing")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return Problem(shown, loc, f"invalid value {err.get('input')!r}", expected)
    return Problem(shown, loc, err["msg"])


def _cidr(shown: str, loc: str, text: str, problems: list[Problem]) -> Any:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        problems.append(Problem(shown, loc, f"not a network address: {exc}", "e.g. 10.70.1.0/24"))
        return None


def check(topo: Topology, shown: str, services: Mapping[str, Service]) -> list[Problem]:
    """Semantic checks the schema alone cannot express."""
    problems: list[Problem] = []
    known_services = {n for n, s in services.items() if not s.host_wide}

    def add(path: str, problem: str, allowed: str = "") -> None:
        problems.append(Problem(shown, path, problem, allowed))

    if not DOMAIN_RE.match(topo.municipality.domain):
        add("municipality.domain", f"invalid domain {topo.municipality.domain!r}",
            "a lower-case DNS domain such as heraklion.gr")

    # Networks: unique names, valid and non-overlapping CIDRs.
    nets: dict[str, Any] = {}
    for i, net in enumerate(topo.networks):
        if net.name in nets:
            add(f"networks[{i}].name", f"duplicate network name {net.name!r}", "unique names")
            continue
        cidr = _cidr(shown, f"networks[{i}].cidr", net.cidr, problems)
        if cidr is None:
            continue
        for j, other in enumerate(topo.networks[:i]):
            other_cidr = nets.get(other.name)
            if other_cidr is not None and cidr.overlaps(other_cidr):
                add(f"networks[{i}].cidr",
                    f"{net.cidr} overlaps networks[{j}] ({other.name}, {other.cidr})",
                    "non-overlapping CIDRs")
        nets[net.name] = cidr
    for purpose in ("edge", "management"):
        if not topo.networks_with_purpose(purpose):
            add("networks", f"no network with purpose {purpose!r}", ", ".join(PURPOSES))

    # Hosts: unique names, known size, network and services, addresses inside the network.
    names: dict[str, int] = {}
    addresses: dict[str, str] = {}
    for i, host in enumerate(topo.hosts):
        at = f"hosts[{i}]"
        if host.name in names:
            add(f"{at}.name", f"duplicate host name {host.name!r} (also hosts[{names[host.name]}])",
                "unique host names")
        else:
            names[host.name] = i
        if not HOSTNAME_RE.match(host.name):
            add(f"{at}.name", f"invalid host name {host.name!r}",
                "lower-case letters, digits and '-', starting with a letter")
        if host.size not in topo.sizes:
            add(f"{at}.size", f"unknown size {host.size!r}",
                ", ".join(topo.sizes) or "none defined")
        if not host.services:
            add(f"{at}.services", "a host must run at least one service",
                ", ".join(sorted(known_services)))
        for k, svc in enumerate(host.services):
            if svc not in known_services:
                add(f"{at}.services[{k}]", f"unknown service {svc!r}",
                    ", ".join(sorted(known_services)))
        host_net = nets.get(host.network)
        if host.network not in {n.name for n in topo.networks}:
            add(f"{at}.network", f"unknown network {host.network!r}",
                ", ".join(n.name for n in topo.networks))
        if host.address is None:
            if topo.platform == "lab":
                add(f"{at}.address", "the lab needs a fixed address for every host",
                    f"an address inside {host.network}")
        else:
            try:
                addr = ipaddress.ip_address(host.address)
            except ValueError:
                add(f"{at}.address", f"not an IP address: {host.address!r}")
            else:
                if host_net is not None and (addr not in host_net or addr in (
                        host_net.network_address, host_net.broadcast_address)):
                    add(f"{at}.address", f"{host.address} is outside network {host.network} "
                        f"({host_net})", f"a host address inside {host_net}")
                elif host_net is not None and addr == next(host_net.hosts()):
                    add(f"{at}.address", f"{host.address} is the gateway of {host.network}",
                        "any other host address of the network")
                if host.address in addresses:
                    add(f"{at}.address", f"address {host.address} is already used by "
                        f"{addresses[host.address]}", "one host per address")
                else:
                    addresses[host.address] = host.name
        vol_names: set[str] = set()
        for k, vol in enumerate(host.volumes):
            if vol.size_gb is None or vol.size_gb <= 0:
                add(f"{at}.volumes[{k}].size_gb", f"volume {vol.name!r} has no size",
                    "a size in GB, greater than 0")
            if vol.name in vol_names:
                add(f"{at}.volumes[{k}].name", f"duplicate volume name {vol.name!r}",
                    "unique per host")
            vol_names.add(vol.name)
            if not vol.mount.startswith("/"):
                add(f"{at}.volumes[{k}].mount", f"mount point {vol.mount!r} is not absolute",
                    "an absolute path")

    # A service that another one on this topology requires, or that has a public name,
    # must run on some host.
    running = set(topo.services())
    for i, host in enumerate(topo.hosts):
        for k, svc in enumerate(host.services):
            for dep in services[svc].requires if svc in services else []:
                if dep not in running:
                    add(f"hosts[{i}].services[{k}]",
                        f"service {svc!r} requires {dep!r}, which runs on no host",
                        f"add {dep!r} to some host's services")
    for svc in topo.public_names:
        if svc not in known_services:
            add(f"public_names.{svc}", f"unknown service {svc!r}",
                ", ".join(sorted(known_services)))
        elif svc not in running:
            add(f"public_names.{svc}", f"service {svc!r} runs on no host",
                "a service that some host lists in its services")
    for svc, name in topo.public_names.items():
        if not DOMAIN_RE.match(name):
            add(f"public_names.{svc}", f"invalid DNS name {name!r}", "a lower-case DNS name")

    # Administrators: each needs at least one valid SSH public key.
    if not topo.admins:
        add("admins", "no administrator declared", "at least one admin with an SSH key")
    for i, admin in enumerate(topo.admins):
        if admin.ssh_keys_from is not None and topo.platform != "lab":
            add(f"admins[{i}].ssh_keys_from", f"a generated key ({admin.ssh_keys_from}) "
                f"on platform {topo.platform!r}", "ssh_keys with the administrator's own "
                "public keys; generated keys are for the lab only")
        if not admin.ssh_keys and admin.ssh_keys_from is None:
            add(f"admins[{i}].ssh_keys", f"admin {admin.name!r} has no SSH key",
                "at least one OpenSSH public key, or ssh_keys_from: lab-admin in the lab")
        for k, key in enumerate(admin.ssh_keys):
            if not SSH_KEY_RE.match(key.strip()):
                add(f"admins[{i}].ssh_keys[{k}]", "not an OpenSSH public key",
                    "ssh-ed25519, ssh-rsa or ecdsa keys in authorized_keys format")
    for i, src in enumerate(topo.access.admin_sources):
        _cidr(shown, f"access.admin_sources[{i}]", src, problems)

    if topo.platform == "openstack" and topo.openstack is None:
        add("openstack", "platform openstack needs an openstack section",
            "cloud, external_network, image")
    if topo.openstack is not None and "latest" in topo.openstack.image.lower():
        add("openstack.image", f"image {topo.openstack.image!r} is not pinned",
            "an image name with a version, or an image ID")
    return problems
