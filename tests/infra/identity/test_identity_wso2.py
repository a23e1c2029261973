"""Provider wso2 (WSO2 Identity Server) on the lab's identity host, without the zip.

The lab's idp1 runs LemonLDAP::NG (the lab's declaration). This test converges, for
real, only the wso2 provider's tasks (tasks_from: wso2), through a test inventory
(tests/inventories/wso2/lab: the lab's topology and state, identity.yml with provider
wso2): Java, the system user, the directories, the keystores from the municipal CA, the
checks of the database and directory accounts, and the artifact step that records
"not deployed: artifact unavailable". None of these collide with LemonLDAP::NG (no port,
no unit, no shared file; the facts file goes to a test directory, so the lab's summary
is untouched). The TAXISnet bridge, shared by both providers and configured from the
lab's own declaration, is left alone (tests/unit/test_taxisnet_bridge_e2e.py runs it).
Afterwards the test removes what it made on idp1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from municloud.core import paths
from municloud.deploy.ansible_run import ansible_env

pytestmark = pytest.mark.exercise

HOST = "idp1"
INVENTORIES = paths.TESTS / "inventories" / "wso2"
FACTS = "/run/municloud-test/services"
PACKAGES = ("openjdk-17-jre-headless", "libmariadb-java", "unzip", "python3-pymysql",
            "python3-ldap")
MADE = ("/opt/wso2", "/var/lib/wso2is", "/etc/wso2is", "/var/log/wso2is", FACTS)
PLAY = """
- name: Provider wso2 of the identity role, only its own tasks
  hosts: identity
  gather_facts: false
  tasks:
    - name: Converge the wso2 provider
      ansible.builtin.include_role:
        name: identity
        tasks_from: wso2
"""


@dataclass
class Run:
    rc: int
    out: str
    changed: list[dict[str, str]]
    stats: dict[str, dict[str, int]]

    @property
    def changed_count(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())


def converge(d: Path, *args: str) -> Run:
    changes = d / "changes.json"
    changes.write_text("")
    proc = subprocess.run(
        [str(paths.REPO / ".venv/bin/ansible-playbook"), "-i",
         str(INVENTORIES / "lab" / "municloud.yml"), str(d / "play.yml"), "--limit", HOST,
         "-e", f"@{d / 'vars.json'}", *args],
        cwd=paths.REPO, capture_output=True, text=True, timeout=900, check=False,
        env=ansible_env({"MUNICLOUD_INVENTORIES": str(INVENTORIES),
                         "MUNICLOUD_CHANGES_FILE": str(changes)}))
    data = json.loads(changes.read_text() or "{}")
    return Run(proc.returncode, proc.stdout + proc.stderr, data.get("changed", []),
               data.get("stats", {}))


@pytest.fixture(scope="module")
def runs(lab: dict[str, Any], target: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    d = tmp_path_factory.mktemp("wso2")
    (d / "play.yml").write_text(PLAY)
    (d / "vars.json").write_text(json.dumps({"vendor_artifact_facts_dir": FACTS}))
    h = target(HOST)
    before = {p for p in PACKAGES if h.package(p).is_installed}
    try:
        first = converge(d)
        yield {"first": first, "second": converge(d), "check": converge(d, "--check", "--diff")}
    finally:
        added = [p for p in PACKAGES if p not in before]
        h.run("userdel wso2; rm -rf " + " ".join(MADE))
        if added:
            h.run("DEBIAN_FRONTEND=noninteractive apt-get -y -qq purge " + " ".join(added)
                  + " && apt-get -y -qq autoremove --purge")


@pytest.mark.control("ART-05")
def test_wso2_without_the_zip_is_recorded_not_deployed(runs: dict[str, Run],
                                                       target: Any) -> None:
    first = runs["first"]
    assert first.rc == 0, first.out[-4000:]
    record = json.loads(target(HOST).file(f"{FACTS}/wso2is.json").content_string)
    assert record["status"] == "not deployed" and record["service"] == "identity"
    assert record["reason"].startswith("artifact unavailable: wso2is (7.1.0)")


@pytest.mark.control("ART-05")
def test_wso2_converges_what_can_run_here(runs: dict[str, Run], target: Any) -> None:
    assert runs["first"].rc == 0, runs["first"].out[-4000:]
    h = target(HOST)
    assert h.package("openjdk-17-jre-headless").is_installed
    user = h.user("wso2")
    assert user.exists and user.shell == "/usr/sbin/nologin"
    for name in ("primary", "truststore", "internal"):
        f = h.file(f"/var/lib/wso2is/security/municloud-{name}.p12")
        assert f.exists and f.user == "wso2" and f.mode == 0o600, name
    # The truststore holds the municipal CA; the primary keystore this host's certificate.
    ca = h.run("openssl x509 -noout -fingerprint -sha256 -in /etc/ssl/municloud/ca.crt")
    listed = h.run("keytool -list -storetype PKCS12 -keystore %s -storepass:file %s",
                   "/var/lib/wso2is/security/municloud-truststore.p12", _password_file(h))
    assert ca.rc == 0 and listed.rc == 0, listed.stderr
    assert ca.stdout.split("=", 1)[1].strip() in listed.stdout
    # Nothing runs without the distribution: no unit, no process of the wso2 user (the
    # declared port may well be served: LemonLDAP::NG, the lab's provider, runs there).
    assert not h.file("/etc/systemd/system/wso2is.service").exists
    assert not h.process.filter(user="wso2")


def _password_file(h: Any) -> str:
    """The keystore password, put on the host for keytool's stdin (removed by the
    fixture's cleanup with /var/lib/wso2is)."""
    secret = (paths.secrets_dir("lab") / "identity" / "wso2" / "keystore.password").read_text()
    path = "/var/lib/wso2is/.test-storepass"
    h.run("install -m 0600 /dev/null %s && printf %%s %s > %s", path, secret.strip(), path)
    return path


@pytest.mark.control("ART-05")
def test_wso2_second_run_changes_nothing(runs: dict[str, Run]) -> None:
    second = runs["second"]
    assert second.rc == 0, second.out[-4000:]
    assert second.changed_count == 0, second.changed


@pytest.mark.control("ART-05")
def test_wso2_check_mode_is_clean(runs: dict[str, Run]) -> None:
    check = runs["check"]
    assert check.rc == 0, check.out[-4000:]
    assert check.changed_count == 0, check.changed
