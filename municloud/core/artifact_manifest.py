"""The artifact manifest: every vendor artifact, pinned by version and checksum.

`inventories/artifacts.yml` is the shared default; `inventories/<env>/artifacts.yml` may
set `policy` and `mirror` and replace or add artifacts (matched by name). Two kinds:

- `file`: one file (a zip, a binary) with its upstream URL and sha256;
- `apt`: packages from a vendor's apt repository: URL, suite, the fingerprint of the key
  that signs it, and the exact package versions.

A checksum or fingerprint may be the placeholder `UNVERIFIED` (the field is present but
nobody has checked the value): under policy `require` nothing with a placeholder is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from municloud.core import paths, yamlfile
from municloud.core.declared import declared_names
from municloud.core.errors import InvalidInput, Problem

PLACEHOLDER = "UNVERIFIED"
DEFAULT_FILE = paths.INVENTORIES / "artifacts.yml"  # the shipped pins
Policy = Literal["require", "best_effort"]
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FPR_RE = re.compile(r"^[0-9A-F]{40}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
PKG_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
UNPINNED_WORDS = ("latest", "current", "stable", "*")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileArtifact(_Model):
    name: str
    kind: Literal["file"]
    component: str = Field(description="the service role that uses it")
    version: str
    url: str
    sha256: str
    filename: str | None = Field(default=None, description="default: the URL's last segment")

    @property
    def pinned(self) -> bool:
        return bool(SHA256_RE.match(self.sha256))

    @property
    def file(self) -> str:
        return self.filename or PurePosixPath(urlsplit(self.url).path).name

    @property
    def mirror_path(self) -> str:
        return f"files/{self.name}/{self.version}/{self.file}"


class AptArtifact(_Model):
    name: str
    kind: Literal["apt"]
    component: str
    url: str = Field(description="repository base URL, as in a sources.list line")
    suite: str = Field(description="e.g. 'stable/' for a flat repository")
    key_url: str
    key_fingerprint: str = Field(description="40 hex digits of the primary signing key")
    key_sha256: str = Field(default=PLACEHOLDER,
                            description="sha256 of the key file; needed to use upstream directly")
    packages: dict[str, str] = Field(description="package name -> exact version")

    @property
    def pinned(self) -> bool:
        return bool(FPR_RE.match(self.key_fingerprint))

    @property
    def version(self) -> str:
        return f"{len(self.packages)} pinned packages"

    @property
    def key_pinned(self) -> bool:
        """Whether the signing key file itself is pinned (needed to use upstream directly)."""
        return bool(SHA256_RE.match(self.key_sha256))

    @property
    def mirror_path(self) -> str:
        """Where the mirror keeps this repository: one flat apt repository per artifact."""
        return f"apt/{self.name}/"


Artifact = Annotated[FileArtifact | AptArtifact, Field(discriminator="kind")]


class Manifest(_Model):
    policy: Policy = "require"
    mirror: str | None = Field(default=None, description="base URL of the municipal mirror")
    artifacts: list[Artifact] = []

    def get(self, name: str) -> FileArtifact | AptArtifact:
        for a in self.artifacts:
            if a.name == name:
                return a
        raise KeyError(name)

    def names(self) -> list[str]:
        return [a.name for a in self.artifacts]

    def of_component(self, component: str) -> list[str]:
        """The artifacts a service (its `component`) installs, in manifest order."""
        return [a.name for a in self.artifacts if a.component == component]


def default_file() -> Path:
    """The shared manifest: MUNICLOUD_INVENTORIES' own artifacts.yml when it has one, else
    the pins shipped in this repository."""
    own = paths.inventories() / "artifacts.yml"
    return own if own.exists() else DEFAULT_FILE


def env_file(env: str) -> Path:
    return paths.inventories() / env / "artifacts.yml"


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.REPO))
    except ValueError:
        return str(path)


def _read(path: Path) -> dict[str, Any]:
    data = yamlfile.load(path, shown(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput([Problem(shown(path), "", "must be a mapping",
                                    "policy, mirror, artifacts")])
    return data


def load(env: str | None = None, manifest_file: Path | None = None) -> Manifest:
    """The manifest in force: an explicit file, else the default merged with the env's."""
    if manifest_file is not None:
        return parse([(shown(manifest_file), _read(manifest_file))])
    layers = [(shown(default_file()), _read(default_file()))]
    if env is not None and env_file(env).exists():
        layers.append((shown(env_file(env)), _read(env_file(env))))
    return parse(layers)


