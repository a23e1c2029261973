"""The fresh-machine rule (issue 17, item 1): every program municloud runs on the
controller is installed by `scripts/bootstrap` (or, for devcloud and the artifact tools,
by the code's own installer), or ships with every Debian image.

The programs are read from the code (tests/unit/controller_programs.py); PROGRAMS maps
each to the Debian package that provides it, and where dpkg exists the map is checked
against `dpkg -S`. A package that a program needs at run time but Debian only recommends
or suggests (iptables for netavark, which podman runs) is a companion of the program.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

from municloud.artifacts import gpg
from municloud.core import paths
from municloud.devcloud import install as devcloud_install

from .controller_programs import VENV, Call, all_calls

# program (its base name) -> the package to install, then its companions.
PROGRAMS: dict[str, tuple[str, ...]] = {
    # Rootful Podman with netavark networking: netavark runs iptables to set up the lab
    # bridge (Debian: podman suggests iptables), aardvark-dns resolves on it, conmon and
    # runc run the containers, uidmap and slirp4netns are recommended by podman.
    "podman": ("podman", "runc", "conmon", "netavark", "aardvark-dns", "iptables", "uidmap",
               "slirp4netns"),
    "debootstrap": ("debootstrap",),
    "ssh": ("openssh-client",),
    "ssh-keygen": ("openssh-client",),
    "ip": ("iproute2",),
    "ss": ("iproute2",),
    "apt-cacher-ng": ("apt-cacher-ng",),
    "dnsmasq": ("dnsmasq-base",),
    "chronyd": ("chrony",),
    "python3": ("python3-venv",),
    "git": ("git",),
    # The controller's own backup (roles/backup_controller, tests/infra/backup_lab.py).
    "borg": ("borgbackup",),
    # The full-volume fault test enters the mail container's mount namespace.
    "nsenter": ("util-linux",),
    # The artifact tools (municloud.artifacts.gpg installs them when missing).
    "gpg": ("gnupg",),
    "gpgconf": ("gnupg",),
    "gpgv": ("gpgv",),
    "apt-ftparchive": ("apt-utils",),
    # devcloud (municloud.devcloud.install installs these).
    "mariadb": ("mariadb-server",),
    "mariadbd": ("mariadb-server",),
    "mariadb-install-db": ("mariadb-server",),
    "rabbitmq-server": ("rabbitmq-server",),
    "epmd": ("rabbitmq-server",),
    "uwsgi": ("uwsgi-core",),  # its --plugin python3: uwsgi-plugin-python3, same installer
    "keystone-manage": ("keystone",),
    "glance-manage": ("glance-api",),
    "placement-manage": ("placement-api",),
    "neutron-db-manage": ("neutron-server",),
    "cinder-manage": ("cinder-api",),
    "nova-manage": ("nova-api",),
    # Shipped with every Debian image (Essential: yes; apt to install anything at all).
    "apt-get": ("apt",),
    "dpkg-query": ("dpkg",),
    "cat": ("coreutils",), "chown": ("coreutils",), "cut": ("coreutils",),
    "date": ("coreutils",), "dirname": ("coreutils",), "id": ("coreutils",),
    "sha256sum": ("coreutils",), "mktemp": ("coreutils",), "rm": ("coreutils",),
    "grep": ("grep",), "tar": ("tar",), "setpriv": ("util-linux",),
    "realpath": ("coreutils",), "mkdir": ("coreutils",), "cp": ("coreutils",),
    "readlink": ("coreutils",), "sleep": ("coreutils",), "head": ("coreutils",),
    "tail": ("coreutils",), "chroot": ("coreutils",), "mountpoint": ("util-linux",),
    # scripts/fresh-machine: the fresh root's mounts, network namespace and NAT; the
    # root's own mount and PID namespaces (unshare, pivot_root).
    "mount": ("mount",), "umount": ("mount",), "iptables": ("iptables",),
    "unshare": ("util-linux",), "pivot_root": ("util-linux",),
    "rmdir": ("coreutils",),
    # The browser of the single sign-on and audit report tests (Selenium drives it).
    "chromium": ("chromium",), "chromedriver": ("chromium-driver",),
    # Graphviz's dot, run by the graphviz package for `municloud diagram`.
    "dot": ("graphviz",),
}
SHIPPED = frozenset({"apt", "dpkg", "coreutils", "grep", "tar", "util-linux"})
# Programs looked for and, when absent, reported with what to do instead (not packaged
# by Debian): the Pulumi CLI (`inventory --from-stack` also takes a saved outputs file).
OPTIONAL = {"pulumi": "not in Debian; `municloud inventory --from-stack FILE` without it"}
# Where the code installs packages itself: the files whose programs may rely on them.
INSTALLERS: dict[str, Iterable[str]] = {
    "municloud/devcloud/": devcloud_install.PACKAGES,
    "municloud/artifacts/": gpg.PACKAGES.values(),
}


def bootstrap_packages(text: str | None = None) -> set[str]:
    """The Debian packages scripts/bootstrap installs (its `packages=(...)` array)."""
    text = (paths.REPO / "scripts" / "bootstrap").read_text() if text is None else text
    found = re.search(r"^packages=\(([^)]*)\)", text, re.M)
    assert found, "scripts/bootstrap has no packages=(...) list"
    return set(found.group(1).split())


def _venv_programs() -> set[str]:
    """What the .venv of scripts/bootstrap provides: its packages' commands."""
    names = {ep.name for ep in metadata.entry_points(group="console_scripts")}
    names |= {p.name for p in Path(sys.executable).parent.iterdir()}
    return names | {"python", "python3", "pip"}


