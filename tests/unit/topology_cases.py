"""Bad topologies for the checker's tests: each is the lab topology with one mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from municloud.core import paths

LAB = yaml.safe_load((paths.INVENTORIES / "lab" / "topology.yml").read_text())


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Any]], None]
    path: str  # the path inside the file the message must name
    words: str  # what the message must say


def _host(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def get(t: dict[str, Any]) -> dict[str, Any]:
        return next(h for h in t["hosts"] if h["name"] == name)
    return get


def _dup_host(t: dict[str, Any]) -> None:
    t["hosts"][1]["name"] = t["hosts"][0]["name"]


def _unknown_service(t: dict[str, Any]) -> None:
    _host("edge1")(t)["services"] = ["edge", "nextcloud"]


def _service_on_no_host(t: dict[str, Any]) -> None:
    # mail requires the directory; take the directory host's service away.
    _host("dir1")(t)["services"] = ["db"]


def _overlap(t: dict[str, Any]) -> None:
    t["networks"][1]["cidr"] = "10.70.1.128/25"


def _outside(t: dict[str, Any]) -> None:
    _host("dir1")(t)["address"] = "10.70.9.11"


def _twice(t: dict[str, Any]) -> None:
    _host("db1")(t)["address"] = _host("dir1")(t)["address"]


def _no_size(t: dict[str, Any]) -> None:
    del _host("db1")(t)["volumes"][0]["size_gb"]


def _no_key(t: dict[str, Any]) -> None:
    t["admins"][0]["ssh_keys"] = []
    t["admins"][0].pop("ssh_keys_from", None)


def _bad_key(t: dict[str, Any]) -> None:
    t["admins"][0]["ssh_keys"] = ["ssh-ed25519 not-a-key"]


def _bad_domain(t: dict[str, Any]) -> None:
    t["municipality"]["domain"] = "Heraklion_GR"


def _unknown_field(t: dict[str, Any]) -> None:
    _host("edge1")(t)["flavour"] = "small"


def _bad_purpose(t: dict[str, Any]) -> None:
    t["networks"][0]["purpose"] = "dmz"


# Accepted but wrong before issue 17 ------------------------------------------------------

ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIAraxlytf4usLpKAae/S/kR9tfhGxo1ju6dkv9S4Y1Ke"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting one value by a dotted path (integers index lists)."""
    def mutate(t: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = t
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(p, str) else node[p]
        node[last] = value
    return mutate


def _ipv6_same_address(t: dict[str, Any]) -> None:
    t["platform"] = "openstack"
    t["openstack"] = {"cloud": "c", "external_network": "public", "image": "debian-12-20261101"}
    t["networks"][2]["cidr"] = "fd00:70:3::/64"
    _host("dir1")(t)["address"] = "fd00:70:3::11"
    _host("db1")(t)["address"] = "fd00:70:3:0:0::11"  # the same address, written otherwise


def _short_rsa_key(t: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    t["admins"][0]["ssh_keys"] = [public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()]


def _garbled_key(t: dict[str, Any]) -> None:
    import base64

    blob = len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + b"\0\0\0\x05short"
    t["admins"][0]["ssh_keys"] = ["ssh-ed25519 " + base64.b64encode(blob).decode()]


def _dup_admin(t: dict[str, Any]) -> None:
    t["admins"].append(copy.deepcopy(t["admins"][0]))


def _dup_mount(t: dict[str, Any]) -> None:
    _host("db1")(t)["volumes"].append({"name": "binlog", "size_gb": 5,
                                       "mount": "/var/lib/mysql"})


CASES = [
    Case("duplicate-host", _dup_host, "hosts[1].name", "duplicate host name 'edge1'"),
    Case("unknown-service", _unknown_service, "hosts[0].services[1]",
         "unknown service 'nextcloud'"),
    Case("service-on-no-host", _service_on_no_host, "hosts[2].services[0]",
         "requires 'directory', which runs on no host"),
    Case("overlapping-cidrs", _overlap, "networks[1].cidr", "overlaps networks[0]"),
    Case("address-outside-network", _outside, "hosts[7].address",
         "outside network data"),
    Case("address-used-twice", _twice, "hosts[8].address", "already used by dir1"),
    Case("volume-without-size", _no_size, "hosts[8].volumes[0].size_gb", "has no size"),
    Case("missing-ssh-key", _no_key, "admins[0].ssh_keys", "has no SSH key"),
    Case("malformed-ssh-key", _bad_key, "admins[0].ssh_keys[0]", "not an OpenSSH public key"),
    Case("invalid-domain", _bad_domain, "municipality.domain", "invalid domain"),
    Case("unknown-field", _unknown_field, "hosts[0].flavour", "unknown field"),
    Case("bad-network-purpose", _bad_purpose, "networks[0].purpose", "invalid value 'dmz'"),
    # Issue 17, item 5: each of these passed `topology check` and broke later.
    *(Case(f"{what}-with-newline", _set(dotted, value + "\n"), path, words)
      for what, dotted, value, path, words in (
          ("host-name", "hosts.0.name", "edge1", "hosts[0].name", "invalid host name"),
          ("domain", "municipality.domain", "heraklion.gr", "municipality.domain",
           "invalid domain"),
          ("public-name", "public_names.webmail", "webmail.heraklion.gr",
           "public_names.webmail", "invalid DNS name"),
          ("admin-name", "admins.0.name", "ops", "admins[0].name", "invalid user name"))),
    Case("environment-differs-from-folder", _set("environment", "production"), "environment",
         "differs from its folder 'bad'"),
    Case("ipv6-address-used-twice", _ipv6_same_address, "hosts[8].address",
         "already used by dir1"),
    Case("lab-network-not-private", _set("networks.0.cidr", "8.8.8.0/24"), "networks",
         "private"),
    Case("lab-networks-too-wide-for-the-bridge", _set("networks.3.cidr", "10.200.4.0/24"),
         "networks", "wider than /16"),
    Case("lab-network-ipv6", _set("networks.3.cidr", "fd00:70:4::/64"), "networks",
         "IPv4 tier networks only"),
    Case("one-public-name-for-two-sites", _set("public_names.files", "webmail.heraklion.gr"),
         "public_names.files", "already the public name of 'webmail'"),
    Case("ssh-key-type-mismatch", _set("admins.0.ssh_keys", [f"ssh-rsa {ED25519} ops"]),
         "admins[0].ssh_keys[0]", "declared as ssh-rsa but the key is ssh-ed25519"),
    Case("ssh-key-that-does-not-parse", _garbled_key, "admins[0].ssh_keys[0]",
         "does not parse"),
    Case("ssh-key-rsa-too-short", _short_rsa_key, "admins[0].ssh_keys[0]",
         "RSA key of 1024 bits is too short"),
    Case("ssh-key-dsa", _set("admins.0.ssh_keys", [f"ssh-dss {ED25519}"]),
         "admins[0].ssh_keys[0]", "accepted type: 'ssh-dss'"),
    Case("admin-invalid-user-name", _set("admins.0.name", "Ops Admin"), "admins[0].name",
         "invalid user name"),
    Case("admin-is-a-system-user", _set("admins.0.name", "www-data"), "admins[0].name",
         "is a system account"),
    Case("admin-twice", _dup_admin, "admins[1].name", "duplicate admin 'ops'"),
    Case("admin-in-privileged-group", _set("admins.0.groups", ["sudo", "docker"]),
         "admins[0].groups[1]", "grants root-equivalent access"),
    Case("volume-mounted-at-root", _set("hosts.2.volumes.0.mount", "/"),
         "hosts[2].volumes[0].mount", "would cover the system's own files"),
    Case("volume-mount-with-dotdot", _set("hosts.2.volumes.0.mount", "/srv/../etc/vmail"),
         "hosts[2].volumes[0].mount", "contains '.' or '..'"),
    Case("volume-mount-twice", _dup_mount, "hosts[8].volumes[1].mount",
         "already the mount point of volume 'mysql'"),
    Case("time-server-not-a-name", _set("time.servers", ["ntp.heraklion.gr;reboot"]),
         "time.servers[0]", "not an IP address or DNS name"),
    Case("dns-server-not-an-address", _set("networks.0.dns_nameservers", ["resolver1"]),
         "networks[0].dns_nameservers[0]", "not an IP address"),
    Case("unknown-time-zone", _set("municipality.timezone", "Europe/Heraklion"),
         "municipality.timezone", "unknown time zone"),
    Case("invalid-locale", _set("municipality.locales", ["el_GR.UTF-8", "english"]),
         "municipality.locales[1]", "invalid locale 'english'"),
    Case("default-locale-not-listed", _set("municipality.default_locale", "de_DE.UTF-8"),
         "municipality.default_locale", "is not one of the locales"),
    Case("web-locale-not-listed", _set("municipality.web_locale", "fr_FR.UTF-8"),
         "municipality.web_locale", "'fr_FR.UTF-8' is not one of the locales"),
    Case("web-locale-not-a-string", _set("municipality.web_locale", 30),
         "municipality.web_locale", "valid string"),
    *(Case(f"backup-{field}-{value}", _set(f"backup.{field}", value), f"backup.{field}",
           f"greater than or equal to {least}")
      for field, value, least in (("daily", 0, 1), ("weekly", -1, 0), ("monthly", -6, 0),
                                  ("max_age_hours", 0, 1))),
    Case("size-count-as-string", _set("sizes.small.vcpus", "1"), "sizes.small.vcpus",
         "valid integer (got str '1')"),
    Case("volume-size-as-string", _set("hosts.2.volumes.0.size_gb", "50"),
         "hosts[2].volumes[0].size_gb", "valid integer"),
    Case("boolean-as-string", _set("hosts.9.volumes.0.backup", "no"),
         "hosts[9].volumes[0].backup", "valid boolean"),
    Case("zero-hosts", _set("hosts", []), "hosts", "no host declared"),
    Case("service-twice-on-a-host", _set("hosts.0.services", ["edge", "edge"]),
         "hosts[0].services[1]", "listed twice"),
    # Issue 15: the edge tier's virtual address (networks[0] is the lab's edge network).
    *(Case(f"virtual-address-{what}", _set(dotted, value), path, words)
      for what, dotted, value, path, words in (
          ("outside-subnet", "networks.0.virtual_address", "10.70.2.10",
           "networks[0].virtual_address", "outside network edge (10.70.1.0/24)"),
          ("network-address", "networks.0.virtual_address", "10.70.1.0",
           "networks[0].virtual_address", "outside network edge"),
          ("broadcast", "networks.0.virtual_address", "10.70.1.255",
           "networks[0].virtual_address", "outside network edge"),
          ("gateway", "networks.0.virtual_address", "10.70.1.1",
           "networks[0].virtual_address", "is the gateway of edge"),
          ("a-host", "networks.0.virtual_address", "10.70.1.12",
           "networks[0].virtual_address", "is the address of host edge2"),
          ("not-an-address", "networks.0.virtual_address", "edge-vip",
           "networks[0].virtual_address", "not an IP address: 'edge-vip'"),
          ("with-newline", "networks.0.virtual_address", "10.70.1.10\n",
           "networks[0].virtual_address", "not an IP address"),
          ("not-a-string", "networks.0.virtual_address", 10,
           "networks[0].virtual_address", "valid string"),
          ("on-another-tier", "networks.1.virtual_address", "10.70.2.10",
           "networks[1].virtual_address", "purpose services"),
      )),
    Case("virtual-address-one-edge-host", _set("hosts.1.services", ["mail"]),
         "networks[0].virtual_address", "the edge service runs on 1 host(s)"),
]


def write_env(root: Path, env: str, case: Case | None) -> Path:
    """An inventories folder holding one environment: the lab topology, with a mistake."""
    data = copy.deepcopy(LAB)
    data["environment"] = env
    if case is not None:
        case.mutate(data)
    d = root / env
    d.mkdir(parents=True)
    (d / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    (d / "municloud.yml").write_text("plugin: municloud_topology\n")
    # A topology running identity needs its declaration (docs/identity.md): the lab's.
    (d / "identity.yml").write_text((paths.INVENTORIES / "lab" / "identity.yml").read_text())
    return d / "topology.yml"
