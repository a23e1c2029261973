"""Each cloud rule against a compliant and a violating estate (municloud.audit.cloud_rules)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from municloud.audit.cloud_rules import (
    RULES,
    Estate,
    Expectations,
    Finding,
    FloatingIp,
    SecurityGroupRule,
    Server,
    ServerGroup,
    Volume,
    evaluate,
    expectations,
)
from municloud.core.topology import load

META = {"municloud_services": "edge", "environment": "production", "owner": "Heraklion"}


@pytest.fixture(scope="module")
def expected() -> Expectations:
    return expectations(load("production"))


def srv(name: str, services: Sequence[str], groups: Sequence[str] = ("g",),
        **kw: Any) -> Server:
    meta = dict(META, municloud_services=",".join(services))
    return Server(name=name, image="debian-12-20250520", metadata=meta,
                  security_groups=tuple(groups), **kw)


def ingress(port: int, prefix: str | None, proto: str = "tcp", group: str = "g",
            end: int | None = None) -> SecurityGroupRule:
    return SecurityGroupRule(group=group, direction="ingress", protocol=proto, port_min=port,
                             port_max=end or port, remote_ip_prefix=prefix)


def ids(findings: Iterable[Finding]) -> list[tuple[str, str]]:
    return sorted((f.control, f.name) for f in findings)


@pytest.mark.control("CLOUD-NET-01")
def test_internet_ingress(expected: Expectations) -> None:
    rule = RULES["CLOUD-NET-01"]
    good = Estate(servers=(srv("edge1", ["edge"]), srv("mail1", ["mail"], groups=("m",))),
                  security_group_rules=(ingress(443, "0.0.0.0/0"), ingress(80, "::/0"),
                                        ingress(25, "0.0.0.0/0", "tcp", "m")))
    assert rule(good, expected) == []
    # meet is declared but not deployed (role not implemented, JVB's artifact unpinned):
    # its media port open to the internet is a finding, like any undeclared one.
    bad = Estate(servers=(srv("edge1", ["edge"]), srv("idp1", ["identity"], groups=("i",)),
                          srv("meet1", ["meet"], groups=("v",))),
                 security_group_rules=(ingress(8080, "0.0.0.0/0"),
                                       ingress(443, "0.0.0.0/0", group="i"),
                                       SecurityGroupRule("g", "ingress"),  # no remote: anywhere
                                       ingress(9443, "10.20.10.0/24", group="i"),
                                       ingress(10000, "0.0.0.0/0", "udp", "v")))
    assert ids(rule(bad, expected)) == [("CLOUD-NET-01", "edge1"), ("CLOUD-NET-01", "edge1"),
                                        ("CLOUD-NET-01", "idp1"), ("CLOUD-NET-01", "meet1")]


@pytest.mark.control("CLOUD-NET-02")
def test_ssh_sources(expected: Expectations) -> None:
    rule = RULES["CLOUD-NET-02"]
    good = Estate(servers=(srv("db1", ["db"]), srv("backup1", ["backup_server"], groups=("b",))),
                  security_group_rules=(ingress(22, "10.20.40.0/24"), ingress(22, "10.20.99.0/24"),
                                        ingress(22, "10.20.30.0/24", group="b")))
    assert rule(good, expected) == []
    bad = Estate(servers=(srv("db1", ["db"]),),
                 security_group_rules=(ingress(22, "0.0.0.0/0"), ingress(22, "10.20.30.0/24"),
                                       ingress(1, "10.20.10.0/24", end=1024),
                                       replace(ingress(22, None), remote_group="default")))
    assert len(rule(bad, expected)) == 4


@pytest.mark.control("CLOUD-NET-03")
def test_floating_ips(expected: Expectations) -> None:
    rule = RULES["CLOUD-NET-03"]
    assert rule(Estate(floating_ips=(FloatingIp("100.64.0.1", "edge1"),
                                     FloatingIp("100.64.0.2", None))), expected) == []
    assert ids(rule(Estate(floating_ips=(FloatingIp("100.64.0.3", "db1"),
                                         FloatingIp(None, "rogue"))), expected)) == [
        ("CLOUD-NET-03", "100.64.0.3"), ("CLOUD-NET-03", "rogue")]


@pytest.mark.control("CLOUD-NET-04")
def test_restricted_egress(expected: Expectations) -> None:
    rule = RULES["CLOUD-NET-04"]
    egress = [SecurityGroupRule("e", "egress", remote_ip_prefix=c) for c in expected.internal_cidrs]
    db = srv("db1", ["db"], groups=("e",))
    assert rule(Estate(servers=(db,), security_group_rules=tuple(egress)), expected) == []
    open_rules = (SecurityGroupRule("e", "egress", remote_ip_prefix="0.0.0.0/0"),
                  SecurityGroupRule("e", "egress", remote_ip_prefix="192.0.2.0/24"))
    assert len(rule(Estate(servers=(db,), security_group_rules=open_rules), expected)) == 2
    # open tiers may reach anywhere
    assert rule(Estate(servers=(srv("edge1", ["edge"], groups=("e",)),),
                       security_group_rules=open_rules), expected) == []


@pytest.mark.control("CLOUD-DATA-01", "CLOUD-DATA-02")
def test_stateful_volumes(expected: Expectations) -> None:
    tagged = {"municloud_backup": "true"}
    good = Estate(servers=(srv("db1", ["db"]), srv("backup1", ["backup_server"])),
                  volumes=(Volume("db1-mysql", 100, "ceph-ssd-luks", tagged, ("db1",)),
                           Volume("backup1-borg", 10, "ceph-ssd", {}, ("backup1",)),
                           Volume("db1-root", 40, "ceph-ssd", {}, ("db1",), root=True)))
    # Every rule but CLOUD-HA-02, which judges the estate as a whole (this one has no edge).
    assert [f for f in evaluate(good, expected) if f.control != "CLOUD-HA-02"] == []
    bad = Estate(servers=(srv("db1", ["db"]), srv("x9", ["mail"])),
                 volumes=(Volume("db1-mysql", 100, "ceph-ssd", {}, ("db1",)),
                          Volume("x9-vmail", 1, "ceph-ssd-luks", {"municloud_backup": "false"},
                                 ("x9",))))
    assert ids(RULES["CLOUD-DATA-01"](bad, expected)) == [
        ("CLOUD-DATA-01", "db1-mysql"), ("CLOUD-DATA-01", "x9-vmail")]
    assert ids(RULES["CLOUD-DATA-02"](bad, expected)) == [("CLOUD-DATA-02", "db1-mysql")]


@pytest.mark.control("CLOUD-META-01")
def test_metadata(expected: Expectations) -> None:
    rule = RULES["CLOUD-META-01"]
    assert rule(Estate(servers=(srv("edge1", ["edge"]),)), expected) == []
    bad = Estate(servers=(Server("edge1", metadata={"environment": "production"}),
                          replace(srv("edge2", ["edge"]),
                                  metadata=dict(META, environment="staging"))))
    found = rule(bad, expected)
    assert ids(found) == [("CLOUD-META-01", "edge1"), ("CLOUD-META-01", "edge2")]
    assert "municloud_services, owner" in found[0].message


@pytest.mark.control("CLOUD-HA-01")
def test_replicas_anti_affinity(expected: Expectations) -> None:
    rule = RULES["CLOUD-HA-01"]
    groups = (ServerGroup("aa", "anti-affinity"), ServerGroup("bb", "anti-affinity"),
              ServerGroup("af", "affinity"))
    good = Estate(servers=(srv("edge1", ["edge"], server_group="aa"),
                           srv("edge2", ["edge"], server_group="aa")), server_groups=groups)
    assert rule(good, expected) == []
    split = Estate(servers=(srv("edge1", ["edge"], server_group="aa"),
                            srv("edge2", ["edge"], server_group="bb")), server_groups=groups)
    assert ids(rule(split, expected)) == [("CLOUD-HA-01", "edge")]
    none = Estate(servers=(srv("edge1", ["edge"], server_group="af"), srv("edge2", ["edge"])),
                  server_groups=groups)
    assert ids(rule(none, expected)) == [("CLOUD-HA-01", "edge1"), ("CLOUD-HA-01", "edge2")]


@pytest.mark.control("CLOUD-IMG-01")
def test_pinned_image(expected: Expectations) -> None:
    rule = RULES["CLOUD-IMG-01"]
    assert rule(Estate(servers=(srv("edge1", ["edge"]),)), expected) == []
    bad = replace(srv("edge1", ["edge"]), image="debian-12-Latest")
    assert ids(rule(Estate(servers=(bad,)), expected)) == [("CLOUD-IMG-01", "edge1")]


def test_every_rule_is_a_catalog_control() -> None:
    from municloud.core.controls import catalog

    planned = {c.id for c in catalog().values() if "plan" in c.checked_by}
    assert set(RULES) <= planned  # every rule is a catalogued plan-time control ...
    assert {c for c in planned if c.startswith("CLOUD-")} == set(RULES)  # ... and vice versa
    assert all({"plan", "cloud"} <= set(catalog()[c].checked_by) for c in RULES)
