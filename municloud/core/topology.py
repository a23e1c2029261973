"""The topology: one file per environment (`inventories/<env>/topology.yml`), the single
source of truth for networks, hosts, services, volumes and administrators.

`load(env)` returns a validated `Topology` or raises `InvalidInput` listing every
problem with the file, the path inside it, what is wrong and what is allowed.
`warnings(topo, services)` lists what is valid but probably not meant (a replicated
service left with one host); `municloud topology check` prints them and still exits 0.

Every check is linear in the number of hosts (dictionaries, no pairwise comparisons
except between the few networks): a 10,000-host topology loads and checks in under 1 s of
CPU (scripts/bench-topology, docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from municloud.core import paths, yamlfile
from municloud.core.errors import InvalidInput, Problem, UserError
from municloud.core.services import Service, load_services

NetworkPurpose = Literal["edge", "services", "data", "management"]
PURPOSES: tuple[str, ...] = ("edge", "services", "data", "management")
# Patterns are matched with fullmatch: `$` would let a trailing newline through.
HOSTNAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Debian's adduser NAME_REGEX, at most 32 characters (useradd's limit).
USER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
LOCALE_RE = re.compile(r"[a-z]{2,3}_[A-Z]{2}\.UTF-8(@[a-z]+)?")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com")
MIN_RSA_BITS = 3072
# Accounts Debian (base-passwd, systemd, openssh) and the roles' packages create: an
# administrator of the same name would take over, or be refused by, the system account.
SYSTEM_USERS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "systemd-network",
    "systemd-resolve", "systemd-timesync", "systemd-coredump", "messagebus", "sshd",
    "polkitd", "tss", "uuidd", "tcpdump", "ntp", "ntpsec", "statd", "dnsmasq",
    "postfix", "dovecot", "dovenull", "vmail", "opendkim", "openldap", "mysql", "nginx",
    "prosody", "jicofo", "jvb", "coturn", "turnserver", "ocis", "borg", "horde",
    "redis", "memcache", "clamav", "amavis", "debian-spamd", "apt-cacher-ng",
    "nagios", "prometheus", "admin", "administrator", "ansible", "municloud",
})
# Groups that grant root, or read/write every disk, key or terminal, outside sudo's log.
PRIVILEGED_GROUPS = frozenset({
    "root", "shadow", "disk", "kmem", "tty", "docker", "lxd", "libvirt", "wheel", "staff",
    "src", "sys", "bin", "daemon", "operator", "audio", "video", "input", "ssl-cert",
    "systemd-journal-remote", "netdev", "kvm", "sudo-nopasswd",
})
ALLOWED_GROUPS_TEXT = ("sudo (root through sudo, logged), adm, systemd-journal, or a group "
                       "of your own")
# Where a data volume must not be mounted: the root and the system's own trees.
SYSTEM_MOUNTS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc",
                           "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var"})
# The lab bridge is one internal Podman network: the smallest supernet of the tiers must
# be private IPv4 and no wider than this (it becomes a route on the controller).
LAB_WIDEST_PREFIX = 16


class UnknownEnvironment(UserError):
    exit_code = 2


class _Model(BaseModel):
    # strict: a count or size written as a string ("4") is refused, not coerced.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Municipality(_Model):
    name: str
    domain: str = Field(description="mail domain, LDAP base DN and parent of public names")
    timezone: str = "Europe/Athens"
    locales: list[str] = ["el_GR.UTF-8", "en_US.UTF-8"]
    default_locale: str = "en_US.UTF-8"
    # The language the web interfaces (webmail, the single sign-on portal) open in; the
    # other locales stay selectable there. Unset: default_locale.
    web_locale: str | None = Field(default=None, description=(
        "locale the web interfaces open in (one of locales; the others are selectable)"))

    @property
    def ui_locale(self) -> str:
        """The locale of the web interfaces: web_locale, else default_locale."""
        return self.web_locale or self.default_locale


class Network(_Model):
    name: str
    cidr: str
    purpose: NetworkPurpose
    dns_nameservers: list[str] = []
    egress: Literal["open", "restricted"] = "open"
    # The edge tier's virtual address (purpose edge only): held by one edge host at a time
    # (keepalived, role edge_vip), the address the public names resolve to; the lab's DNS
    # and the Pulumi program's VIP port (with the floating IP) use it.
    virtual_address: str | None = Field(default=None, description=(
        "the edge tier's virtual address, shared by its edge hosts (purpose edge only)"))


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
    daily: int = Field(default=7, ge=1, description="daily archives kept (at least 1)")
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)
    max_age_hours: int = Field(default=26, ge=1)


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

    def virtual_address(self) -> str | None:
        """The edge tier's virtual address (`networks[].virtual_address` of the network
        with purpose edge), or None when the topology declares none."""
        return next((n.virtual_address for n in self.networks_with_purpose("edge")
                     if n.virtual_address), None)

    def virtual_address_hosts(self) -> list[str]:
        """The edge hosts that answer for the virtual address (those on its network):
        keepalived runs on them and their ports carry it as an allowed address pair."""
        net = next((n for n in self.networks_with_purpose("edge") if n.virtual_address), None)
        return [h.name for h in self.hosts_running("edge")
                if net is not None and h.network == net.name]


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


def read_mapping(path: Path, shown: str) -> dict[str, Any]:
    """An inventory file's YAML mapping, or InvalidInput naming the file."""
    data = yamlfile.load(path, shown)
    if not isinstance(data, dict):
        raise InvalidInput([Problem(shown, "", "must be a mapping", "a YAML mapping")])
    return data