def _is_local(program: str) -> bool:
    if program.startswith((f"{VENV}/", ".venv/bin/")):
        return True
    return "/" in program and not program.startswith("/") and (paths.REPO / program).exists()


def _name(program: str) -> str:
    return os.path.basename(program)


def missing_packages(calls: list[Call], bootstrap: set[str]) -> list[str]:
    """What each call needs that nothing installs: 'file:line: program needs pkg'."""
    venv = _venv_programs()
    out: list[str] = []
    for c in calls:
        if _is_local(c.program) or (c.file.startswith("scripts/test") and c.program in venv):
            continue
        name = _name(c.program)
        if name in OPTIONAL:
            continue
        if name not in PROGRAMS:
            out.append(f"{c.file}:{c.line}: {c.program} is in no entry of PROGRAMS")
            continue
        allowed = bootstrap | SHIPPED
        for prefix, pkgs in INSTALLERS.items():
            if c.file.startswith(prefix):
                allowed |= set(pkgs)
        out += [f"{c.file}:{c.line}: {name} needs {pkg}, which scripts/bootstrap does not "
                "install" for pkg in PROGRAMS[name] if pkg not in allowed]
    return sorted(set(out))


@cache
def _calls() -> tuple[list[Call], list[str]]:
    return all_calls()


def test_the_code_names_every_program_it_runs() -> None:
    calls, unknown = _calls()
    assert unknown == [], "calls whose program cannot be read from the code"
    names = {_name(c.program) for c in calls}
    # The reader finds the ones we know are there (a reader that finds nothing passes
    # nothing): the lab's, the devcloud's, the artifact tools' and the shell scripts'.
    assert {"podman", "debootstrap", "ssh", "ip", "chronyd", "uwsgi", "nova-manage", "gpgv",
            "apt-get", "sha256sum"} <= names


def test_bootstrap_installs_every_program_the_code_runs() -> None:
    calls, _ = _calls()
    assert missing_packages(calls, bootstrap_packages()) == []


def test_bootstrap_without_iptables_is_caught() -> None:
    """The fresh-machine failure of issue 17 (netavark: iptables not found) is caught."""
    calls, _ = _calls()
    without = bootstrap_packages() - {"iptables"}
    found = missing_packages(calls, without)
    assert found and all("needs iptables" in line for line in found), found
    assert any("podman needs iptables" in line for line in found), found
    assert any(line.startswith("municloud/lab/podman.py:") for line in found)
    # The same, read from the bootstrap script as it was before the fix.
    old = (paths.REPO / "scripts" / "bootstrap").read_text().replace(" iptables ", " ")
    assert "iptables" not in bootstrap_packages(old)
    assert missing_packages(calls, bootstrap_packages(old)) == found


