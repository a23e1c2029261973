"""fetch and verify against a real vendor site on loopback (files, a signed apt repository),
and against loopback ports that refuse or never answer."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from municloud import cli
from municloud.artifacts import gpg, mirror
from municloud.artifacts.download import sha256_file
from municloud.core import artifact_manifest as mf

from .artifact_builders import Vendor, build_vendor, http_server, manifest, write_yaml


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Vendor:
    return build_vendor(tmp_path_factory.mktemp("vendor"), tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def base(vendor: Vendor) -> Iterator[str]:
    with http_server(vendor.root) as url:
        yield url


@pytest.fixture
def signing(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "archive" / "gnupg", tmp_path / "archive" / "municloud-archive.gpg"


def run_fetch(m: mf.Manifest, dest: Path, signing: tuple[Path, Path],
              timeout: float = 5) -> dict[str, mirror.Result]:
    results = mirror.fetch_all(m, dest, signing[0], signing[1], mirror.Options(timeout=timeout))
    return {r.name: r for r in results}


def parsed(data: dict[str, object]) -> mf.Manifest:
    return mf.parse([("test manifest", data)])


@pytest.mark.control("ART-01", "ART-02")
def test_fetch_builds_a_verified_mirror(vendor: Vendor, base: str, tmp_path: Path,
                                        signing: tuple[Path, Path]) -> None:
    dest = tmp_path / "mirror"
    m = parsed(manifest(vendor, base))
    got = run_fetch(m, dest, signing)
    assert {n: r.status for n, r in got.items()} == {"tool": "ok", "suite": "ok",
                                                     "vendorrepo": "ok"}, got
    assert sha256_file(dest / "files/tool/1.2.3/tool-1.2.3.bin") == vendor.files["tool-1.2.3.bin"]
    repo = dest / "apt/vendorrepo"
    debs = sorted(p.name for p in (repo / "pool").glob("*.deb"))
    assert debs == ["municloud-test-extra_2.1-3_all.deb", "municloud-test-hello_1.0-1_all.deb"]
    # Upstream signature chain preserved, our index re-signed by the archive key.
    for f in ("key.asc", "Release", "Release.gpg", "Packages"):
        assert (dest / "upstream/vendorrepo" / f).exists()
    archive = signing[1].read_bytes()
    assert (dest / mirror.ARCHIVE_KEY).read_bytes() == archive
    archive_fpr = gpg.fingerprints(archive)[0]
    assert gpg.verify_detached(archive, repo / "Release.gpg", repo / "Release",
                               [archive_fpr]) == archive_fpr
    assert "municloud-test-hello" in (repo / "Packages").read_text()
    # Re-checking the mirror passes; a second fetch keeps what is there.
    assert {r.status for r in mirror.verify_all(m, dest, archive)} == {"ok"}
    again = run_fetch(m, dest, signing)
    assert "already in the mirror" in again["tool"].detail


@pytest.mark.control("ART-02")
def test_real_apt_accepts_the_mirror_only_with_the_archive_key(
        vendor: Vendor, base: str, tmp_path: Path, signing: tuple[Path, Path]) -> None:
    dest = tmp_path / "mirror"
    run_fetch(parsed(manifest(vendor, base)), dest, signing)
    with http_server(dest) as url:
        def apt_update(keyring: Path) -> subprocess.CompletedProcess[str]:
            root = tmp_path / f"apt-{keyring.name}"
            (root / "lists/partial").mkdir(parents=True, exist_ok=True)
            (root / "sources.list").write_text(
                f"deb [signed-by={keyring}] {url}apt/vendorrepo/ ./\n")
            opts = [f"-oDir::Etc::SourceList={root}/sources.list", "-oDir::Etc::SourceParts=-",
                    f"-oDir::State::Lists={root}/lists", f"-oDir::Cache={root}/cache",
                    "-oAcquire::http::Proxy=DIRECT", "-oAPT::Sandbox::User=root"]
            subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True,
                           check=False)
            return subprocess.run(["apt-cache", *opts, "show", "municloud-test-hello=1.0-1"],
                                  capture_output=True, text=True, check=False)
        assert apt_update(signing[1]).returncode == 0
        wrong = tmp_path / "vendor.gpg"
        wrong.write_bytes(gpg.binary_keyring(vendor.key))
        assert apt_update(wrong).returncode != 0


@pytest.mark.control("ART-01")
def test_verify_names_a_tampered_file_and_package(vendor: Vendor, base: str, tmp_path: Path,
                                                  signing: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "mirror"
    m = parsed(manifest(vendor, base))
    run_fetch(m, dest, signing)
    with (dest / "files/tool/1.2.3/tool-1.2.3.bin").open("ab") as f:
        f.write(b"evil")
    deb = next((dest / "apt/vendorrepo/pool").glob("municloud-test-hello_*.deb"))
    deb.write_bytes(deb.read_bytes()[:-4] + b"evil")
    got = {r.name: r for r in mirror.verify_all(m, dest, signing[1].read_bytes())}
    assert got["tool"].status == "failed" and "does not match the manifest" in got["tool"].detail
    assert got["vendorrepo"].status == "failed" and "municloud-test-hello" in got[
        "vendorrepo"].detail
    assert got["suite"].status == "ok"
    mfile = write_yaml(tmp_path / "m.yml", manifest(vendor, base))
    code = cli.main(["artifacts", "verify", str(dest), "--manifest", str(mfile),
                     "--archive-key", str(signing[1])])
    out = capsys.readouterr()
    assert code == 1 and "verify FAILED for: tool, vendorrepo" in out.err


@pytest.mark.control("ART-01")
def test_fetch_refuses_wrong_checksum_and_wrong_key(vendor: Vendor, base: str, tmp_path: Path,
                                                    signing: tuple[Path, Path]) -> None:
    dest = tmp_path / "mirror"
    m = parsed(manifest(vendor, base, tool__sha256="0" * 64,
                        vendorrepo__key_fingerprint="A" * 40))
    got = run_fetch(m, dest, signing)
    assert got["tool"].status == "failed" and "sha256 mismatch" in got["tool"].detail
    assert not (dest / "files/tool/1.2.3/tool-1.2.3.bin").exists()
    assert not list((dest / "files/tool").rglob("*.part"))
    assert got["vendorrepo"].status == "failed" and "is not the pinned" in got[
        "vendorrepo"].detail
    assert got["suite"].status == "ok"


@pytest.mark.control("ART-01")
def test_fetch_refuses_a_version_missing_upstream(vendor: Vendor, base: str, tmp_path: Path,
                                                  signing: tuple[Path, Path]) -> None:
    m = parsed(manifest(vendor, base, vendorrepo__packages={"municloud-test-hello": "3.0-1"}))
    r = run_fetch(m, tmp_path / "mirror", signing)["vendorrepo"]
    assert r.status == "failed"
    assert "municloud-test-hello=3.0-1 is not in the upstream index" in r.detail
    assert "0.9-1" in r.detail and "1.0-1" in r.detail


@pytest.mark.control("ART-03")
def test_placeholder_checksum_is_an_error_under_require_only(
        vendor: Vendor, base: str, tmp_path: Path, signing: tuple[Path, Path]) -> None:
    data = manifest(vendor, base, tool__sha256=mf.PLACEHOLDER)
    r = run_fetch(parsed(data), tmp_path / "a", signing)["tool"]
    assert r.status == "failed" and "no verified sha256 (UNVERIFIED)" in r.detail
    assert not (tmp_path / "a/files/tool").exists()  # nothing unverified was downloaded
    lax = parsed({**data, "policy": "best_effort"})
    r = run_fetch(lax, tmp_path / "b", signing)["tool"]
    assert r.status == "unpinned" and vendor.files["tool-1.2.3.bin"] in r.detail
    verified = {x.name: x.status for x in
                mirror.verify_all(lax, tmp_path / "b", signing[1].read_bytes())}
    assert verified["tool"] == "unpinned"


@pytest.mark.control("ART-06")
def test_fetch_reports_a_refused_port_per_artifact_and_exits_nonzero(
        vendor: Vendor, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path / "state"))  # archive key goes there
    with socket.socket() as s:  # a free port, closed again: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mfile = write_yaml(tmp_path / "m.yml", manifest(vendor, f"http://127.0.0.1:{port}/"))
    start = time.monotonic()
    code = cli.main(["artifacts", "fetch", "--manifest", str(mfile), "--env", "lab",
                     "--to", str(tmp_path / "mirror"), "--timeout", "3"])
    out = capsys.readouterr()
    assert code == 1 and time.monotonic() - start < 20
    lines = out.out.splitlines()
    for name in ("tool", "suite", "vendorrepo"):
        assert any(line.startswith(f"  {name}: FAILED - http://127.0.0.1:{port}/")
                   and line.endswith("connection refused") for line in lines), out.out
    assert (tmp_path / "state/lab/secrets/archive/municloud-archive.gpg").exists()
    assert "fetch FAILED for: tool, suite, vendorrepo" in out.err


@pytest.mark.control("ART-06")
def test_fetch_gives_up_on_a_blackhole_within_the_timeout(vendor: Vendor, tmp_path: Path,
                                                          signing: tuple[Path, Path]) -> None:
    # A listening socket that never accepts nor answers: the TCP handshake completes in
    # the kernel's backlog, then nothing comes back (like a filtering middlebox).
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        base = f"http://127.0.0.1:{hole.getsockname()[1]}/"
        start = time.monotonic()
        got = run_fetch(parsed(manifest(vendor, base)), tmp_path / "mirror", signing,
                        timeout=2)
        elapsed = time.monotonic() - start
    assert {r.status for r in got.values()} == {"failed"}
    assert all("timeout" in r.detail for r in got.values()), got
    assert elapsed < 3 * 2 + 5


def test_index_records_what_was_fetched(vendor: Vendor, base: str, tmp_path: Path,
                                        signing: tuple[Path, Path]) -> None:
    import json

    dest = tmp_path / "mirror"
    run_fetch(parsed(manifest(vendor, base)), dest, signing)
    index = json.loads((dest / mirror.INDEX).read_text())
    assert index["tool"]["sha256"] == vendor.files["tool-1.2.3.bin"]
    assert index["vendorrepo"]["upstream_key"] == vendor.fingerprint
    assert hashlib.sha256(vendor.key).hexdigest()
