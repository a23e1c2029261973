"""Vendor artifacts on a lab host, through the role `vendor_artifact` alone.

The tests build their own vendor (files, a flat apt repository signed by a throw-away gpg
key, served on loopback), `fetch` it into a mirror re-signed by a throw-away archive key,
`serve` that mirror on the bridge gateway with a certificate from the lab's municipal CA,
and let a lab host obtain a file and install a package from it. Then: a tampered file, a
missing artifact under `require` and under `best_effort`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from unit.artifact_builders import build_vendor, http_server, manifest, write_yaml

from municloud.artifacts import mirror, serve
from municloud.core import artifact_manifest as mf
from municloud.core import paths

# Every test here runs the vendor_artifact role against a lab host (installs, refuses,
# records): a role-contract exercise, not a check of the deployed state.
pytestmark = pytest.mark.exercise

HOST = "backup1"
IDENTITY_HOST = "idp1"
GATEWAY = "10.70.4.1"
PORT = 8444  # beside the lab's own mirror port (8443), so a running one is left alone
FACTS = "/run/municloud-test/services"
CACHE_ROOT = "/var/cache/municloud-test"
CACHE = f"{CACHE_ROOT}/artifacts"
PACKAGES = ("municloud-test-hello", "municloud-test-extra")

TRUST = """
- name: Trust the municipal CA (what role common's pki_trust does, same file)
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Add the municipal CA to the trust store
      ansible.builtin.copy:
        src: "{{ municloud_secrets_dir }}/pki/ca.crt"
        dest: /usr/local/share/ca-certificates/municloud-ca.crt
        mode: "0644"
      register: ca
    - name: Update the trust store
      ansible.builtin.command: update-ca-certificates
      when: ca is changed
"""
PLAYBOOK = TRUST + """
- name: Obtain and record a service's vendor artifacts through the role vendor_artifact
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Obtain the artifacts
      ansible.builtin.include_role:
        name: vendor_artifact
        tasks_from: service
    - name: Record them
      ansible.builtin.include_role:
        name: vendor_artifact
        tasks_from: service_record
"""


@dataclass
class Setup:
    dir: Path
    mirror: Path
    archive_key: Path
    manifest: Path


def ansible_playbook(setup: Setup, playbook: Path, extra: dict[str, Any],
                     *args: str) -> subprocess.CompletedProcess[str]:
    (setup.dir / "vars.json").write_text(json.dumps(extra))
    return subprocess.run(
        [str(paths.REPO / ".venv/bin/ansible-playbook"), "-i", "inventories/lab/municloud.yml",
         str(playbook), "-e", f"@{setup.dir / 'vars.json'}", *args],
        cwd=paths.REPO, capture_output=True, text=True, timeout=600, check=False)


def isolated_vars(setup: Setup) -> dict[str, Any]:
    """The test's manifest, archive key, facts and cache directories (not the real ones)."""
    return {"vendor_artifact_manifest_file": str(setup.manifest),
            "vendor_artifact_archive_keyring": str(setup.archive_key),
            "vendor_artifact_facts_dir": FACTS, "vendor_artifact_cache_dir": CACHE}


def play(setup: Setup, artifact: str, policy: str = "require",
         deployed: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The one vendor path for a manifest holding only this artifact (of its component)."""
    data = yaml.safe_load(setup.manifest.read_text())
    (entry,) = [a for a in data["artifacts"] if a["name"] == artifact]
    only = write_yaml(setup.dir / f"artifacts-{artifact}.yml", {**data, "artifacts": [entry]})
    extra = {**isolated_vars(setup), "vendor_artifact_manifest_file": str(only), "target": HOST,
             "vendor_artifact_service": entry["component"], "vendor_artifact_policy": policy,
             "vendor_artifact_install": True, "vendor_artifact_deployed": deployed or {}}
    return ansible_playbook(setup, setup.dir / "play.yml", extra)


def role_changes(out: str) -> int:
    """'changed' task results inside the role (after its first task)."""
    return out.split("Resolve the artifact in the manifest", 1)[-1].count(f"changed: [{HOST}]")


@pytest.fixture(scope="module")
def setup(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
          target: Any) -> Iterator[Setup]:
    d = tmp_path_factory.mktemp("vendor-lab")
    vendor = build_vendor(d / "vendor", d / "work")
    archive = d / "archive"
    with http_server(vendor.root) as base:
        data = manifest(vendor, base)
        data["artifacts"] += [
            {**data["artifacts"][0], "name": "tampered"},
            {**data["artifacts"][0], "name": "missing", "version": "9.9"},
            {**data["artifacts"][1], "name": "wso2is"},  # what roles/identity asks for
        ]
        m = mf.parse([("test", data)])
        fetched = mirror.fetch_all(m, d / "mirror", archive / "gnupg",
                                   archive / "municloud-archive.gpg", mirror.Options(timeout=5))
    assert [r.status for r in fetched] == ["ok"] * 6, fetched
    shutil.rmtree(d / "mirror/files/missing")  # pinned in the manifest, absent from the mirror
    with (d / "mirror/files/tampered/1.2.3/tool-1.2.3.bin").open("ab") as f:
        f.write(b"tampered")
    host_manifest = write_yaml(d / "artifacts.yml", {**data, "mirror": f"https://{GATEWAY}:{PORT}"})
    (d / "play.yml").write_text(PLAYBOOK)
    (d / "trust.yml").write_text(TRUST)
    cert, key = serve.default_cert("lab")
    if not cert.exists():
        serve.issue_cert("lab", GATEWAY)
    state = d / "serve-state"
    serve.start(state, d / "mirror", GATEWAY, PORT, cert, key)
    try:
        yield Setup(d, d / "mirror", archive / "municloud-archive.gpg", host_manifest)
    finally:
        serve.stop(state)
        target(IDENTITY_HOST).run(f"rm -rf {CACHE_ROOT} /run/municloud-test")
        h = target(HOST)
        h.run(f"apt-get -y purge {' '.join(PACKAGES)}; rm -rf {CACHE_ROOT} /run/municloud-test "
              "/etc/apt/sources.list.d/municloud-vendorrepo.sources "
              "/etc/apt/preferences.d/municloud-vendorrepo.pref "
              "/etc/apt/apt.conf.d/60municloud-vendorrepo "
              "/usr/share/keyrings/municloud-vendorrepo.gpg; apt-get update -qq")


@pytest.mark.control("ART-01", "ART-02")
def test_host_obtains_a_file_and_installs_packages_from_the_mirror(setup: Setup,
                                                                   target: Any) -> None:
    h = target(HOST)
    for artifact in ("tool", "vendorrepo"):
        run = play(setup, artifact)
        assert run.returncode == 0, run.stdout[-3000:]
    cached = h.file(f"{CACHE}/tool/1.2.3/tool-1.2.3.bin")
    assert cached.exists
    pinned = yaml.safe_load(setup.manifest.read_text())["artifacts"][0]
    assert pinned["name"] == "tool" and cached.sha256sum == pinned["sha256"]
    for pkg, version in (("municloud-test-hello", "1.0-1"), ("municloud-test-extra", "2.1-3")):
        assert h.package(pkg).is_installed and h.package(pkg).version == version
    sources = h.file("/etc/apt/sources.list.d/municloud-vendorrepo.sources").content_string
    assert f"URIs: https://{GATEWAY}:{PORT}/apt/vendorrepo/" in sources
    assert "Signed-By: /usr/share/keyrings/municloud-vendorrepo.gpg" in sources
    # The host trusts the repository through the municipal archive key only.
    assert h.file("/usr/share/keyrings/municloud-vendorrepo.gpg").sha256sum == \
        hashlib.sha256(setup.archive_key.read_bytes()).hexdigest()
    # Obtained but deployed by no role: recorded not deployed, saying so.
    record = json.loads(h.file(f"{FACTS}/tool.json").content_string)
    assert record == {"service": "files", "component": "tool", "status": "not deployed",
                      "reason": "role not implemented yet (artifact obtained and verified)",
                      "version": "1.2.3"}
    # Idempotent: a second run changes nothing.
    for artifact in ("tool", "vendorrepo"):
        run = play(setup, artifact)
        assert run.returncode == 0 and role_changes(run.stdout) == 0, run.stdout[-3000:]
    # A role that deployed it names what runs: recorded deployed.
    run = play(setup, "tool", deployed={"tool": "the tool, configured"})
    assert run.returncode == 0, run.stdout[-3000:]
    record = json.loads(h.file(f"{FACTS}/tool.json").content_string)
    assert (record["status"], record["reason"]) == ("deployed", "the tool, configured")


@pytest.mark.control("ART-01")
def test_a_tampered_file_is_refused(setup: Setup, target: Any) -> None:
    run = play(setup, "tampered")
    assert run.returncode != 0
    assert "VENDOR ARTIFACT UNAVAILABLE: tampered (1.2.3)" in run.stdout
    assert "did not match" in run.stdout  # get_url's checksum verdict
    assert not target(HOST).file(f"{CACHE}/tampered/1.2.3/tool-1.2.3.bin").exists


@pytest.mark.control("ART-04")
def test_a_missing_artifact_under_require_stops_before_any_change(setup: Setup,
                                                                  target: Any) -> None:
    run = play(setup, "missing", "require")
    assert run.returncode != 0
    out = run.stdout
    assert "VENDOR ARTIFACT UNAVAILABLE: missing (9.9)" in out
    assert f"URL tried: https://{GATEWAY}:{PORT}/files/missing/9.9/tool-1.2.3.bin" in out
    assert "municloud artifacts fetch --env lab" in out and "HTTP Error 404" in out
    assert role_changes(out) == 0
    h = target(HOST)
    assert not h.file(f"{CACHE}/missing").exists
    assert not h.file(f"{FACTS}/missing.json").exists


@pytest.mark.control("ART-05")
def test_a_missing_artifact_under_best_effort_is_recorded_not_deployed(setup: Setup,
                                                                       target: Any) -> None:
    run = play(setup, "missing", "best_effort")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "NOT DEPLOYED: missing of service files" in run.stdout
    record = json.loads(target(HOST).file(f"{FACTS}/missing.json").content_string)
    assert record["status"] == "not deployed" and record["service"] == "files"
    assert record["reason"].startswith("artifact unavailable: missing (9.9)")
    assert not target(HOST).file(f"{CACHE}/missing").exists


@pytest.mark.skip(reason="obsolete premise: identity was a stub that only obtained the wso2is "
                  "artifact; in the lab it now runs provider lemonldap (Debian), which obtains "
                  "no artifact. ART-02 stays evidenced by the mirror test above; this role-level "
                  "check is to be rewritten against role files (oCIS) with the test mirror")
@pytest.mark.control("ART-02")
def test_a_vendor_role_obtains_its_artifact_through_the_interface_alone(setup: Setup,
                                                                         target: Any) -> None:
    trust = ansible_playbook(setup, setup.dir / "trust.yml", {"target": IDENTITY_HOST})
    assert trust.returncode == 0, trust.stdout[-2000:]
    run = ansible_playbook(setup, paths.PLAYBOOKS / "vendor.yml", isolated_vars(setup),
                           "--limit", IDENTITY_HOST)
    assert run.returncode == 0, run.stdout[-3000:]
    h = target(IDENTITY_HOST)
    pinned = next(a for a in yaml.safe_load(setup.manifest.read_text())["artifacts"]
                  if a["name"] == "wso2is")
    assert h.file(f"{CACHE}/wso2is/4.5/suite-4.5.zip").sha256sum == pinned["sha256"]
    record = json.loads(h.file(f"{FACTS}/wso2is.json").content_string)
    assert record == {"service": "identity", "component": "wso2is", "status": "not deployed",
                      "reason": "role not implemented yet (artifact obtained and verified)",
                      "version": "4.5"}