# -- the map against Debian's own data (where dpkg exists) --------------------------------
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg here")


def _dpkg(*args: str) -> str:
    run = subprocess.run(["dpkg-query", *args], capture_output=True, text=True, check=False)
    return run.stdout if run.returncode == 0 else ""


def _owners(files: Iterable[str]) -> dict[str, str]:
    """The package owning each file (usr-merged paths tried both ways, links followed),
    from one `dpkg -S` over all candidates."""
    candidates = {f: [f, f.replace("/usr/bin/", "/bin/").replace("/usr/sbin/", "/sbin/"),
                      os.path.realpath(f)] for f in files}
    run = subprocess.run(["dpkg-query", "-S", *{c for cs in candidates.values() for c in cs}],
                         capture_output=True, text=True, check=False)
    by_path: dict[str, str] = {}
    for line in run.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        by_path[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    return {f: next((by_path[c] for c in cs if c in by_path), "") for f, cs in
            candidates.items()}


@cache
def _installed() -> dict[str, tuple[set[str], set[str]]]:
    """Installed packages: (depends + pre-depends, recommends + suggests), read once."""
    out = _dpkg("-W", "-f", "${Package}\t${Depends}, ${Pre-Depends}\t"
                "${Recommends}, ${Suggests}\n")

    def names(text: str) -> set[str]:
        return {re.split(r"[\s(:]", alt.strip())[0] for alt in re.split(r"[,|]", text)
                if alt.strip()}
    table: dict[str, tuple[set[str], set[str]]] = {}
    for line in out.splitlines():
        pkg, hard, soft = [*line.split("\t"), "", ""][:3]
        table[pkg] = (names(hard), names(soft))
    return table


def _relations(pkg: str, weak: bool = False) -> set[str]:
    hard, soft = _installed().get(pkg, (set(), set()))
    return hard | soft if weak else hard


def _closure(pkg: str, depth: int = 3) -> set[str]:
    seen, todo = {pkg}, {pkg}
    for _ in range(depth):
        todo = {d for p in todo for d in _relations(p)} - seen
        seen |= todo
    return seen


@needs_dpkg
def test_the_map_matches_dpkg() -> None:
    calls, _ = _calls()
    checked, wrong = 0, []
    where: dict[str, str] = {}
    for name in sorted({_name(c.program) for c in calls} & set(PROGRAMS)):
        path = next((c.program for c in calls if _name(c.program) == name
                     and c.program.startswith("/")), None) or shutil.which(name)
        if path is not None and os.path.exists(path):
            where[name] = path  # else not installed here (devcloud's, before `devcloud up`)
    owners = _owners(where.values())
    for name, path in where.items():
        owner = owners[path]
        if not owner:
            wrong.append(f"{name}: {path} belongs to no package")
            continue
        checked += 1
        if owner not in _closure(PROGRAMS[name][0]):
            wrong.append(f"{name}: {path} is in {owner}, not in {PROGRAMS[name][0]} or what "
                         "it depends on")
    assert wrong == []
    assert checked >= 15, "too few programs installed here to check the map"


@needs_dpkg
def test_companions_are_what_debian_relates_to_the_program() -> None:
    """A companion is a package Debian itself names beside the program's (depends,
    recommends or suggests): the map cannot invent one."""
    for name, (pkg, *companions) in PROGRAMS.items():
        if not companions or pkg not in _installed():
            continue
        near = {pkg}
        for _ in range(3):
            near |= {r for p in near for r in _relations(p, weak=True)}
        assert set(companions) <= near, (name, set(companions) - near)


@needs_dpkg
def test_shipped_packages_are_essential() -> None:
    for pkg in SHIPPED - {"apt"}:  # apt: in every Debian image, Priority important
        assert _dpkg("-W", "-f", "${Essential}", pkg).strip() == "yes", pkg


def test_devcloud_and_artifact_installers_are_read_from_the_code() -> None:
    assert "mariadb-server" in set(devcloud_install.PACKAGES)
    assert {"gnupg", "gpgv", "apt-utils"} <= set(gpg.PACKAGES.values())
    assert Path(paths.REPO / "scripts" / "bootstrap").exists()
