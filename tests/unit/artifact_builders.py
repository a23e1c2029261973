"""Real vendor-like artifacts for the artifact tests: files with real checksums, .deb
packages built with dpkg-deb, a flat apt repository indexed with apt-ftparchive and signed
by a throw-away gpg key, served over HTTP on loopback. Nothing here is faked."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from municloud.artifacts import gpg

SUITE = "stable/"


def make_deb(workdir: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A real binary package installing `files` ({absolute path: content})."""
    root = workdir / f"{name}_{version}"
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: municloud tests <tests@municloud.invalid>\n"
        f"Description: municloud artifact test package {name}\n")
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    deb = workdir / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


@dataclass
class Vendor:
    """A vendor's download site: files and a flat apt repository `SUITE` signed by its key."""

    root: Path
    key: bytes
    fingerprint: str
    files: dict[str, str]  # name -> sha256
    packages: dict[str, str]  # name -> version


def build_vendor(root: Path, work: Path) -> Vendor:
    gpg.ensure_tools("gpg", "gpgv", "gpgconf", "apt-ftparchive")
    home = work / "vendor-gnupg"
    fpr = gpg.ensure_signing_key(home, "Test Vendor <vendor@municloud.invalid>")
    key = subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export", fpr],
                         check=True, capture_output=True).stdout
    (root / "vendor-key.asc").parent.mkdir(parents=True, exist_ok=True)
    (root / "vendor-key.asc").write_bytes(key)
    files: dict[str, str] = {}
    for name, body in (("tool-1.2.3.bin", b"\x7fELF pretend binary 1.2.3\n" * 100),
                       ("suite-4.5.zip", b"PK zip-like 4.5\n" * 200)):
        (root / "dl" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "dl" / name).write_bytes(body)
        files[name] = hashlib.sha256(body).hexdigest()
    repo = root / SUITE
    repo.mkdir(parents=True, exist_ok=True)
    packages = {"municloud-test-hello": "1.0-1", "municloud-test-extra": "2.1-3"}
    for pkg, ver in packages.items():
        deb = make_deb(work, pkg, ver, {f"/usr/share/{pkg}/README": f"{pkg} {ver}\n"})
        deb.rename(repo / deb.name)
    # An older version that must not be chosen.
    old = make_deb(work, "municloud-test-hello", "0.9-1",
                   {"/usr/share/municloud-test-hello/README": "old\n"})
    old.rename(repo / old.name)
    # Flat repository: indexes in SUITE, Filename relative to the base URL.
    packages_text = subprocess.run(["apt-ftparchive", "packages", SUITE.rstrip("/")], cwd=root,
                                   check=True, capture_output=True, text=True).stdout
    (repo / "Packages").write_text(packages_text)
    release = subprocess.run(["apt-ftparchive", "-oAPT::FTPArchive::Release::Origin=TestVendor",
                              "release", "."], cwd=repo, check=True, capture_output=True,
                             text=True).stdout
    (repo / "Release").write_text(release)
    gpg.sign_release(home, fpr, repo / "Release")
    gpg.stop_agent(home)
    return Vendor(root, key, fpr, files, packages)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `root` over plain HTTP on a free loopback port; yields the base URL."""
    httpd = ThreadingHTTPServer((host, 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def manifest(vendor: Vendor, base: str, *, policy: str = "require", mirror: str | None = None,
             **override: Any) -> dict[str, Any]:
    """A manifest pinning the vendor's artifacts (override fields with name__field=...)."""
    arts: list[dict[str, Any]] = [
        {"name": "tool", "kind": "file", "component": "files", "version": "1.2.3",
         "url": f"{base}dl/tool-1.2.3.bin", "sha256": vendor.files["tool-1.2.3.bin"]},
        {"name": "suite", "kind": "file", "component": "identity", "version": "4.5",
         "url": f"{base}dl/suite-4.5.zip", "sha256": vendor.files["suite-4.5.zip"]},
        {"name": "vendorrepo", "kind": "apt", "component": "meet", "url": base,
         "suite": SUITE, "key_url": f"{base}vendor-key.asc",
         "key_fingerprint": vendor.fingerprint,
         "key_sha256": hashlib.sha256(vendor.key).hexdigest(),
         "packages": dict(vendor.packages)},
    ]
    for k, v in override.items():
        name, field = k.split("__")
        for a in arts:
            if a["name"] == name:
                a[field] = v
    return {"policy": policy, "mirror": mirror, "artifacts": arts}


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
