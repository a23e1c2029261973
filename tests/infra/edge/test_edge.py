"""The edge proxies, probed from the controller over HTTPS and on the hosts themselves."""

from __future__ import annotations

import base64
import secrets
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from ..webclient import EdgeSession, access_logs, ca_file, handshake


def _edges(lab: dict[str, Any]) -> list[tuple[str, str]]:
    hosts = lab["all"]["hosts"]
    return [(n, hosts[n]["municloud_address"]) for n in lab["all"]["children"]["edge"]["hosts"]]


def _sites(lab: dict[str, Any]) -> list[dict[str, Any]]:
    sites: list[dict[str, Any]] = lab["all"]["vars"]["municloud_published_sites"]
    return sites


def _session(lab: dict[str, Any], address: str) -> EdgeSession:
    return EdgeSession(address, [s["name"] for s in _sites(lab)],
                       ca_file(lab["all"]["vars"]["municloud_secrets_dir"]))


def _fetch_everywhere(lab: dict[str, Any], paths: list[str],
                      ) -> list[tuple[str, dict[str, Any], str, requests.Response]]:
    """(edge host, site, path, response) of every path of every published site through
    every edge host, all requests at once (each behind its own backend: Horde's and the
    portal's pages take a while under load, and they do not wait on each other)."""
    jobs = [(edge, address, site, path) for edge, address in _edges(lab)
            for site in _sites(lab) for path in paths]

    def fetch(job: tuple[str, str, dict[str, Any], str]) -> requests.Response:
        _, address, site, path = job
        with _session(lab, address) as s:
            return s.get(f"https://{site['name']}{path}", allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        answers = list(pool.map(fetch, jobs))
    return [(edge, site, path, r) for (edge, _, site, path), r in zip(jobs, answers, strict=True)]


@pytest.mark.control("WEB-EDGE-01", "WEB-TLS-01")
def test_every_published_name_answers_on_every_edge_host(lab: dict[str, Any]) -> None:
    assert _sites(lab), "no published site: public_names or publish declarations missing"
    for edge, site, _, r in _fetch_everywhere(lab, ["/"]):
        where = f"{site['name']} on {edge}"
        if site["deployed"] and site.get("vendor") and r.status_code == 503:
            # A vendor part whose artifact is unavailable: said, not hidden.
            assert "not deployed" in r.text, f"{where}: {r.text[:200]}"
        elif site["deployed"]:
            assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:200]}"
        else:
            assert r.status_code == 503, f"{where}: {r.status_code}"
            assert "not deployed" in r.text, f"{where}: {r.text[:200]}"


@pytest.mark.control("WEB-EDGE-01")
def test_the_edge_serves_exactly_the_derived_sites(lab: dict[str, Any], target: Any) -> None:
    wanted = sorted(s["name"] for s in _sites(lab))
    for edge, _ in _edges(lab):
        dump = target(edge).check_output("nginx -T 2>/dev/null")
        names = sorted({line.split()[1].rstrip(";") for line in dump.splitlines()
                        if line.strip().startswith("server_name ")} - {"_"})
        assert names == wanted, f"{edge}: nginx serves {names}, the declarations imply {wanted}"


@pytest.mark.control("WEB-EDGE-01", "WEB-TLS-01")
def test_an_unpublished_name_is_refused(lab: dict[str, Any]) -> None:
    ca = ca_file(lab["all"]["vars"]["municloud_secrets_dir"])
    for edge, address in _edges(lab):
        with pytest.raises(ssl.SSLError):
            handshake(address, f"unknown.{lab['all']['vars']['municloud_domain']}", ca,
                      ssl.TLSVersion.TLSv1_2)
        assert edge


