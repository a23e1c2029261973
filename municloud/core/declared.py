"""The service declaration files (`roles/<role>/meta/service.yml`) and the names they
declare, read without validating them.

The artifact manifest checks each artifact's `component` against these names, while the
declarations check their ports' components against the manifest
(`municloud.core.deployable`): reading the names here, below both, keeps that mutual
check from recursing (it did twice while the two lived in different packages).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from municloud.core import paths


def declaration_files(roles_dir: Path = paths.ROLES) -> list[Path]:
    return sorted(roles_dir.glob("*/meta/service.yml"))


@cache
def declared_names(roles_dir: Path = paths.ROLES) -> set[str]:
    """The names of the declared services that are not host-wide."""
    names: set[str] = set()
    for f in declaration_files(roles_dir):
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # load_services reports it, naming the file
        if isinstance(data, dict) and not data.get("host_wide"):
            names.add(str(data.get("name", f.parent.parent.name)))
    return names
