"""The artifact manifest: pinned entries load; bad entries are refused naming the entry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from municloud import cli
from municloud.artifacts.resolve import resolve
from municloud.core import artifact_manifest as mf
from municloud.core.errors import InvalidInput

GOOD_FILE = {"name": "tool", "kind": "file", "component": "files", "version": "1.2.3",
             "url": "https://vendor.example/tool-1.2.3", "sha256": "a" * 64}
GOOD_APT = {"name": "repo", "kind": "apt", "component": "meet",
            "url": "https://vendor.example", "suite": "stable/",
            "key_url": "https://vendor.example/key.asc", "key_fingerprint": "B" * 40,
            "packages": {"pkg-a": "1.0-1"}}


def problems(*entries: Mapping[str, object], **top: object) -> str:
    with pytest.raises(InvalidInput) as exc:
        mf.parse([("m.yml", {**top, "artifacts": list(entries)})])
    assert exc.value.exit_code == 2
    return str(exc.value)


@pytest.mark.control("ART-03")
def test_shipped_manifests_load_pinned_and_honest() -> None:
    default = mf.load()
    assert default.policy == "require"
    assert {a.name for a in default.artifacts} == {"wso2is", "ocis", "jitsi"}
    for a in default.artifacts:
        assert "latest" not in a.url and "latest" not in a.version
    # The real checksums were not verifiable offline: marked, hence not pinned.
    assert not default.get("wso2is").pinned and not default.get("ocis").pinned
    lab = mf.load("lab")
    assert lab.policy == "best_effort" and lab.mirror == "https://10.70.4.1:8443"
    assert mf.load("production").policy == "require"


@pytest.mark.control("ART-03")
@pytest.mark.parametrize("field", ["sha256", "version", "url"])
def test_file_entry_without_a_required_field_is_named(field: str) -> None:
    entry = {k: v for k, v in GOOD_FILE.items() if k != field}
    msg = problems(entry)
    assert f"artifacts[0] (tool).{field}" in msg and "missing" in msg


@pytest.mark.control("ART-03")
@pytest.mark.parametrize("url", ["vendor.example/x", "ftp://vendor.example/x", "https:///x",
                                 "https://vendor example/x", "http://[::1/x"])
def test_malformed_url_is_named(url: str) -> None:
    msg = problems({**GOOD_FILE, "url": url})
    assert "artifacts[0] (tool).url" in msg and "malformed URL" in msg


@pytest.mark.control("ART-03")
def test_duplicate_name_is_named() -> None:
    msg = problems(GOOD_FILE, {**GOOD_APT, "name": "tool"})
    assert "artifacts[1] (tool).name" in msg and "duplicate artifact name 'tool'" in msg


@pytest.mark.control("ART-03")
@pytest.mark.parametrize(("entry", "expect"), [
    ({**GOOD_FILE, "version": "latest"}, "(tool).version: version 'latest' is not pinned"),
    ({**GOOD_FILE, "sha256": "abc"}, "(tool).sha256: not a sha256 checksum"),
    ({**GOOD_APT, "key_fingerprint": "1234"}, "(repo).key_fingerprint: not an OpenPGP"),
    ({**GOOD_APT, "suite": "stable"}, "(repo).suite: suite 'stable' is not a flat"),
    ({**GOOD_APT, "packages": {"pkg-a": "*"}}, "(repo).packages.pkg-a: version '*'"),
    ({**GOOD_APT, "packages": {}}, "(repo).packages: required field"),
    ({**GOOD_FILE, "kind": "tarball"}, "(tool).kind: invalid or missing kind"),
])
def test_unpinned_or_invalid_values_are_refused(entry: dict[str, object], expect: str) -> None:
    assert expect in problems(entry)


@pytest.mark.control("ART-03")
def test_every_problem_is_reported_at_once() -> None:
    msg = problems({**GOOD_FILE, "sha256": None}, {**GOOD_FILE, "name": "two", "url": "nope"},
                   policy="sometimes")
    assert "(tool).sha256" in msg and "(two).url" in msg and "policy" in msg


def test_placeholder_is_accepted_but_not_pinned() -> None:
    m = mf.parse([("m.yml", {"artifacts": [{**GOOD_FILE, "sha256": mf.PLACEHOLDER},
                                           {**GOOD_APT, "key_fingerprint": mf.PLACEHOLDER}]})])
    assert not m.get("tool").pinned and not m.get("repo").pinned


def test_env_layer_overrides_policy_mirror_and_entries() -> None:
    m = mf.parse([("default", {"policy": "require", "artifacts": [GOOD_FILE, GOOD_APT]}),
                  ("env", {"policy": "best_effort", "mirror": "https://10.0.0.1:8443",
                           "artifacts": [{**GOOD_FILE, "version": "1.2.4"}]})])
    assert m.policy == "best_effort" and m.get("tool").version == "1.2.4"
    assert m.names() == ["tool", "repo"]


@pytest.mark.control("ART-02")
def test_resolve_points_hosts_at_the_mirror_when_there_is_one() -> None:
    m = mf.parse([("m", {"mirror": "https://10.0.0.1:8443/", "artifacts": [GOOD_FILE, GOOD_APT]})])
    f = resolve(m, "tool")
    assert f["url"] == "https://10.0.0.1:8443/files/tool/1.2.3/tool-1.2.3"
    assert f["source"] == "mirror" and f["sha256"] == "a" * 64
    a = resolve(m, "repo")
    assert (a["url"], a["suite"]) == ("https://10.0.0.1:8443/apt/repo/", "./")
    assert a["probe_url"] == "https://10.0.0.1:8443/apt/repo/Release"
    assert a["packages"] == ["pkg-a=1.0-1"]
    upstream = mf.parse([("m", {"artifacts": [GOOD_FILE, GOOD_APT]})])
    assert resolve(upstream, "tool")["url"] == GOOD_FILE["url"]
    assert resolve(upstream, "repo")["probe_url"] == "https://vendor.example/stable/Release"
    with pytest.raises(InvalidInput, match="no artifact named 'nope'"):
        resolve(m, "nope")


@pytest.mark.control("ART-03")
def test_cli_exits_2_naming_the_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "artifacts.yml"
    bad.write_text(yaml.safe_dump({"artifacts": [{**GOOD_FILE, "sha256": None}]}))
    assert cli.main(["artifacts", "show", "--manifest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "artifacts[0] (tool).sha256: required field 'sha256' is missing" in err


# Issue 17, item 7 ---------------------------------------------------------------------------

@pytest.mark.control("ART-03")
def test_unknown_component_is_named() -> None:
    msg = problems({**GOOD_FILE, "component": "nextcloud"})
    assert "artifacts[0] (tool).component: unknown component 'nextcloud'" in msg
    assert "allowed: backup_server, db, directory, edge" in msg


@pytest.mark.control("ART-03")
@pytest.mark.parametrize("action", [["show"], ["fetch"], ["verify", "/nonexistent"], ["serve"],
                                    ["stop"], ["status"]])
def test_unknown_env_is_refused_exit_2(action: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["artifacts", *action, "--env", "chania"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --env: unknown environment 'chania'" in err
    assert "lab, production, staging" in err


@pytest.mark.control("ART-03")
def test_inventories_elsewhere_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from .topology_cases import write_env

    write_env(tmp_path, "chania", None)
    (tmp_path / "chania" / "artifacts.yml").write_text(yaml.safe_dump(
        {"policy": "best_effort", "artifacts": [GOOD_FILE]}))
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(tmp_path))
    assert cli.main(["artifacts", "show", "--env", "chania", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["policy"] == "best_effort"
    assert {a["name"] for a in shown["artifacts"]} == {"wso2is", "ocis", "jitsi", "tool"}
    # The inventories' own shared manifest replaces the shipped one.
    (tmp_path / "artifacts.yml").write_text(yaml.safe_dump({"artifacts": [GOOD_APT]}))
    assert cli.main(["artifacts", "show", "--env", "chania", "--json"]) == 0
    assert {a["name"] for a in json.loads(capsys.readouterr().out)["artifacts"]} == {
        "tool", "repo"}
    with pytest.raises(SystemExit):  # and the repository's own environments are not known
        cli.main(["artifacts", "show", "--env", "lab"])