@pytest.mark.control("WEB-TLS-01")
def test_only_tls_1_2_and_later(lab: dict[str, Any]) -> None:
    ca = ca_file(lab["all"]["vars"]["municloud_secrets_dir"])
    name = _sites(lab)[0]["name"]
    for edge, address in _edges(lab):
        assert handshake(address, name, ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2", edge
        assert handshake(address, name, ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3", edge
        for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with pytest.raises(ssl.SSLError) as err:
                handshake(address, name, ca, old)
            # The server refused (alert), not our own client library.
            assert "ALERT_PROTOCOL_VERSION" in str(err.value).upper() or \
                "PROTOCOL VERSION" in str(err.value).upper(), f"{edge} {old}: {err.value}"


@pytest.mark.control("WEB-TLS-01")
def test_plain_http_only_redirects_to_https(lab: dict[str, Any]) -> None:
    for edge, address in _edges(lab):
        for site in _sites(lab):
            r = requests.get(f"http://{address}/some/path?x=1", allow_redirects=False,
                             headers={"Host": site["name"]}, timeout=10)
            assert r.status_code == 301, f"{site['name']} on {edge}: {r.status_code}"
            assert r.headers["Location"] == f"https://{site['name']}/some/path?x=1"


@pytest.mark.control("WEB-HDR-01", "WEB-TLS-01")
def test_hsts_and_security_headers_on_every_site(lab: dict[str, Any]) -> None:
    for edge, site, path, r in _fetch_everywhere(
            lab, ["/", f"/no-such-page-{secrets.token_hex(4)}"]):
        h = r.headers
        where = f"{site['name']}{path} on {edge} ({r.status_code})"
        hsts = h.get("Strict-Transport-Security", "")
        assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) \
            >= 15552000, f"{where}: HSTS {hsts!r}"
        assert h.get("X-Content-Type-Options") == "nosniff", where
        assert h.get("X-Frame-Options") in ("SAMEORIGIN", "DENY"), where
        assert h.get("Referrer-Policy"), where
        assert "," not in h.get("X-Frame-Options", ""), f"{where}: header doubled"
        assert "nginx/" not in h.get("Server", ""), f"{where}: version disclosed"


@pytest.mark.control("WEB-LOG-01")
def test_access_log_holds_no_credentials(lab: dict[str, Any], target: Any) -> None:
    edge, address = _edges(lab)[0]
    site = _sites(lab)[0]["name"]
    marker = f"probe-{secrets.token_hex(6)}"
    password = f"Pw-{secrets.token_hex(8)}"
    s = _session(lab, address)
    s.get(f"https://{site}/{marker}?user=alice&password={password}", timeout=30,
          auth=("alice", password), allow_redirects=False)
    log = access_logs(target(edge), marker)
    assert marker in log, f"{edge}: the request was not logged at all"
    assert password not in log, f"{edge}: the password reached the access log"
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    assert basic not in log, f"{edge}: the Authorization header reached the access log"


@pytest.mark.control("WEB-RATE-01")
def test_login_paths_are_rate_limited(lab: dict[str, Any]) -> None:
    # The last edge host only: the other one stays unthrottled for the login tests.
    edge, address = _edges(lab)[-1]
    deployed = [s for s in _sites(lab) if s["deployed"] and s["reachable"]]
    if not deployed:
        pytest.skip("no published service is deployed: the login rate limit sits in front "
                    "of deployed upstreams only")
    s = _session(lab, address)
    codes = [s.get(f"https://{deployed[0]['name']}/login.php", allow_redirects=False,
                   timeout=30).status_code for _ in range(40)]
    assert 429 in codes, f"{edge}: 40 login requests in a row, none limited: {codes}"
    # Other paths are not limited.
    r = s.get(f"https://{deployed[0]['name']}/", allow_redirects=False, timeout=30)
    assert r.status_code != 429, edge


@pytest.mark.control("WEB-RATE-01")
def test_request_bodies_are_bounded(lab: dict[str, Any]) -> None:
    edge, address = _edges(lab)[-1]
    deployed = [s for s in _sites(lab) if s["deployed"] and s["reachable"]]
    if not deployed:
        pytest.skip("no published service is deployed")
    s = _session(lab, address)
    r = s.post(f"https://{deployed[0]['name']}/upload-probe", data=b"x" * (26 * 1024 * 1024),
               allow_redirects=False, timeout=60)
    assert r.status_code == 413, f"{edge}: a 26 MB body got {r.status_code}"


@pytest.mark.control("WEB-TLS-02")
def test_https_upstreams_are_verified_against_the_municipal_ca(
        lab: dict[str, Any], target: Any) -> None:
    ca = ca_file(lab["all"]["vars"]["municloud_secrets_dir"]).read_text().strip()
    # The sites the edge proxies (a vendor part this environment cannot obtain has none).
    https = [s for s in _sites(lab)
             if s["deployed"] and s["reachable"] and s["scheme"] == "https"]
    if not https:
        pytest.skip("no deployed service behind the edge speaks HTTPS")
    for edge, _ in _edges(lab):
        h = target(edge)
        dump = h.check_output("nginx -T 2>/dev/null")
        for site in https:
            block = dump.split(f"server_name {site['name']};", 1)[1].split("\nserver {", 1)[0]
            assert f"proxy_ssl_name {site['ssl_name']};" in block, f"{edge} {site['name']}"
        assert "proxy_ssl_verify on;" in dump, edge
        trusted = [line.split()[1].rstrip(";") for line in dump.splitlines()
                   if line.strip().startswith("proxy_ssl_trusted_certificate ")]
        assert trusted, edge
        for f in set(trusted):
            assert h.file(f).content_string.strip() == ca, f"{edge}: {f} is not the municipal CA"
