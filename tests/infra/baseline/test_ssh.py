"""SSH on every host: keys only, no root password, modern crypto, named administrators.

The refusals are observed from the controller with a plain OpenSSH client (no
ControlMaster, so every attempt authenticates afresh); the effective configuration is
read with `sshd -T` on the host.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from municloud.core import admin_keys

from ..environment import ENV

# The administrators' key `municloud lab up` generated on the controller (never in git).
ADMIN_KEY = admin_keys.lab_admin_key(ENV)


def ssh_cmd(ssh_config: str, name: str, address: str, user: str, *opts: str) -> list[str]:
    """A fresh OpenSSH client (no shared connection) that still checks the host key."""
    known_hosts = Path(ssh_config).parent / "known_hosts"
    return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
            "-o", "ControlPath=none", "-o", "ConnectTimeout=15",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"HostKeyAlias={name}", "-o", "StrictHostKeyChecking=yes",
            *opts, "-l", user, address]


def run(cmd: list[str], remote: str = "true") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, remote], capture_output=True, text=True, timeout=60,
                          check=False)


def offered_methods(stderr: str) -> set[str]:
    """The methods in sshd's refusal: `Permission denied (publickey,password).`"""
    m = re.search(r"Permission denied \(([^)]*)\)", stderr)
    assert m, f"no refusal from sshd: {stderr!r}"
    return set(m.group(1).split(","))


@pytest.fixture
def admin_key() -> Path:
    assert ADMIN_KEY.exists(), f"{ADMIN_KEY} missing: `municloud lab up` generates it"
    assert ADMIN_KEY.stat().st_mode & 0o077 == 0, f"{ADMIN_KEY} is readable by others"
    return ADMIN_KEY


@pytest.mark.control("BASE-SSH-01", "BASE-SSH-02")
@pytest.mark.parametrize("user", ["root", "ops"])
def test_passwords_are_refused(hostvars: dict[str, Any], ssh_config: str, user: str) -> None:
    cmd = ssh_cmd(ssh_config, hostvars["inventory_hostname"], hostvars["municloud_address"],
                  user, "-o", "PreferredAuthentications=password,keyboard-interactive",
                  "-o", "PubkeyAuthentication=no")
    r = run(cmd)
    assert r.returncode == 255, f"{user} logged in without a key: {r.stdout!r}"
    assert offered_methods(r.stderr) == {"publickey"}


@pytest.mark.control("BASE-SSH-01", "BASE-ADM-01")
def test_admin_logs_in_with_key_and_uses_sudo(hostvars: dict[str, Any], ssh_config: str,
                                               admin_key: Path, host: Any) -> None:
    admin = hostvars["municloud_admins"][0]["name"]
    cmd = ssh_cmd(ssh_config, hostvars["inventory_hostname"], hostvars["municloud_address"],
                  admin, "-i", str(admin_key), "-o", "IdentitiesOnly=yes")
    r = run(cmd, "id -un && sudo -n id -un")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [admin, "root"]
    # sudo is audited: the command just run is in sudo's own log.
    log = host.run("grep -c 'USER=root ; COMMAND=/usr/bin/id -un' /var/log/sudo.log")
    assert log.rc == 0 and int(log.stdout) >= 1, "sudo use not logged in /var/log/sudo.log"


@pytest.mark.control("BASE-SSH-01", "BASE-ADM-01")
@pytest.mark.parametrize("user", ["root", "ops"])
def test_unknown_key_is_refused(hostvars: dict[str, Any], ssh_config: str, tmp_path: Path,
                                user: str) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cmd = ssh_cmd(ssh_config, hostvars["inventory_hostname"], hostvars["municloud_address"],
                  user, "-i", str(key), "-o", "IdentitiesOnly=yes")
    r = run(cmd)
    assert r.returncode == 255, f"a fresh key logged in as {user}"
    assert offered_methods(r.stderr) == {"publickey"}


def sshd_effective(host: Any) -> dict[str, str]:
    out = host.check_output("/usr/sbin/sshd -T")
    return {k: v for k, _, v in (line.partition(" ") for line in out.splitlines())}


@pytest.mark.control("BASE-SSH-01", "BASE-SSH-02")
def test_effective_authentication_settings(host: Any) -> None:
    cfg = sshd_effective(host)
    assert cfg["passwordauthentication"] == "no"
    assert cfg["kbdinteractiveauthentication"] == "no"
    assert cfg["permitemptypasswords"] == "no"
    assert cfg["authenticationmethods"] == "publickey"
    # sshd -T spells prohibit-password as without-password.
    assert cfg["permitrootlogin"] in ("without-password", "no")


WEAK = re.compile(r"cbc|arcfour|3des|hmac-md5|hmac-sha1|-96|sha1|group1-|group14-sha1")


@pytest.mark.control("BASE-SSH-03")
def test_effective_crypto_and_limits(host: Any) -> None:
    cfg = sshd_effective(host)
    for field in ("ciphers", "macs", "kexalgorithms"):
        weak = [a for a in cfg[field].split(",") if WEAK.search(a)]
        assert not weak, f"weak {field}: {weak}"
    assert all(m.endswith("-etm@openssh.com") for m in cfg["macs"].split(","))
    assert int(cfg["maxauthtries"]) <= 4
    assert 0 < int(cfg["logingracetime"]) <= 60
    assert cfg["x11forwarding"] == "no"
    assert cfg["allowagentforwarding"] == "no"
    assert cfg["permituserenvironment"] == "no"
    assert cfg["loglevel"] == "VERBOSE"


@pytest.mark.control("BASE-SSH-03")
# An AEAD cipher carries its own MAC (no MAC is negotiated), so the MAC probe offers a
# CTR cipher, which the server accepts, with a SHA-1 MAC, which it must not.
@pytest.mark.parametrize("opts", [("Ciphers=aes128-cbc",),
                                  ("Ciphers=aes128-ctr", "MACs=hmac-sha1"),
                                  ("KexAlgorithms=diffie-hellman-group14-sha1",)],
                         ids=["cbc-cipher", "sha1-mac", "sha1-kex"])
def test_weak_algorithms_are_refused(hostvars: dict[str, Any], ssh_config: str,
                                     opts: tuple[str, ...], admin_key: Path) -> None:
    extra = [x for o in opts for x in ("-o", o)]
    cmd = ssh_cmd(ssh_config, hostvars["inventory_hostname"], hostvars["municloud_address"],
                  "ops", "-i", str(admin_key), "-o", "IdentitiesOnly=yes", *extra)
    r = run(cmd)
    assert r.returncode == 255, f"connected offering only {opts}"
    assert "no matching" in r.stderr, r.stderr


@pytest.mark.control("BASE-ADM-01")
def test_admin_accounts(host: Any, hostvars: dict[str, Any]) -> None:
    for admin in hostvars["municloud_admins"]:
        user = host.user(admin["name"])
        assert user.exists
        assert set(admin.get("groups", ["sudo"])) <= set(user.groups)
        shadow = host.check_output(f"getent shadow {admin['name']}").split(":")
        assert shadow[1].startswith(("!", "*")), "administrator has a usable password"
        keys = host.check_output(f"cat ~{admin['name']}/.ssh/authorized_keys").splitlines()
        assert sorted(k for k in keys if k.strip()) == sorted(admin["ssh_keys"])