M = TypeVar("M", bound=BaseModel)


def validated(path: Path, model: type[M],
              to_problem: Callable[[str, Any], Problem] | None = None) -> tuple[M, str]:
    """An inventory file read and validated against its model (schema errors as Problems
    naming the file and field), and the file's name as errors show it."""
    shown = _shown(path)
    data = read_mapping(path, shown)
    try:
        return model.model_validate(data), shown
    except ValidationError as exc:
        raise InvalidInput([(to_problem or _from_pydantic)(shown, e)
                            for e in exc.errors()]) from exc
    except RecursionError:
        raise InvalidInput([Problem(shown, "", "nested too deeply")]) from None


def load_file(path: Path, services: Mapping[str, Service]) -> Topology:
    topo, shown = validated(path, Topology)
    problems = check(topo, shown, services)
    # In an environment's folder (it holds the inventory file municloud.yml), the
    # environment is the folder's name.
    folder = path.resolve().parent.name
    if (path.parent / "municloud.yml").exists() and topo.environment != folder:
        problems.insert(0, Problem(shown, "environment", f"{topo.environment!r} differs from "
                                   f"its folder {folder!r}", f"{folder!r} (the folder's name)"))
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
    text = str(err.get("input"))
    got = text if len(text) <= 60 else text[:57] + "..."
    return Problem(shown, loc, f"{err['msg']} (got {type(err.get('input')).__name__} {got!r})")


def _cidr(shown: str, loc: str, text: str, problems: list[Problem]) -> Any:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        problems.append(Problem(shown, loc, f"not a network address: {exc}", "e.g. 10.70.1.0/24"))
        return None


def _ip(text: str) -> Any:
    """The IP address `text` is, or None. A dotted quad as ipaddress accepts it (four
    decimal octets up to 255, no leading zeros) is converted directly: a topology has one
    per host, and ipaddress's own parser is most of the checks' time at 10,000 hosts."""
    if IPV4_RE.fullmatch(text):
        return ipaddress.IPv4Address(socket.inet_aton(text))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _valid_zone(name: str) -> bool:
    zones = _zones()
    if zones:
        return name in zones
    try:  # no zone list on this machine: the zone must at least load
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def _blob_type(b64: str) -> str | None:
    """The key type written inside an SSH public key blob (RFC 4253 6.6)."""
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    size = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + size or not 0 < size < 64:
        return None
    return blob[4:4 + size].decode("ascii", "replace")


