"""Each role's variable reference comes from one source: meta/argument_specs.yml (type,
description) and defaults/main.yml (value); the README tables are generated
(scripts/role-docs) and must not go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import paths, role_docs

pytestmark = pytest.mark.control("BASE-CAT-01")


def _specs(role: Path) -> dict[str, Any]:
    data = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    return data["argument_specs"]  # type: ignore[no-any-return]


def _defaults(role: Path) -> dict[str, Any]:
    f = role / "defaults" / "main.yml"
    return (yaml.safe_load(f.read_text()) or {}) if f.is_file() else {}


def test_every_role_readme_table_is_current() -> None:
    stale = [str(f.relative_to(paths.REPO)) for f in role_docs.stale()]
    assert not stale, f"stale variable tables (run scripts/role-docs): {stale}"


def test_the_script_check_passes() -> None:
    run = subprocess.run([sys.executable, str(paths.REPO / "scripts" / "role-docs"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("role", role_docs.roles(), ids=lambda p: p.name)
def test_every_default_is_documented_and_spec_defaults_agree(role: Path) -> None:
    options: dict[str, Any] = {}
    for entry in _specs(role).values():
        options.update((entry or {}).get("options") or {})
    defaults = _defaults(role)
    undocumented = sorted(set(defaults) - set(options))
    assert not undocumented, f"roles/{role.name}: not in meta/argument_specs.yml: {undocumented}"
    differ = sorted(k for k, v in options.items()
                    if "default" in (v or {}) and k in defaults and v["default"] != defaults[k])
    assert not differ, (f"roles/{role.name}: meta/argument_specs.yml's default differs from "
                        f"defaults/main.yml for {differ} (give it in one place)")


def test_table_rows_and_staleness(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "thing"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {
        "main": {"short_description": "A thing", "options": {
            "thing_port": {"type": "int", "description": "Port | the one it listens on."},
            "thing_mode": {"type": "str", "choices": ["a", "b"], "description": "Mode."},
            "thing_policy": {"type": "dict", "description": "Policy.", "options": {
                "size": {"type": "int", "required": True, "description": "Size."}}},
            "municloud_env": {"type": "str", "required": True, "description": "Env."},
            "thing_free": {"type": "list", "elements": "str", "description": "Free."}}},
        "extra": {"options": {}}}}))
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump({
        "thing_port": "{{ municloud_declarations.thing.port.https }}", "thing_mode": "a",
        "thing_policy": {"size": 3}}))
    (role / "README.md").write_text("# Role `thing`\n\nProse stays.\n")
    assert role_docs.stale(tmp_path / "roles") == [role / "README.md"]
    assert role_docs.write(tmp_path / "roles") == [role / "README.md"]
    text = (role / "README.md").read_text()
    assert text.startswith("# Role `thing`\n\nProse stays.\n\n## Variables\n")
    assert ("| `thing_port` | int | `\"{{ municloud_declarations.thing.port.https }}\"` | "
            "Port \\| the one it listens on. |") in text
    assert '| `thing_mode` | str | `"a"` | Mode. Choices: `"a"`, `"b"`. |' in text
    assert "| `thing_policy.size` | int | `3` | Size. |" in text
    assert "| `municloud_env` | str | required | Env. |" in text
    assert "| `thing_free` | list of str | — | Free. |" in text
    assert "### Variables of `tasks_from: extra`\n\nNo variables." in text
    assert role_docs.stale(tmp_path / "roles") == []
    # A hand edit inside the generated block is stale; prose outside it is not.
    (role / "README.md").write_text(text.replace("| Size. |", "| Size in GB. |"))
    assert role_docs.stale(tmp_path / "roles") == [role / "README.md"]
    (role / "README.md").write_text(text.replace("Prose stays.", "Prose changed."))
    assert role_docs.stale(tmp_path / "roles") == []
