"""The mirror: a directory laid out for the hosts, built by `fetch`, re-checked by `verify`.

    files/<name>/<version>/<file>      file artifacts, exactly the upstream bytes
    apt/<name>/                        a flat apt repository of the pinned packages,
        pool/*.deb                     exactly the upstream .debs, indexed again and
        Packages, Release, InRelease   signed by the municipal archive key
    upstream/<name>/                   the vendor's key, Release, Release.gpg, Packages
                                       (the upstream signature chain, kept for audit)
    keys/municloud-archive.gpg         the archive key's public half
    index.json                         what was fetched, when, with which checksums
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from municloud.artifacts import debrepo, gpg
from municloud.artifacts.download import DownloadError, fetch, fetch_bytes, sha256_file
from municloud.core import paths
from municloud.core.artifact_manifest import PLACEHOLDER, AptArtifact, FileArtifact, Manifest

ARCHIVE_KEY = "keys/municloud-archive.gpg"
INDEX = "index.json"
Status = Literal["ok", "unpinned", "failed"]


class ArtifactError(Exception):
    """One artifact cannot be fetched or verified; the message says why."""


@dataclass(frozen=True)
class Result:
    name: str
    kind: str
    version: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Options:
    timeout: float = 15.0
    deadline: float = 1800.0
    context: ssl.SSLContext | None = None


def archive_dir(env: str) -> Path:
    """The municipal archive signing key of an environment (a secret: 0700)."""
    return paths.secrets_dir(env) / "archive"


def archive_public_key(env: str) -> Path:
    return archive_dir(env) / "municloud-archive.gpg"


def default_mirror(env: str) -> Path:
    return paths.env_state(env) / "artifacts" / "mirror"


# fetch ------------------------------------------------------------------------------------

def fetch_all(manifest: Manifest, dest: Path, signing_home: Path, public_key_out: Path,
              opts: Options, report: Callable[[Result], None] = lambda r: None) -> list[Result]:
    """Download, verify and lay out every artifact; one Result per artifact."""
    dest.mkdir(parents=True, exist_ok=True)
    fpr = gpg.ensure_signing_key(signing_home, "municloud archive signing key")
    public = gpg.export_public(signing_home, fpr)
    for out in (dest / ARCHIVE_KEY, public_key_out):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(public)
    index = _read_index(dest)
    results: list[Result] = []
    for a in manifest.artifacts:
        try:
            if isinstance(a, FileArtifact):
                status, detail, sha = _fetch_file(a, manifest.policy, dest, opts)
                index[a.name] = {"kind": "file", "version": a.version, "url": a.url,
                                 "path": a.mirror_path, "sha256": sha, "pinned": a.pinned}
            else:
                status, detail = _fetch_apt(a, manifest.policy, dest, opts, signing_home, fpr)
                index[a.name] = {"kind": "apt", "url": a.url, "suite": a.suite,
                                 "path": a.mirror_path, "packages": a.packages,
                                 "upstream_key": a.key_fingerprint, "archive_key": fpr}
            index[a.name]["fetched"] = datetime.now(UTC).isoformat(timespec="seconds")
            result = Result(a.name, a.kind, a.version, status, detail)
        except (DownloadError, gpg.SignatureError, ArtifactError) as exc:
            result = Result(a.name, a.kind, a.version, "failed", str(exc))
        results.append(result)
        report(result)
    (dest / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return results


def _read_index(dest: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((dest / INDEX).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _unpinned(what: str, policy: str) -> None:
    if policy == "require":
        raise ArtifactError(f"the manifest has no verified {what} ({PLACEHOLDER}); under "
                            "policy require nothing unverified is used: check the vendor's "
                            "published value and pin it in the manifest")


def _fetch_file(a: FileArtifact, policy: str, dest: Path,
                opts: Options) -> tuple[Status, str, str]:
    if not a.pinned:
        _unpinned("sha256", policy)
    target = dest / a.mirror_path
    if a.pinned and target.exists() and sha256_file(target) == a.sha256:
        return "ok", f"already in the mirror, sha256 {a.sha256[:12]}…", a.sha256
    sha = fetch(a.url, target, timeout=opts.timeout, deadline=opts.deadline,
                context=opts.context)
    if not a.pinned:
        return "unpinned", (f"downloaded, sha256 {sha} NOT verified: compare it with the "
                            "vendor's published checksum and pin it"), sha
    if sha != a.sha256:
        target.unlink()
        raise ArtifactError(f"{a.url}: sha256 mismatch (manifest {a.sha256}, downloaded "
                            f"{sha}); the file was discarded")
    return "ok", f"downloaded, sha256 {sha[:12]}… verified", sha


def _flat_base(a: AptArtifact) -> str:
    return a.url.rstrip("/") + "/"


def _fetch_apt(a: AptArtifact, policy: str, dest: Path, opts: Options,
               signing_home: Path, archive_fpr: str) -> tuple[Status, str]:
    if not a.pinned:
        _unpinned("key fingerprint", policy)

    def get(url: str) -> bytes:
        return fetch_bytes(url, timeout=opts.timeout, context=opts.context)

    up = dest / "upstream" / a.name
    up.mkdir(parents=True, exist_ok=True)
    key = get(a.key_url)
    allowed = [a.key_fingerprint] if a.pinned else gpg.fingerprints(key)
    _check_key(a, key)
    (up / "key.asc").write_bytes(key)
    suite_url = _flat_base(a) + a.suite
    for name in ("Release", "Release.gpg"):
        (up / name).write_bytes(get(suite_url + name))
    signer = gpg.verify_detached(key, up / "Release.gpg", up / "Release", allowed)
    sums = debrepo.release_checksums((up / "Release").read_text())
    index_name = next((n for n in debrepo.INDEX_NAMES if n in sums), None)
    if index_name is None:
        raise ArtifactError(f"{suite_url}Release lists no Packages index")
    raw = get(suite_url + index_name)
    _check_bytes(suite_url + index_name, raw, *sums[index_name])
    packages = debrepo.decompress(index_name, raw).decode()
    (up / "Packages").write_text(packages)
    repo = dest / a.mirror_path
    pool = repo / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for pkg, version in sorted(a.packages.items()):
        para = _upstream_package(a, packages, pkg, version)
        target = pool / Path(para["Filename"]).name
        wanted.add(target.name)
        if target.exists() and sha256_file(target) == para["SHA256"]:
            continue
        url = _flat_base(a) + para["Filename"].removeprefix("./")
        sha = fetch(url, target, timeout=opts.timeout, deadline=opts.deadline,
                    context=opts.context)
        if sha != para["SHA256"]:
            target.unlink()
            raise ArtifactError(f"{url}: sha256 mismatch with the signed index "
                                f"({para['SHA256']}, downloaded {sha}); discarded")
    for stale in pool.glob("*.deb"):
        if stale.name not in wanted:
            stale.unlink()
    release = debrepo.build_flat(repo, f"municloud-{a.name}")
    gpg.sign_release(signing_home, archive_fpr, release)
    status: Status = "ok" if a.pinned else "unpinned"
    return status, (f"{len(wanted)} packages; upstream index signed by {signer}"
                    f"{'' if a.pinned else ' (NOT a pinned key)'}; re-signed by {archive_fpr}")


def _check_key(a: AptArtifact, key: bytes) -> None:
    found = gpg.fingerprints(key)
    if not found:
        raise ArtifactError(f"{a.key_url}: not an OpenPGP public key")
    if a.pinned and a.key_fingerprint not in found:
        raise ArtifactError(f"{a.key_url}: key fingerprint {', '.join(found)} is not the "
                            f"pinned {a.key_fingerprint}")


def _check_bytes(what: str, data: bytes, sha: str, size: int) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != sha or len(data) != size:
        raise ArtifactError(f"{what}: does not match the signed Release (sha256 {got}, "
                            f"{len(data)} bytes; expected {sha}, {size} bytes)")


def _upstream_package(a: AptArtifact, packages: str, pkg: str, version: str) -> dict[str, str]:
    para = debrepo.find_package(packages, pkg, version)
    if para is None or "Filename" not in para or "SHA256" not in para:
        have = debrepo.versions_of(packages, pkg)
        raise ArtifactError(f"{a.name}: package {pkg}={version} is not in the upstream index "
                            f"(versions there: {', '.join(have) or 'none'})")
    return para


# verify -----------------------------------------------------------------------------------

def verify_all(manifest: Manifest, mirror: Path, archive_key: bytes) -> list[Result]:
    """Re-check a mirror against the manifest and the archive key the hosts trust."""
    index = _read_index(mirror)
    results: list[Result] = []
    for a in manifest.artifacts:
        try:
            if isinstance(a, FileArtifact):
                status, detail = _verify_file(a, manifest.policy, mirror, index)
            else:
                status, detail = _verify_apt(a, manifest.policy, mirror, archive_key)
            results.append(Result(a.name, a.kind, a.version, status, detail))
        except (gpg.SignatureError, ArtifactError, OSError) as exc:
            results.append(Result(a.name, a.kind, a.version, "failed", str(exc)))
    return results


def _verify_file(a: FileArtifact, policy: str, mirror: Path,
                 index: dict[str, dict[str, object]]) -> tuple[Status, str]:
    target = mirror / a.mirror_path
    if not target.exists():
        raise ArtifactError(f"{a.mirror_path}: missing from the mirror")
    sha = sha256_file(target)
    if a.pinned:
        if sha != a.sha256:
            raise ArtifactError(f"{a.mirror_path}: sha256 {sha} does not match the manifest "
                                f"({a.sha256})")
        return "ok", f"sha256 {sha[:12]}… matches the manifest"
    _unpinned("sha256", policy)
    recorded = index.get(a.name, {}).get("sha256")
    if recorded != sha:
        raise ArtifactError(f"{a.mirror_path}: sha256 {sha} differs from the one recorded "
                            f"at fetch time ({recorded})")
    return "unpinned", f"sha256 {sha} unchanged since fetch, but NOT pinned in the manifest"


def _verify_apt(a: AptArtifact, policy: str, mirror: Path,
                archive_key: bytes) -> tuple[Status, str]:
    if not a.pinned:
        _unpinned("key fingerprint", policy)
    up = mirror / "upstream" / a.name
    repo = mirror / a.mirror_path
    key = (up / "key.asc").read_bytes()
    _check_key(a, key)
    allowed = [a.key_fingerprint] if a.pinned else gpg.fingerprints(key)
    gpg.verify_detached(key, up / "Release.gpg", up / "Release", allowed)
    sums = debrepo.release_checksums((up / "Release").read_text())
    upstream_packages = (up / "Packages").read_text()
    if "Packages" in sums:  # the decompressed index is kept; it is checkable when listed
        _check_bytes(f"upstream/{a.name}/Packages", upstream_packages.encode(), *sums["Packages"])
    archive_fprs = gpg.fingerprints(archive_key)
    signer = gpg.verify_detached(archive_key, repo / "Release.gpg", repo / "Release",
                                 archive_fprs)
    ours = debrepo.release_checksums((repo / "Release").read_text())
    if "Packages" not in ours:
        raise ArtifactError(f"{a.mirror_path}Release does not list Packages")
    own_packages = (repo / "Packages").read_bytes()
    _check_bytes(f"{a.mirror_path}Packages", own_packages, *ours["Packages"])
    for pkg, version in sorted(a.packages.items()):
        para = _upstream_package(a, upstream_packages, pkg, version)
        deb = repo / "pool" / Path(para["Filename"]).name
        if not deb.exists():
            raise ArtifactError(f"{a.mirror_path}pool/{deb.name}: missing from the mirror")
        if sha256_file(deb) != para["SHA256"]:
            raise ArtifactError(f"{a.mirror_path}pool/{deb.name}: sha256 differs from the "
                                "upstream signed index")
        mine = debrepo.find_package(own_packages.decode(), pkg, version)
        if mine is None or mine.get("SHA256") != para["SHA256"]:
            raise ArtifactError(f"{a.mirror_path}Packages: {pkg}={version} missing or with "
                                "another checksum")
    return ("ok" if a.pinned else "unpinned"), (
        f"{len(a.packages)} packages match the upstream signed index; mirror signed by {signer}")