def ssh_key_problem(text: str) -> str:
    """Why `text` is not a usable authorized_keys line ('' when it is): the key is parsed
    (cryptography), its declared type must be the type inside the key, RSA at least
    MIN_RSA_BITS bits."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    parts = text.strip().split(None, 2)
    if len(parts) < 2 or "\n" in text.strip():
        return "not an OpenSSH public key (expected: TYPE BASE64 [COMMENT] on one line)"
    kind = parts[0]
    if kind not in SSH_KEY_TYPES:
        return f"not an OpenSSH public key of an accepted type: {kind!r}"
    inner = _blob_type(parts[1])
    if inner is None:
        return "not an OpenSSH public key: the key is not base64 of an SSH key blob"
    if inner != kind:
        return f"not an OpenSSH public key: declared as {kind} but the key is {inner}"
    try:
        key = load_ssh_public_key(f"{kind} {parts[1]}".encode())
    except (ValueError, TypeError) as exc:
        return f"not an OpenSSH public key: the {kind} key does not parse ({exc})"
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for some blobs
        return f"not an OpenSSH public key: the {kind} key does not parse ({exc})"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits is too short"
    return ""


@cache  # a pure function of the text; many hosts mount their data at the same place
def _mount_problem(mount: str) -> str:
    if not mount.startswith("/"):
        return f"mount point {mount!r} is not absolute"
    parts = mount.split("/")[1:]
    if any(p in ("..", ".") for p in parts):
        return f"mount point {mount!r} contains '.' or '..'"
    if (mount != "/" and (mount.endswith("/") or "" in parts)) or any(c in mount for c in
                                                                  "\n\t\0 "):
        return f"mount point {mount!r} is not a normal path (empty part, trailing '/' or space)"
    if mount in SYSTEM_MOUNTS:
        return f"mount point {mount!r} would cover the system's own files"
    return ""


def _lab_bridge_problem(nets: list[Any]) -> str:
    """Why the lab bridge cannot carry these networks ('' when it can)."""
    if any(n.version != 4 for n in nets):
        return "the lab bridge carries IPv4 tier networks only"
    if any(not n.is_private for n in nets):
        return "the lab's networks must be private addresses (RFC 1918)"
    wide = nets[0]
    while not all(n.subnet_of(wide) for n in nets):
        wide = wide.supernet()
    if wide.prefixlen < LAB_WIDEST_PREFIX or not wide.is_private:
        return (f"the lab bridge would need the subnet {wide}, wider than "
                f"/{LAB_WIDEST_PREFIX} or not private")
    return ""


def check(topo: Topology, shown: str, services: Mapping[str, Service]) -> list[Problem]:
    """Semantic checks the schema alone cannot express."""
    problems: list[Problem] = []

    def add(path: str, problem: str, allowed: str = "") -> None:
        problems.append(Problem(shown, path, problem, allowed))

    if not DOMAIN_RE.fullmatch(topo.municipality.domain):
        add("municipality.domain", f"invalid domain {topo.municipality.domain!r}",
            "a lower-case DNS domain such as heraklion.gr")
    _check_municipality(topo, add)
    nets = _check_networks(topo, shown, add, problems)
    _check_hosts(topo, services, nets, add)
    _check_virtual_address(topo, nets, add)
    _check_services(topo, services, add)
    _check_admins(topo, shown, add, problems)
    _check_time(topo, add)

    if topo.platform == "openstack" and topo.openstack is None:
        add("openstack", "platform openstack needs an openstack section",
            "cloud, external_network, image")
    if topo.openstack is not None and "latest" in topo.openstack.image.lower():
        add("openstack.image", f"image {topo.openstack.image!r} is not pinned",
            "an image name with a version, or an image ID")
    return problems


Add = Any  # the checker's add(path, problem, allowed="")


def _check_municipality(topo: Topology, add: Add) -> None:
    m = topo.municipality
    if not _valid_zone(m.timezone):
        add("municipality.timezone", f"unknown time zone {m.timezone!r}",
            "an IANA time zone such as Europe/Athens")
    seen: set[str] = set()
    for i, loc in enumerate(m.locales):
        if not LOCALE_RE.fullmatch(loc):
            add(f"municipality.locales[{i}]", f"invalid locale {loc!r}",
                "a UTF-8 locale such as el_GR.UTF-8")
        elif loc in seen:
            add(f"municipality.locales[{i}]", f"duplicate locale {loc!r}", "each locale once")
        seen.add(loc)
    if not m.locales:
        add("municipality.locales", "no locale", "at least one, such as en_US.UTF-8")
    if m.default_locale not in m.locales:
        add("municipality.default_locale", f"{m.default_locale!r} is not one of the locales",
            ", ".join(m.locales) or "a locale listed in municipality.locales")
    if m.web_locale is not None and m.web_locale not in m.locales:
        add("municipality.web_locale", f"{m.web_locale!r} is not one of the locales",
            ", ".join(m.locales) or "a locale listed in municipality.locales")


def _check_networks(topo: Topology, shown: str, add: Add,
                    problems: list[Problem]) -> dict[str, Any]:
    """Unique names, valid and non-overlapping CIDRs, DNS servers; the lab bridge."""
    nets: dict[str, Any] = {}
    names: set[str] = set()
    for i, net in enumerate(topo.networks):
        if not _name_check(add, f"networks[{i}].name", "network", net.name, names,
                           "unique names"):
            continue
        for k, server in enumerate(net.dns_nameservers):
            if _ip(server) is None:
                add(f"networks[{i}].dns_nameservers[{k}]", f"not an IP address: {server!r}",
                    "the address of a DNS resolver, such as 10.20.40.5")
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
    if not topo.networks:
        add("networks", "no network declared", "the four tier networks: " + ", ".join(PURPOSES))
    for purpose in ("edge", "management"):
        if not topo.networks_with_purpose(purpose):
            add("networks", f"no network with purpose {purpose!r}", ", ".join(PURPOSES))
    if topo.platform == "lab" and nets:
        why = _lab_bridge_problem(list(nets.values()))
        if why:
            add("networks", why, f"private IPv4 networks within one /{LAB_WIDEST_PREFIX}, "
                "such as 10.70.1.0/24 ... 10.70.4.0/24")
    return nets


def _name_check(add: Add, path: str, what: str, name: str, seen: set[str],
                unique: str) -> bool:
    """A network or volume name: the pattern, and unique; False when seen before."""
    if not NAME_RE.fullmatch(name):
        add(path, f"invalid {what} name {name!r}",
            "lower-case letters, digits, '-' and '_', starting with a letter")
    if name in seen:
        add(path, f"duplicate {what} name {name!r}", unique)
        return False
    seen.add(name)
    return True


def _check_hosts(topo: Topology, services: Mapping[str, Service], nets: dict[str, Any],
                 add: Add) -> None:
    """Unique names, known size, network and services, addresses inside the network,
    sound volumes."""
    known_services = {n for n, s in services.items() if not s.host_wide}
    known_text = ", ".join(sorted(known_services))
    net_names = {n.name for n in topo.networks}
    gateways = {name: next(c.hosts(), None) for name, c in nets.items()}
    if not topo.hosts:
        add("hosts", "no host declared", "at least one host with its services")
    names: dict[str, int] = {}
    addresses: dict[Any, str] = {}
    for i, host in enumerate(topo.hosts):
        at = f"hosts[{i}]"
        if host.name in names:
            add(f"{at}.name", f"duplicate host name {host.name!r} (also hosts[{names[host.name]}])",
                "unique host names")
        else:
            names[host.name] = i
        if not HOSTNAME_RE.fullmatch(host.name):
            add(f"{at}.name", f"invalid host name {host.name!r}",
                "lower-case letters, digits and '-', starting with a letter")
        if host.size not in topo.sizes:
            add(f"{at}.size", f"unknown size {host.size!r}",
                ", ".join(topo.sizes) or "none defined")
        if not host.services:
            add(f"{at}.services", "a host must run at least one service", known_text)
        seen_svc: set[str] = set()
        for k, svc in enumerate(host.services):
            if svc not in known_services:
                add(f"{at}.services[{k}]", f"unknown service {svc!r}", known_text)
            elif svc in seen_svc:
                add(f"{at}.services[{k}]", f"service {svc!r} listed twice", "each service once")
            seen_svc.add(svc)
        host_net = nets.get(host.network)
        if host.network not in net_names:
            add(f"{at}.network", f"unknown network {host.network!r}",
                ", ".join(n.name for n in topo.networks))
        if host.address is None:
            if topo.platform == "lab":
                add(f"{at}.address", "the lab needs a fixed address for every host",
                    f"an address inside {host.network}")
        else:
            _check_address(at, host, host_net, gateways.get(host.network), addresses, add)
        _check_volumes(at, host, add)


def _check_address(at: str, host: Host, host_net: Any, gateway: Any,
                   addresses: dict[Any, str], add: Add) -> None:
    text = host.address or ""
    addr = _ip(text)
    if addr is None or text != text.strip():
        add(f"{at}.address", f"not an IP address: {host.address!r}")
        return
    if host_net is not None and (addr.version != host_net.version or addr not in host_net
                                 or addr in (host_net.network_address,
                                             host_net.broadcast_address)):
        add(f"{at}.address", f"{host.address} is outside network {host.network} "
            f"({host_net})", f"a host address inside {host_net}")
    elif host_net is not None and addr == gateway:
        add(f"{at}.address", f"{host.address} is the gateway of {host.network}",
            "any other host address of the network")
    # Compared as addresses, not text: fd00::1 and fd00:0::1 are one address.
    if addr in addresses:
        add(f"{at}.address", f"address {host.address} is already used by "
            f"{addresses[addr]}", "one host per address")
    else:
        addresses[addr] = host.name


def _check_virtual_address(topo: Topology, nets: dict[str, Any], add: Add) -> None:
    """The edge tier's virtual address: on a network with purpose edge only, a host address
    of that network that is neither its gateway nor any host's address; the edge service
    runs on at least two hosts of that network to share it."""
    taken = {_ip(h.address): h.name for h in topo.hosts if h.address and _ip(h.address)}
    for i, net in enumerate(topo.networks):
        if net.virtual_address is None:
            continue
        at = f"networks[{i}].virtual_address"
        if net.purpose != "edge":
            add(at, f"a virtual address on network {net.name!r} (purpose {net.purpose})",
                "a virtual address on the network with purpose edge only")
            continue
        addr, cidr = _ip(net.virtual_address), nets.get(net.name)
        if addr is None or net.virtual_address != net.virtual_address.strip():
            add(at, f"not an IP address: {net.virtual_address!r}",
                f"a free host address inside {net.cidr}")
            continue
        if cidr is None:
            continue  # the network's own CIDR is reported already
        if addr.version != cidr.version or addr not in cidr or addr in (
                cidr.network_address, cidr.broadcast_address):
            add(at, f"{net.virtual_address} is outside network {net.name} ({net.cidr})",
                f"a free host address inside {net.cidr}")
        elif addr == next(cidr.hosts(), None):
            add(at, f"{net.virtual_address} is the gateway of {net.name}",
                f"a free host address inside {net.cidr} other than the gateway")
        elif addr in taken:
            add(at, f"{net.virtual_address} is the address of host {taken[addr]}",
                f"an address of {net.cidr} that no host uses")
        sharing = [h.name for h in topo.hosts_running("edge") if h.network == net.name]
        if len(sharing) < 2:
            add(at, f"the edge service runs on {len(sharing)} host(s) of network "
                f"{net.name}: nothing to fail over to",
                "at least two hosts running edge on this network, or no virtual address")


def _check_volumes(at: str, host: Host, add: Add) -> None:
    vol_names: set[str] = set()
    mounts: dict[str, str] = {}
    for k, vol in enumerate(host.volumes):
        if vol.size_gb is None or vol.size_gb <= 0:
            add(f"{at}.volumes[{k}].size_gb", f"volume {vol.name!r} has no size",
                "a size in GB, greater than 0")
        _name_check(add, f"{at}.volumes[{k}].name", "volume", vol.name, vol_names,
                    "unique per host")
        why = _mount_problem(vol.mount)
        if why:
            add(f"{at}.volumes[{k}].mount", why,
                "an absolute, normalised path outside the system's trees, such as /srv/data")
        elif vol.mount in mounts:
            add(f"{at}.volumes[{k}].mount", f"mount point {vol.mount} is already the mount "
                f"point of volume {mounts[vol.mount]!r}", "one volume per mount point")
        else:
            mounts[vol.mount] = vol.name


def _check_services(topo: Topology, services: Mapping[str, Service], add: Add) -> None:
    """A service that another one requires, or that has a public name, runs on some host;
    public names are DNS names, one per site."""
    known_services = {n for n, s in services.items() if not s.host_wide}
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
    taken: dict[str, str] = {}
    hosts = {topo.fqdn(h.name): h.name for h in topo.hosts}
    for svc, name in topo.public_names.items():
        if not DOMAIN_RE.fullmatch(name):
            add(f"public_names.{svc}", f"invalid DNS name {name!r}", "a lower-case DNS name")
        elif name in taken:
            add(f"public_names.{svc}", f"{name} is already the public name of "
                f"{taken[name]!r}: two sites cannot share one name", "one name per service")
        elif name in hosts:
            add(f"public_names.{svc}", f"{name} is the name of host {hosts[name]}",
                "a web name that is not a host's FQDN")
        taken.setdefault(name, svc)


def _check_admins(topo: Topology, shown: str, add: Add, problems: list[Problem]) -> None:
    """Administrators: valid, unique user names that are no system account, at least one
    real SSH public key each, no privileged group."""
    if not topo.admins:
        add("admins", "no administrator declared", "at least one admin with an SSH key")
    seen: dict[str, int] = {}
    for i, admin in enumerate(topo.admins):
        if not USER_RE.fullmatch(admin.name):
            add(f"admins[{i}].name", f"invalid user name {admin.name!r}",
                "lower-case letters, digits, '-' and '_', starting with a letter, at most 32")
        elif admin.name in SYSTEM_USERS:
            add(f"admins[{i}].name", f"{admin.name!r} is a system account",
                "a personal account name such as 'mpapadaki'")
        elif admin.name in seen:
            add(f"admins[{i}].name", f"duplicate admin {admin.name!r} (also "
                f"admins[{seen[admin.name]}])", "each administrator once")
        seen.setdefault(admin.name, i)
        if admin.ssh_keys_from is not None and topo.platform != "lab":
            add(f"admins[{i}].ssh_keys_from", f"a generated key ({admin.ssh_keys_from}) "
                f"on platform {topo.platform!r}", "ssh_keys with the administrator's own "
                "public keys; generated keys are for the lab only")
        if not admin.ssh_keys and admin.ssh_keys_from is None:
            add(f"admins[{i}].ssh_keys", f"admin {admin.name!r} has no SSH key",
                "at least one OpenSSH public key, or ssh_keys_from: lab-admin in the lab")
        keys: set[str] = set()
        for k, key in enumerate(admin.ssh_keys):
            why = ssh_key_problem(key)
            if why:
                add(f"admins[{i}].ssh_keys[{k}]", why,
                    f"an authorized_keys line: {', '.join(SSH_KEY_TYPES[:3])} ..., RSA of at "
                    f"least {MIN_RSA_BITS} bits")
            elif key.split()[1] in keys:
                add(f"admins[{i}].ssh_keys[{k}]", "the same key twice", "each key once")
            else:
                keys.add(key.split()[1])
        for k, group in enumerate(admin.groups):
            if not USER_RE.fullmatch(group):
                add(f"admins[{i}].groups[{k}]", f"invalid group name {group!r}",
                    ALLOWED_GROUPS_TEXT)
            elif group in PRIVILEGED_GROUPS:
                add(f"admins[{i}].groups[{k}]", f"group {group!r} grants root-equivalent "
                    "access outside sudo's log", ALLOWED_GROUPS_TEXT)
    user = topo.access.ansible_user
    if not USER_RE.fullmatch(user):
        add("access.ansible_user", f"invalid user name {user!r}",
            "root, or the name of an admin")
    elif user != "root" and user not in seen:
        add("access.ansible_user", f"{user!r} is neither root nor an admin",
            ", ".join(["root", *seen]))
    for i, src in enumerate(topo.access.admin_sources):
        _cidr(shown, f"access.admin_sources[{i}]", src, problems)


def _check_time(topo: Topology, add: Add) -> None:
    if not topo.time.servers:
        add("time.servers", "no time server", "NTP servers: IP addresses or DNS names")
    for i, server in enumerate(topo.time.servers):
        if _ip(server) is None and not DOMAIN_RE.fullmatch(server):
            add(f"time.servers[{i}]", f"not an IP address or DNS name: {server!r}",
                "an NTP server such as 10.20.40.5 or ntp.heraklion.gr")


def warnings(topo: Topology, services: Mapping[str, Service] | None = None) -> list[str]:
    """What is valid but probably not meant: a service declared for several hosts
    (`replicas` in its declaration) that runs on fewer has no failover."""
    declared = load_services() if services is None else services
    out: list[str] = []
    counts: dict[str, int] = {}
    for h in topo.hosts:
        for s in h.services:
            counts[s] = counts.get(s, 0) + 1
    for svc, n in counts.items():
        want = getattr(declared.get(svc), "replicas", 1)
        if 0 < n < want:
            out.append(f"service {svc!r} runs on {n} host{'s' if n > 1 else ''} but is meant "
                       f"to be replicated on {want} (roles/{declared[svc].role or svc}/meta/"
                       "service.yml): no failover")
    return out
