"""`pulumi preview` (and up/destroy of a throwaway copy) against a real OpenStack.

Needs the Pulumi CLI, the openstack provider plugin and OpenStack credentials
(OS_CLOUD or OS_AUTH_URL). Neither the engine nor the plugin can be installed on the
development machine (no PyPI/Debian/npm package ships them), so there it skips.
up/destroy run only with MUNICLOUD_PULUMI_UP=1 and use a file backend in a temporary dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _missing() -> str | None:
    if shutil.which("pulumi") is None:
        return "the Pulumi CLI is not installed (no package here ships the engine)"
    if not (os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")):
        return "no OpenStack credentials (set OS_CLOUD or OS_AUTH_URL)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _pulumi(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    run = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=cwd, env=env,
                         capture_output=True, text=True, check=False, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_preview_then_throwaway_up_and_destroy(tmp_path: Path) -> None:
    project = tmp_path / "stacks"
    shutil.copytree(STACKS, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    text = (project / "Pulumi.yaml").read_text().replace("../.venv", str(STACKS.parent / ".venv"))
    (project / "Pulumi.yaml").write_text(text.replace("name: municloud", "name: municloud-ci"))
    env = dict(os.environ, PULUMI_BACKEND_URL=f"file://{tmp_path / 'state'}",
               PULUMI_CONFIG_PASSPHRASE="throwaway", PULUMI_SKIP_UPDATE_CHECK="1")
    (tmp_path / "state").mkdir()
    _pulumi(["stack", "init", "staging", "--secrets-provider=passphrase"], project, env)
    topo = STACKS.parent / "inventories" / "staging" / "topology.yml"
    _pulumi(["config", "set", "municloud:topology", str(topo)], project, env)
    _pulumi(["preview", "--policy-pack", str(project / "policy")], project, env)
    if os.environ.get("MUNICLOUD_PULUMI_UP") != "1":
        return
    try:
        _pulumi(["up", "--yes", "--policy-pack", str(project / "policy")], project, env)
        assert '"hosts"' in _pulumi(["stack", "output", "inventory", "--json"], project, env)
    finally:
        _pulumi(["destroy", "--yes"], project, env)
