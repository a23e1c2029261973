"""Bad input to the cloud commands: one clear line naming the problem, a non-zero exit,
never a traceback. (A wrong password needs a real keystone: tests/cloud.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from municloud.audit.cloud import drift
from municloud.audit.cloud_rules import Estate, Server
from municloud.core import paths
from municloud.core.topology import load

MUNICLOUD = str(Path(sys.executable).parent / "municloud")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clouds(tmp_path: Path, auth_url: str) -> Path:
    f = tmp_path / "clouds.yaml"
    f.write_text(yaml.safe_dump({"clouds": {"other": {"auth": {
        "auth_url": auth_url, "username": "u", "password": "p", "project_name": "p",
        "user_domain_name": "Default", "project_domain_name": "Default"}}}}))
    return f


def _run(args: list[str], clouds: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    return subprocess.run([MUNICLOUD, *args], capture_output=True, text=True, env=env,
                          cwd=paths.REPO, timeout=120)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("cmd", [["audit", "cloud", "--cloud", "nosuch", "--env", "staging"],
                                 ["preflight", "staging", "--cloud", "nosuch"]])
def test_no_clouds_yaml_entry(tmp_path: Path, cmd: list[str]) -> None:
    r = _run(cmd, _clouds(tmp_path, "http://127.0.0.1:1/v3"))
    assert r.returncode == 2
    line = _one_line(r)
    assert line.startswith("municloud: error: cloud 'nosuch': no such entry in ")
    assert f"{tmp_path / 'clouds.yaml'} (entries: other)" in line


CMDS = [["audit", "cloud", "--cloud", "other", "--env", "staging"],
        ["preflight", "staging", "--cloud", "other"]]


@pytest.mark.parametrize("cmd", CMDS)
def test_missing_clouds_yaml_is_named_as_such(tmp_path: Path, cmd: list[str]) -> None:
    r = _run(cmd, tmp_path / "nowhere" / "clouds.yaml")
    assert r.returncode == 2
    assert _one_line(r).startswith(f"municloud: error: cloud 'other': OS_CLIENT_CONFIG_FILE="
                                   f"{tmp_path / 'nowhere' / 'clouds.yaml'}: no such file")


@pytest.mark.parametrize("content,words", [
    (b"clouds: [a\n", "not valid YAML"),
    (b"\x00\x01\x02binary", "is a binary file"),
    (b"- just\n- a list\n", "not a clouds.yaml"),
    (b"clouds:\n  other: 3\n", "clouds.other: must be a mapping"),
])
def test_invalid_clouds_yaml_is_named_as_such(tmp_path: Path, content: bytes, words: str) -> None:
    f = tmp_path / "clouds.yaml"
    f.write_bytes(content)
    r = _run(CMDS[0], f)
    assert r.returncode == 2
    line = _one_line(r)
    assert str(f) in line and words in line and "no such entry" not in line


@pytest.mark.parametrize("url", ["keystone:5000/v3", "ftp://keystone/v3", "http:///v3",
                                 "http://key stone:5000/v3", "http://[::1/v3"])
def test_invalid_auth_url_is_named(tmp_path: Path, url: str) -> None:
    for cmd in CMDS:
        r = _run(cmd, _clouds(tmp_path, url))
        assert r.returncode == 2
        assert _one_line(r) == (f"municloud: error: {tmp_path / 'clouds.yaml'}: clouds.other."
                                f"auth.auth_url: invalid URL {url!r} (allowed: an http(s) URL "
                                "such as https://keystone.example:5000/v3)")


def test_audit_of_an_unknown_cloud_names_the_cloud(tmp_path: Path) -> None:
    r = _run(["audit", "cloud", "--cloud", "no-such-cloud"],
             _clouds(tmp_path, "http://127.0.0.1:1/v3"))
    assert r.returncode == 2
    line = _one_line(r)
    assert line.startswith("municloud: error: cloud 'no-such-cloud': no such entry in ")
    assert "--env" not in line


@pytest.mark.parametrize("cmd", [["audit", "cloud", "--cloud", "other", "--env", "staging"],
                                 ["preflight", "staging", "--cloud", "other"]])
def test_unreachable_endpoint(tmp_path: Path, cmd: list[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v3"
    r = _run(cmd, _clouds(tmp_path, url))
    assert r.returncode == 1
    assert _one_line(r) == (f"municloud: error: cloud 'other': identity endpoint {url} "
                            "unreachable (ConnectFailure); is the cloud up?")


@pytest.mark.parametrize("cmd", [["audit", "cloud", "--cloud", "other", "--env", "nope"],
                                 ["preflight", "nope", "--cloud", "other"]])
def test_unknown_environment(tmp_path: Path, cmd: list[str]) -> None:
    r = _run(cmd, _clouds(tmp_path, "http://127.0.0.1:1/v3"))
    assert r.returncode == 2
    assert _one_line(r).startswith("municloud: error: unknown environment 'nope'")


def test_audit_without_env_names_the_choices(tmp_path: Path) -> None:
    r = _run(["audit", "cloud", "--cloud", "other"], _clouds(tmp_path, "http://127.0.0.1:1/v3"))
    assert r.returncode == 1
    assert "give --env ENV" in _one_line(r)


@pytest.mark.control("CLOUD-DRIFT-01", "CLOUD-DRIFT-02")
def test_drift_names_missing_extra_and_resized_servers() -> None:
    topo = load("staging")
    flavor = {h.name: topo.sizes[h.size].flavor for h in topo.hosts}
    servers = [Server(name=h.name, flavor=flavor[h.name]) for h in topo.hosts
               if h.name not in ("db1", "idp1")]
    servers.append(Server(name="idp1", flavor="m1.large"))
    servers.append(Server(name="stray", flavor="m1.small"))
    found = {(f.control, f.name) for f in drift(Estate(servers=tuple(servers)), topo)}
    assert found == {("CLOUD-DRIFT-01", "db1"), ("CLOUD-DRIFT-01", "stray"),
                     ("CLOUD-DRIFT-02", "idp1")}
