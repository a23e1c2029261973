"""Debian repository indexes: reading Release and Packages, and building a flat
repository (`deb [signed-by=...] URL ./`) from .deb files with apt-ftparchive."""

from __future__ import annotations

import gzip
import lzma
import subprocess
from pathlib import Path

from municloud.artifacts.gpg import ensure_tools
from municloud.core.errors import UserError


def paragraphs(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs: field names as written, continuation lines joined with '\\n'."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += "\n" + line.strip()
        elif ":" in line:
            last, _, value = line.partition(":")
            current[last] = value.strip()
    if current:
        out.append(current)
    return out


def release_checksums(release_text: str) -> dict[str, tuple[str, int]]:
    """{path: (sha256, size)} from a Release file's SHA256 field."""
    paras = paragraphs(release_text)
    field = paras[0].get("SHA256", "") if paras else ""
    out: dict[str, tuple[str, int]] = {}
    for line in field.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[2]] = (parts[0], int(parts[1]))
    return out


def decompress(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".xz"):
        return lzma.decompress(data)
    return data


INDEX_NAMES = ("Packages", "Packages.gz", "Packages.xz")


def find_package(packages_text: str, name: str, version: str) -> dict[str, str] | None:
    for p in paragraphs(packages_text):
        if p.get("Package") == name and p.get("Version") == version:
            return p
    return None


def versions_of(packages_text: str, name: str) -> list[str]:
    return [p.get("Version", "?") for p in paragraphs(packages_text) if p.get("Package") == name]


def build_flat(repo: Path, label: str) -> Path:
    """Write Packages, Packages.gz and Release for the .deb files under `repo/pool/`."""
    ensure_tools("apt-ftparchive")
    run = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=repo,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise UserError(f"apt-ftparchive packages failed in {repo}: {run.stderr.strip()}")
    (repo / "Packages").write_text(run.stdout)
    (repo / "Packages.gz").write_bytes(gzip.compress(run.stdout.encode(), mtime=0))
    for stale in ("Release", "Release.gpg", "InRelease"):
        (repo / stale).unlink(missing_ok=True)
    opts = [f"-oAPT::FTPArchive::Release::{k}={v}" for k, v in
            (("Origin", "municloud"), ("Label", label), ("Suite", label),
             ("Codename", label), ("Description", f"municloud mirror of {label}"))]
    run = subprocess.run(["apt-ftparchive", *opts, "release", "."], cwd=repo,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise UserError(f"apt-ftparchive release failed in {repo}: {run.stderr.strip()}")
    release = repo / "Release"
    release.write_text(run.stdout)
    return release
