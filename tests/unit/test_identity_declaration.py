"""The identity declaration (inventories/<env>/identity.yml): shipped ones are valid, bad
ones are refused naming the file, the entry and the field, and the export is what both
providers' roles read."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import identity_declaration as declaration
from municloud.core import paths, topology
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

LAB = yaml.safe_load((paths.INVENTORIES / "lab" / "identity.yml").read_text())


def _choice(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: next(c for c in d["choices"] if c["name"] == name)


def _no_secret(d: dict[str, Any]) -> None:
    del _choice("google")(d)["client_secret"]


def _foreign_redirect(d: dict[str, Any]) -> None:
    d["relying_parties"][0]["redirect_uris"] = ["https://eservices.example.com/callback"]


def _http_redirect(d: dict[str, Any]) -> None:
    d["relying_parties"][0]["redirect_uris"] = ["http://eservices.heraklion.gr/callback"]


def _lookalike_redirect(d: dict[str, Any]) -> None:
    d["relying_parties"][0]["redirect_uris"] = ["https://evilheraklion.gr/callback"]


def _unknown_level(d: dict[str, Any]) -> None:
    _choice("facebook")(d)["level"] = "medium"


def _rp_unknown_level(d: dict[str, Any]) -> None:
    d["relying_parties"][1]["levels"] = ["staff", "admin"]


def _vault_without_var(d: dict[str, Any]) -> None:
    _choice("google")(d)["client_secret"] = {"source": "vault"}


def _no_endpoint(d: dict[str, Any]) -> None:
    del _choice("taxisnet")(d)["endpoints"]["token"]


def _unknown_field(d: dict[str, Any]) -> None:
    _choice("staff")(d)["password"] = "x"


def _unknown_provider(d: dict[str, Any]) -> None:
    d["provider"] = "keycloak"


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("upstream-without-secret", _no_secret, "choices[1].client_secret",
     "upstream 'google' has no client secret"),
    ("vault-without-variable", _vault_without_var, "choices[1].client_secret.var",
     "needs the variable's name"),
    ("redirect-outside-domain", _foreign_redirect, "relying_parties[0].redirect_uris[0]",
     "'eservices': 'https://eservices.example.com/callback' is outside"),
    ("redirect-not-https", _http_redirect, "relying_parties[0].redirect_uris[0]",
     "outside the municipality's domain"),
    ("redirect-lookalike-domain", _lookalike_redirect, "relying_parties[0].redirect_uris[0]",
     "outside the municipality's domain"),
    ("unknown-level", _unknown_level, "choices[2].level",
     "choice 'facebook': unknown access level 'medium'"),
    ("rp-level-does-not-exist", _rp_unknown_level, "relying_parties[1].levels[1]",
     "relying party 'staffportal' accepts an access level that does not exist: 'admin'"),
    ("upstream-without-endpoint", _no_endpoint, "choices[0].endpoints.token",
     "missing or not an https URL"),
    ("unknown-field", _unknown_field, "choices[3].password", "unknown field"),
    ("unknown-provider", _unknown_provider, "provider", "invalid value 'keycloak'"),
]


def write(tmp: Path, data: dict[str, Any], env: str = "lab") -> Path:
    """An inventories folder holding the shipped topology of env and this declaration."""
    (tmp / env).mkdir(parents=True)
    (tmp / env / "topology.yml").write_text(
        (paths.INVENTORIES / env / "topology.yml").read_text())
    f = tmp / env / "identity.yml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


@pytest.mark.control("SSO-DECL-01")
@pytest.mark.parametrize("env", ["lab", "production", "staging"])
def test_shipped_declarations_are_valid(env: str) -> None:
    ident = declaration.load(topology.load(env))
    assert ident is not None
    assert [c.name for c in ident.choices] == ["taxisnet", "google", "facebook", "staff"]
    assert [c.level for c in ident.choices] == ["full", "limited", "limited", "staff"]
    assert ident.provider == ("lemonldap" if env == "lab" else "wso2")


@pytest.mark.control("SSO-DECL-01")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_declaration_is_refused_naming_entry_and_field(
        case: tuple[str, Callable[[dict[str, Any]], None], str, str], tmp_path: Path) -> None:
    _, mutate, path, words = case
    data = copy.deepcopy(LAB)
    mutate(data)
    f = write(tmp_path, data)
    topo = topology.load_file(tmp_path / "lab" / "topology.yml", load_services())
    with pytest.raises(InvalidInput) as err:
        declaration.load_file(f, topo, [])
    lines = [str(p) for p in err.value.problems]
    match = [line for line in lines if f"identity.yml: {path}: " in line]
    assert match, f"no problem names {path}: {lines}"
    assert any(words in line for line in match), lines
    assert all("(allowed: " in line for line in match), lines


@pytest.mark.control("SSO-DECL-01")
def test_generated_secret_is_refused_outside_the_lab(tmp_path: Path) -> None:
    data = yaml.safe_load((paths.INVENTORIES / "production" / "identity.yml").read_text())
    _choice("google")(data)["client_secret"] = {"source": "generated"}
    f = write(tmp_path, data, "production")
    topo = topology.load_file(tmp_path / "production" / "topology.yml", load_services())
    with pytest.raises(InvalidInput) as err:
        declaration.load_file(f, topo, [])
    assert "choices[1].client_secret.source: upstream 'google': a generated secret only " \
        "suits a lab test double (allowed: vault" in str(err.value)


@pytest.mark.control("SSO-DECL-01")
def test_service_consumers_are_checked_too() -> None:
    topo = topology.load("lab")
    ident = declaration.load(topo)
    assert ident is not None
    bad = [{"service": "webmail", "client_id": "webmail", "levels": ["staff", "gold"],
            "redirect_uris": ["https://webmail.example.org/cb"], "post_logout_uris": []}]
    lines = [str(p) for p in declaration.check(ident, topo, "identity.yml", bad)]
    assert any("(service webmail) needs.oidc_client.levels[1]: unknown access level 'gold'"
               in line for line in lines), lines
    assert any("'https://webmail.example.org/cb' is outside" in line for line in lines), lines


@pytest.mark.control("SSO-DECL-01")
def test_export_derives_service_clients_and_adds_declared_ones(tmp_path: Path) -> None:
    topo = topology.load("lab")
    ident = declaration.load(topo)
    assert ident is not None
    consumers = [{"service": "webmail", "client_id": "webmail", "hosts": ["10.70.2.21"],
                  "redirect_uris": ["https://webmail.heraklion.gr/oauth2/callback"],
                  "post_logout_uris": ["https://webmail.heraklion.gr/"],
                  "levels": ["staff"], "claims": ["uid", "mail", "groups", "access_level"]}]
    out = declaration.export(ident, topo, consumers, tmp_path)
    assert out["issuer"] == "https://id.heraklion.gr"
    rps = {r["name"]: r for r in out["relying_parties"]}
    assert sorted(rps) == ["eservices", "staffportal", "webmail"]
    assert rps["webmail"]["origin"] == "service"
    assert rps["webmail"]["redirect_uris"] == ["https://webmail.heraklion.gr/oauth2/callback"]
    assert rps["eservices"]["client_secret_file"] == str(
        tmp_path / "identity" / "clients" / "eservices.secret")
    google = next(c for c in out["choices"] if c["name"] == "google")
    assert google["client_secret"]["file"] == str(
        tmp_path / "identity" / "upstreams" / "google.client-secret")
    taxisnet = next(c for c in out["choices"] if c["name"] == "taxisnet")
    assert taxisnet["bridge"]["issuer"] == "https://id.heraklion.gr/gsis-bridge"
    assert out["manager"]["sources"] == ["10.70.4.0/24"]
    assert out["manager"]["name"] == "manager.id.heraklion.gr"


@pytest.mark.control("SSO-DECL-01")
def test_topology_check_reports_the_declaration_and_exits_2_when_bad(tmp_path: Path) -> None:
    data = copy.deepcopy(LAB)
    _no_secret(data)
    write(tmp_path / "inv", data)
    env = dict(os.environ, MUNICLOUD_INVENTORIES=str(tmp_path / "inv"),
               MUNICLOUD_STATE=str(tmp_path / "state"))
    run = subprocess.run([sys.executable, "-m", "municloud.cli", "topology", "check", "lab"],
                         env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "choices[1].client_secret: upstream 'google' has no client secret" in run.stderr
    assert not (tmp_path / "state").exists()
