"""The `needs` contract: declarations say what they need, the inventory hands each provider
its consumers (municloud_consumers) and every host the declarations
(municloud_declarations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import inventory, needs, ports, topology
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

from .declarations import service as _svc

pytestmark = pytest.mark.control("BASE-TOPO-01")



def _write(roles: Path, role: str, data: dict[str, Any]) -> None:
    (roles / role / "meta").mkdir(parents=True)
    (roles / role / "meta" / "service.yml").write_text(yaml.safe_dump(data))


def _problems(roles: Path) -> list[str]:
    load_services.cache_clear()
    try:
        with pytest.raises(InvalidInput) as err:
            load_services(roles)
        return [str(p) for p in err.value.problems]
    finally:
        load_services.cache_clear()


def test_lab_consumers_are_what_the_declarations_need() -> None:
    inv = inventory.build(topology.load("lab"))
    c = inv["all"]["vars"]["municloud_consumers"]
    assert set(c) == {"database", "directory", "mail_relay", "oidc_client"}
    assert c["database"] == [
        {"service": "identity", "hosts": ["10.70.2.11"], "name": "wso2"},
        {"service": "webmail", "hosts": ["10.70.2.21"], "name": "horde"},
    ]
    # The directory role's former hard-coded list, less meet (its logins are SSO tokens).
    assert [e["service"] for e in c["directory"] if e["account"]] == \
        ["files", "identity", "mail", "webmail"]
    assert [(e["service"], e["levels"]) for e in c["oidc_client"]] == \
        [("files", ["staff"]), ("meet", ["staff"]), ("webmail", ["staff"])]
    assert c["mail_relay"] == [{"service": "webmail", "hosts": ["10.70.2.21"]}]


def test_consumers_carry_the_platform_addresses_and_only_services_present() -> None:
    topo = topology.load("production")
    outputs = inventory.outputs_from_topology(topo)
    for h in outputs["hosts"].values():
        h["address"] = "10.99.0." + str(len(h["services"]) + 10)
    outputs["hosts"]["webmail1"]["address"] = "10.99.1.21"
    c = inventory.build(topo, outputs)["all"]["vars"]["municloud_consumers"]
    assert {"service": "webmail", "hosts": ["10.99.1.21"]} in c["mail_relay"]
    declared = dict(load_services())
    declared["webmail"] = declared["webmail"].model_copy(update={"name": "absent"})
    assert all(e["service"] != "absent"
               for e in needs.consumers(topo, declared)["database"])


def test_oidc_client_uris_are_absolute_on_the_public_name() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["files"] = _svc("files", needs={"oidc_client": {
        "redirect_paths": ["/oidc-callback.html", "/web-oidc-callback"],
        "post_logout_paths": ["/"], "levels": ["staff", "full"]}})
    entry = next(e for e in needs.consumers(topo, declared)["oidc_client"]
                 if e["service"] == "files")
    assert entry == {
        "service": "files", "hosts": ["10.70.2.31"], "client_id": "files",
        "redirect_paths": ["/oidc-callback.html", "/web-oidc-callback"],
        "post_logout_paths": ["/"], "levels": ["staff", "full"],
        "claims": ["uid", "mail", "groups", "access_level"], "access_token_seconds": None,
        "redirect_uris": ["https://files.heraklion.gr/oidc-callback.html",
                          "https://files.heraklion.gr/web-oidc-callback"],
        "post_logout_uris": ["https://files.heraklion.gr/"],
    }


def test_oidc_client_without_a_public_name_names_the_topology_field() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    declared["mail"] = _svc("mail", needs={"oidc_client": {"redirect_paths": ["/cb"]}})
    with pytest.raises(InvalidInput, match=r"inventories/lab/topology.yml: public_names.mail"):
        needs.consumers(topo, declared)


def test_declarations_are_exported_with_their_ports_by_purpose() -> None:
    topo = topology.load("lab")
    decl = inventory.build(topo)["all"]["vars"]["municloud_declarations"]
    assert set(decl) == set(topo.services()) | {"common"}
    mail = load_services()["mail"]
    assert decl["mail"]["port"] == {p.purpose: p.port for p in mail.ports}
    assert decl["mail"]["ports"][0]["from"] == [str(s) for s in mail.ports[0].sources]
    assert decl["mail"]["backup"]["paths"] == mail.backup.paths
    assert decl["webmail"]["needs"] == {
        "database": {"name": "horde"}, "directory": {"account": True}, "mail_relay": {},
        "oidc_client": {"redirect_paths": ["/horde/login.php"], "post_logout_paths": ["/"],
                        "levels": ["staff"], "claims": ["uid", "mail", "groups", "access_level"],
                        "access_token_seconds": 28800}}
    assert decl["webmail"]["publish"]["upstream_port"] == 443


def test_consumers_source_is_the_consumer_hosts_networks() -> None:
    topo = topology.load("lab")
    declared = dict(load_services())
    assert ports.consumer_cidrs(topo, declared["db"], declared) == ("10.70.2.0/24",)
    # A consumer on another tier opens the provider's port to that tier, nothing else.
    declared["meet"] = declared["meet"].model_copy(
        update={"needs": declared["meet"].needs.model_copy(
            update={"database": declared["webmail"].needs.database})})
    assert ports.consumer_cidrs(topo, declared["db"], declared) == \
        ("10.70.1.0/24", "10.70.2.0/24")
    rule = next(r for r in ports.service_rules(topo, declared["db"], declared) if r.port == 3306)
    assert rule.sources == ("10.70.1.0/24", "10.70.2.0/24")


@pytest.mark.parametrize(("needs_", "where", "says"), [
    ({"database": {"name": "Horde-DB"}}, "needs.database.name", "should match pattern"),
    ({"database": {}}, "needs.database.name", "Field required"),
    ({"ldap": {}}, "needs.ldap", "Extra inputs are not permitted"),
    ({"directory": {"account": True, "admin": True}}, "needs.directory.admin",
     "Extra inputs are not permitted"),
    ({"oidc_client": {"redirect_paths": ["https://evil.example/cb"]}}, "needs.oidc_client",
     "not an absolute URL path"),
    ({"oidc_client": {"redirect_paths": ["/cb"], "levels": ["root"]}},
     "needs.oidc_client.levels.0", "'full', 'limited' or 'staff'"),
    ({"oidc_client": {"redirect_paths": []}}, "needs.oidc_client.redirect_paths",
     "at least 1 item"),
])
def test_bad_needs_name_the_file_and_the_field(tmp_path: Path, needs_: dict[str, Any],
                                               where: str, says: str) -> None:
    roles = tmp_path / "roles"
    _write(roles, "db", {"name": "db", "summary": "the database"})
    _write(roles, "thing", {"name": "thing", "summary": "a test", "needs": needs_})
    (problem,) = _problems(roles)
    assert problem.startswith(f"roles/thing/meta/service.yml: {where}: "), problem
    assert says in problem


def test_a_need_without_its_provider_is_refused(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    _write(roles, "thing", {"name": "thing", "summary": "a test",
                            "needs": {"mail_relay": {}}})
    (problem,) = _problems(roles)
    assert problem == ("roles/thing/meta/service.yml: needs.mail_relay: no service 'mail' "
                       "is declared to provide it")


def test_a_port_purpose_given_twice_is_refused(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    _write(roles, "thing", {"name": "thing", "summary": "a test", "ports": [
        {"port": 1, "from": ["edge"], "purpose": "x"},
        {"port": 2, "from": ["edge"], "purpose": "x"}]})
    (problem,) = _problems(roles)
    assert "roles/thing/meta/service.yml" in problem and "purpose 'x' given twice" in problem