@cache
def known_components() -> frozenset[str]:
    """Every component the shared manifest (inventories/artifacts.yml) names: its
    artifacts and their apt packages. Read as plain YAML, not through `load`, which
    checks each artifact's service against the declared names (the declarations' loader
    calls this while loading them)."""
    try:
        data = yaml.safe_load(DEFAULT_FILE.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return frozenset()
    out: set[str] = set()
    for entry in data.get("artifacts") or [] if isinstance(data, dict) else []:
        if isinstance(entry, dict):
            out.add(str(entry.get("name", "")))
            if isinstance(entry.get("packages"), dict):
                out.update(str(k) for k in entry["packages"])
    return frozenset(out - {""})


def _entry_name(entry: Any, i: int) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"artifacts[{i}] ({name})" if name else f"artifacts[{i}]"


def parse(layers: Iterable[tuple[str, dict[str, Any]]]) -> Manifest:
    """Merge layers (later ones win; artifacts by name) and validate every entry."""
    problems: list[Problem] = []
    top: dict[str, Any] = {}
    merged: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for origin, data in layers:
        unknown = set(data) - {"policy", "mirror", "artifacts"}
        problems.extend(Problem(origin, k, "unknown field", "policy, mirror, artifacts")
                        for k in sorted(unknown))
        top.update({k: data[k] for k in ("policy", "mirror") if k in data})
        entries = data.get("artifacts") or []
        if not isinstance(entries, list):
            problems.append(Problem(origin, "artifacts", "must be a list"))
            continue
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            where = _entry_name(entry, i)
            if not isinstance(entry, dict):
                problems.append(Problem(origin, where, "must be a mapping"))
                continue
            name = str(entry.get("name", ""))
            if name in seen:
                problems.append(Problem(origin, f"{where}.name", f"duplicate artifact name "
                                        f"{name!r} (also artifacts[{seen[name]}])",
                                        "unique names in one file"))
                continue
            seen[name] = i
            merged[name or f"#{i}"] = (origin, where, entry)
    if "policy" in top and top["policy"] not in ("require", "best_effort"):
        problems.append(Problem(layers_origin(merged), "policy",
                                f"invalid value {top['policy']!r}", "require, best_effort"))
    if top.get("mirror") is not None:
        problems.extend(_check_url("mirror", "mirror", str(top["mirror"]), ("https", "http")))
    artifacts: list[FileArtifact | AptArtifact] = []
    components = _components()
    for origin, where, entry in merged.values():
        found = [Problem(origin, p.file, p.problem, p.allowed) for p in _check_entry(where, entry)]
        comp = entry.get("component")
        if comp not in (None, "") and str(comp) not in components:
            found.append(Problem(origin, f"{where}.component", f"unknown component {comp!r}",
                                 ", ".join(sorted(components))))
        if found:
            problems.extend(found)
            continue
        try:
            model: type[FileArtifact] | type[AptArtifact] = (
                FileArtifact if entry.get("kind") == "file" else AptArtifact)
            artifacts.append(model.model_validate(entry))
        except ValidationError as exc:
            problems.extend(Problem(origin, f"{where}.{'.'.join(map(str, e['loc']))}", e["msg"])
                            for e in exc.errors())
    if problems:
        raise InvalidInput(problems)
    try:
        return Manifest.model_validate({**top, "artifacts": artifacts})
    except ValidationError as exc:
        raise InvalidInput([Problem(layers_origin(merged), ".".join(map(str, e["loc"])),
                                    e["msg"]) for e in exc.errors()]) from exc


def _components() -> set[str]:
    """What an artifact's `component` may name: the declared services, by name only
    (their validation checks their ports' components against this manifest)."""
    return declared_names()


def layers_origin(merged: dict[str, tuple[str, str, dict[str, Any]]]) -> str:
    return next(iter(merged.values()))[0] if merged else shown(default_file())


# Problems are returned with `file` holding the path inside the file; the caller adds the
# file name. -------------------------------------------------------------------------------

def _p(path: str, problem: str, allowed: str = "") -> Problem:
    return Problem(path, "", problem, allowed)


def _check_url(where: str, field: str, url: str,
               schemes: tuple[str, ...] = ("https", "http")) -> list[Problem]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return [_p(f"{where}.{field}", f"malformed URL {url!r}: {exc}", "an http(s) URL")]
    if parts.scheme not in schemes or not host or " " in url:
        return [_p(f"{where}.{field}", f"malformed URL {url!r}",
                   f"an absolute URL with scheme {' or '.join(schemes)} and a host name")]
    return []


def _pinned_version(where: str, field: str, value: Any) -> list[Problem]:
    text = str(value).strip()
    if not text or text.lower() in UNPINNED_WORDS:
        return [_p(f"{where}.{field}", f"version {text!r} is not pinned",
                   "an exact version such as 7.1.0")]
    return []


def _check_entry(where: str, e: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    name = e.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        out.append(_p(f"{where}.name", f"invalid or missing name {name!r}",
                      "lower-case letters, digits and '-'"))
    kind = e.get("kind")
    if kind not in ("file", "apt"):
        return [*out, _p(f"{where}.kind", f"invalid or missing kind {kind!r}", "file, apt")]
    required = (("component", "version", "url", "sha256") if kind == "file" else
                ("component", "url", "suite", "key_url", "key_fingerprint", "packages"))
    for field in required:
        if e.get(field) in (None, "", {}):
            hint = {"sha256": f"64 hex digits, or {PLACEHOLDER} if nobody has checked it",
                    "key_fingerprint": f"40 hex digits, or {PLACEHOLDER}"}.get(field, "")
            out.append(_p(f"{where}.{field}", f"required field {field!r} is missing", hint))
    for field in ("url", "key_url"):
        if e.get(field):
            out.extend(_check_url(where, field, str(e[field])))
    if kind == "file":
        if e.get("version"):
            out.extend(_pinned_version(where, "version", e["version"]))
        sha = e.get("sha256")
        if sha and sha != PLACEHOLDER and not SHA256_RE.match(str(sha)):
            out.append(_p(f"{where}.sha256", f"not a sha256 checksum: {sha!r}",
                          f"64 lower-case hex digits, or {PLACEHOLDER}"))
    else:
        fpr = e.get("key_fingerprint")
        if fpr and fpr != PLACEHOLDER and not FPR_RE.match(str(fpr).replace(" ", "")):
            out.append(_p(f"{where}.key_fingerprint", f"not an OpenPGP fingerprint: {fpr!r}",
                          f"40 upper-case hex digits, or {PLACEHOLDER}"))
        elif fpr:
            e["key_fingerprint"] = str(fpr).replace(" ", "")
        ksha = e.get("key_sha256")
        if ksha and ksha != PLACEHOLDER and not SHA256_RE.match(str(ksha)):
            out.append(_p(f"{where}.key_sha256", f"not a sha256 checksum: {ksha!r}",
                          f"64 lower-case hex digits, or {PLACEHOLDER}"))
        suite = e.get("suite")
        if suite and not str(suite).endswith("/"):
            out.append(_p(f"{where}.suite", f"suite {suite!r} is not a flat repository directory",
                          "a directory ending in '/', such as stable/"))
        pkgs = e.get("packages")
        if pkgs and not isinstance(pkgs, dict):
            out.append(_p(f"{where}.packages", "must map package names to versions",
                          "{jicofo: 1.0-1120-1}"))
        elif pkgs:
            for pkg, ver in pkgs.items():
                if not PKG_RE.match(str(pkg)):
                    out.append(_p(f"{where}.packages.{pkg}", f"invalid package name {pkg!r}"))
                out.extend(_pinned_version(where, f"packages.{pkg}", ver))
    return out
