"""Declared but not deployed opens no port (issue 17, item 6): a service whose role is not
implemented, or a port of a vendor part the environment's manifest cannot supply, gets no
firewall rule (and so no security-group rule, no audit expectation, no scan target)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from municloud.core import artifact_manifest as artifacts
from municloud.core import deployable, inventory, ports, topology
from municloud.core.errors import InvalidInput
from municloud.core.services import Service, load_services

JITSI = {"name": "jitsi", "kind": "apt", "component": "meet", "url": "https://download.jitsi.org",
         "suite": "stable/", "key_url": "https://download.jitsi.org/jitsi-key.gpg.key",
         "key_fingerprint": "UNVERIFIED",
         "packages": {"jicofo": "1.0-1120-1", "jitsi-videobridge2": "2.3-209-gb5fbe618-1"}}
OCIS = {"name": "ocis", "kind": "file", "component": "files", "version": "7.1.3",
        "url": "https://download.owncloud.com/ocis/ocis-7.1.3", "sha256": "UNVERIFIED"}
FPR = "A" * 40
SHA = "a" * 64


def _manifest(mirror: str | None = None, **jitsi: Any) -> artifacts.Manifest:
    return artifacts.parse([("test", {"mirror": mirror, "artifacts": [{**JITSI, **jitsi}, OCIS]})])


@pytest.mark.control("BASE-FW-01")
@pytest.mark.parametrize("env", ["lab", "production", "staging"])
def test_services_not_implemented_open_nothing(env: str) -> None:
    topo = topology.load(env)
    declared = load_services()
    not_implemented = {n for n, s in declared.items() if not s.implemented}
    inv = inventory.build(topo)
    for h in topo.hosts:
        rules = ports.host_rules(topo, h)
        assert not [r for r in rules if r.service in not_implemented], h.name
        assert inv["all"]["hosts"][h.name]["municloud_firewall_rules"] == [
            r.as_dict() for r in rules]
    # The same service, declared not implemented, opens none of the ports it declares.
    meet = declared["meet"]
    assert ports.service_rules(topo, meet)
    assert ports.service_rules(topo, meet.model_copy(update={"implemented": False})) == []


@pytest.mark.control("BASE-FW-01")
@pytest.mark.parametrize("env", ["lab", "production"])
def test_meet1_opens_no_media_port_while_nothing_serves_it(env: str) -> None:
    """Jitsi's videobridge (UDP 10000) is a vendor part the shipped manifests do not let a
    host obtain: its port stays closed, while prosody's and coturn's (Debian, running) open."""
    topo = topology.load(env)
    meet1 = topo.host("meet1")
    listening = ports.listening_ports(topo, meet1)
    assert ("udp", 10000) not in listening
    assert {("tcp", 22), ("udp", 3478), ("tcp", 5349)} <= listening


def test_a_component_is_deployable_only_when_a_host_may_obtain_it() -> None:
    # Nothing pinned: neither the repository nor its packages nor the file.
    assert deployable.components(_manifest("https://m.example")) == {
        "jitsi": False, "jicofo": False, "jitsi-videobridge2": False, "ocis": False}
    # A pinned key through the municipal mirror (which re-signs): every package.
    pinned = deployable.components(_manifest("https://m.example", key_fingerprint=FPR))
    assert pinned["jitsi-videobridge2"] and pinned["jicofo"] and pinned["jitsi"]
    # Upstream without a mirror also needs the key file's checksum (as vendor_artifact).
    assert not deployable.components(_manifest(None, key_fingerprint=FPR))["jitsi-videobridge2"]
    assert deployable.components(_manifest(None, key_fingerprint=FPR, key_sha256=SHA))["jicofo"]


def test_the_shipped_manifests_supply_no_unverified_vendor_part() -> None:
    # The shipped manifest pins no checksum or fingerprint yet (UNVERIFIED): no vendor
    # port may open anywhere until someone has checked them.
    assert {"jitsi-videobridge2", "jicofo", "wso2is", "ocis"} <= artifacts.known_components()
    for env in ("lab", "production", "staging"):
        assert deployable.deployable_components(env) == frozenset(), env


def _service(**kw: Any) -> Service:
    return Service.model_validate({"name": "meet", "summary": "s", "ports": [
        {"port": 3478, "proto": "udp", "from": ["internet"], "purpose": "turn"},
        {"port": 10000, "proto": "udp", "from": ["internet"], "purpose": "jvb-media",
         "component": "jitsi-videobridge2"}], **kw})


@pytest.mark.control("BASE-FW-01")
def test_a_vendor_port_opens_only_where_its_component_can_be_deployed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    topo = topology.load("production")
    opened = {(r.proto, r.port) for r in ports.service_rules(topo, _service())}
    assert opened == {("udp", 3478)}  # coturn is Debian's; the videobridge is not obtainable
    monkeypatch.setattr(deployable, "deployable_components",
                        lambda env: frozenset({"jitsi", "jitsi-videobridge2"}))
    opened = {(r.proto, r.port) for r in ports.service_rules(topo, _service())}
    assert opened == {("udp", 3478), ("udp", 10000)}
    assert ports.service_rules(topo, _service(implemented=False)) == []


def test_an_unknown_component_is_refused_naming_the_declaration(tmp_path: Path) -> None:
    d = tmp_path / "meet" / "meta"
    d.mkdir(parents=True)
    (d / "service.yml").write_text(
        "name: meet\nsummary: s\nports:\n"
        "  - {port: 10000, proto: udp, from: [internet], purpose: jvb, component: jitsi-vb}\n")
    load_services.cache_clear()
    try:
        with pytest.raises(InvalidInput) as exc:
            load_services(tmp_path)
    finally:
        load_services.cache_clear()
    (p,) = exc.value.problems
    assert (p.file, p.path) == ("roles/meet/meta/service.yml", "ports[0].component")
    assert "unknown vendor component 'jitsi-vb'" in p.problem
    assert "jitsi-videobridge2" in p.allowed
