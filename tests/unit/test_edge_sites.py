"""The edge's site list is derived from the topology's public names and the declarations."""

from __future__ import annotations

import pytest

from municloud.core import deployable, edge_sites, inventory, topology
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

from .declarations import service as _svc

pytestmark = pytest.mark.control("WEB-EDGE-01")



def test_lab_sites_follow_public_names_and_declarations() -> None:
    topo = topology.load("lab")
    declared = load_services()
    sites = edge_sites.sites(topo)
    assert [s["name"] for s in sites] == list(topo.public_names.values())
    for site in sites:
        svc = declared[site["service"]]
        assert svc.publish is not None
        assert topo.public_names[site["service"]] == site["name"]
        assert site["upstream_port"] == svc.publish.upstream_port
        assert site["scheme"] == svc.publish.upstream_scheme
        assert site["path"] == svc.publish.path
        assert site["deployed"] is svc.implemented
        assert [u["name"] for u in site["upstreams"]] == \
            [h.name for h in topo.hosts_running(site["service"])]
    webmail = next(s for s in sites if s["service"] == "webmail")
    assert webmail["upstreams"] == [{"name": "webmail1", "fqdn": "webmail1.heraklion.gr",
                                     "address": "10.70.2.21"}]
    assert webmail["ssl_name"] == "webmail1.heraklion.gr"


def test_a_new_declaration_is_published_without_touching_the_edge() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["identity"] = _svc("identity", implemented=True,
                                publish={"upstream_port": 9443, "path": "/"})
    sites = {s["service"]: s for s in edge_sites.sites(topo, declared)}
    assert sites["identity"]["deployed"] is True
    assert sites["identity"]["upstream_port"] == 9443
    assert sites["identity"]["upstreams"][0]["address"] == "10.70.2.11"


def test_a_service_not_implemented_is_published_as_not_deployed() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["files"] = _svc("files", implemented=False, publish={"upstream_port": 9200})
    sites = {s["service"]: s for s in edge_sites.sites(topo, declared)}
    assert sites["files"]["deployed"] is False


def test_vendor_services_are_marked_so_the_edge_can_say_an_absent_part() -> None:
    sites = {s["service"]: s for s in edge_sites.sites(topology.load("lab"))}
    assert sites["meet"]["vendor"] is True and sites["files"]["vendor"] is True
    assert sites["webmail"]["vendor"] is False


def test_several_upstream_hosts_are_verified_against_the_public_name() -> None:
    topo = topology.load("lab")
    hosts = [h.model_copy(update={"services": [*h.services, "webmail"]})
             if h.name == "idp1" else h for h in topo.hosts]
    topo2 = topo.model_copy(update={"hosts": hosts})
    site = next(s for s in edge_sites.sites(topo2) if s["service"] == "webmail")
    assert [u["name"] for u in site["upstreams"]] == ["idp1", "webmail1"]
    assert site["ssl_name"] == "webmail.heraklion.gr"


def test_platform_addresses_win_over_the_topology() -> None:
    topo = topology.load("lab")
    site = edge_sites.sites(topo, addresses={"webmail1": "192.0.2.7"})[0]
    assert site["upstreams"][0]["address"] == "192.0.2.7"


def test_a_public_name_without_publish_declaration_is_refused() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["files"] = _svc("files")
    with pytest.raises(InvalidInput, match=r"public_names.files: service 'files' declares "
                                           r"nothing to publish"):
        edge_sites.sites(topo, declared)


def test_the_inventory_hands_the_sites_to_the_edge() -> None:
    topo = topology.load("lab")
    inv = inventory.build(topo)
    assert inv["all"]["vars"]["municloud_published_sites"] == edge_sites.sites(topo)


def test_a_vendor_part_the_environment_cannot_obtain_is_unavailable_at_the_edge() -> None:
    """The lab's manifest pins no oCIS (files1 keeps port 9200 closed): the edge answers
    for it at once instead of waiting out a connect timeout on files1's firewall."""
    topo = topology.load("lab")
    declared = load_services()
    sites = {s["service"]: s for s in edge_sites.sites(topo)}
    files = declared["files"]
    port = next(p for p in files.ports if p.port == sites["files"]["upstream_port"])
    assert sites["files"]["reachable"] is deployable.port_open("lab", files, port) is False
    # Debian's parts (meet's nginx, Horde, LemonLDAP::NG) are always reachable.
    assert all(sites[s]["reachable"] for s in ("meet", "webmail", "identity"))


def test_a_declared_upstream_port_follows_its_component() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["files"] = _svc("files", implemented=True, vendor=True,
                             publish={"upstream_port": 9200},
                             ports=[{"port": 9200, "from": ["edge"], "purpose": "https-upstream"}])
    sites = {s["service"]: s for s in edge_sites.sites(topo, declared)}
    assert sites["files"]["reachable"] is True  # no component named: opened like any port
