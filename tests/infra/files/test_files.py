"""oCIS (role files): deployed for real where the binary is on the mirror, otherwise "not
deployed" loudly with nothing of it running or listening; bad input stops before any
change."""

from __future__ import annotations

from typing import Any

import pytest

from .. import playbook
from ..webclient import EdgeSession, ca_file
from .conftest import Files


def _edge(lab: dict[str, Any], files: Files) -> EdgeSession:
    edges = lab["all"]["vars"]["municloud_service_hosts"].get("edge", [])
    if not edges:
        pytest.skip("no edge host")
    return EdgeSession(edges[0]["address"], [files.public_name],
                       ca_file(lab["all"]["vars"]["municloud_secrets_dir"]))


@pytest.mark.control("FILES-DEPLOY-01")
def test_not_deployed_leaves_nothing_running(files: Files, target: Any) -> None:
    if files.deployed:
        pytest.skip("oCIS is deployed here: see test_ocis_runs_with_its_restart_policy")
    host = target(files.host)
    assert files.reason.startswith("artifact unavailable"), files.reason
    assert host.run("pgrep -x ocis").rc != 0, f"{files.host}: an ocis process runs"
    assert not host.file("/etc/systemd/system/ocis.service").exists or \
        not host.service("ocis").is_running
    assert not host.file("/etc/ocis/ocis.yaml").exists, "configuration generated without oCIS"
    listening = host.check_output("ss -H -l -n -t")
    assert ":9200 " not in listening, f"{files.host}: 9200 listens:\n{listening}"


@pytest.mark.control("FILES-DEPLOY-01")
def test_edge_says_files_is_not_deployed(lab: dict[str, Any], files: Files) -> None:
    r = _edge(lab, files).get(f"https://{files.public_name}/", timeout=30)
    if files.deployed:
        assert r.status_code < 500, r.status_code
    else:
        assert r.status_code == 503 and "not deployed" in r.text, (r.status_code, r.text[:300])


@pytest.mark.control("FILES-DEPLOY-01")
def test_ocis_runs_with_its_restart_policy(files: Files, target: Any) -> None:
    if not files.deployed:
        pytest.skip(f"oCIS is not deployed on {files.host}: {files.reason}")
    host = target(files.host)
    assert host.service("ocis").is_running and host.service("ocis").is_enabled
    unit = host.check_output("systemctl show ocis --property=Restart,User")
    assert "Restart=always" in unit and "User=ocis" in unit, unit
    assert host.file("/etc/ocis/ocis.yaml").user == "ocis"


@pytest.mark.control("FILES-OIDC-01")
def test_oidc_discovery_and_webdav_through_the_edge(lab: dict[str, Any], files: Files) -> None:
    if not files.deployed:
        pytest.skip(f"oCIS is not deployed on {files.host}: {files.reason}")
    s = _edge(lab, files)
    disc = s.get(f"https://{files.public_name}/.well-known/openid-configuration", timeout=30)
    assert disc.status_code == 200 and "issuer" in disc.json(), disc.text[:300]
    assert s.get(f"https://{files.public_name}/status.php", timeout=30).status_code == 200
    dav = s.request("PROPFIND", f"https://{files.public_name}/remote.php/dav/spaces/",
                    timeout=30)
    assert dav.status_code == 401, "WebDAV answered without a login"


@pytest.mark.exercise
@pytest.mark.control("FILES-INPUT-01")
@pytest.mark.parametrize(("quotas", "expected"), [
    pytest.param({"staff": "10 apples"}, "files_group_quotas.staff: 10 apples is not a size",
                 id="not-a-size"),
    pytest.param({"staff": "-5GB"}, "files_group_quotas.staff: -5GB is not a size", id="negative"),
    pytest.param({"nosuchgroup": "1GB"}, "files_group_quotas.nosuchgroup: no such group",
                 id="unknown-group"),
])
def test_bad_quota_stops_before_any_change(files: Files, quotas: dict[str, str],
                                           expected: str) -> None:
    rc, out, stats = playbook.run("vendor.yml", files.host, {"files_group_quotas": quotas})
    assert rc != 0, out[-3000:]
    assert expected in out, out[-3000:]
    assert all(s.get("changed", 0) == 0 for s in stats.values()), stats
