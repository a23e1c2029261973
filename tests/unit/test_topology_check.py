"""`municloud topology check`: each bad topology is named precisely, exits 2, changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from municloud.core import topology
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

from .topology_cases import CASES, Case, write_env


def cli(*args: str, inventories: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MUNICLOUD_INVENTORIES=str(inventories), MUNICLOUD_STATE=str(state))
    return subprocess.run([sys.executable, "-m", "municloud.cli", *args], env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("env", ["lab", "production", "staging"])
def test_shipped_topologies_are_valid(env: str) -> None:
    topo = topology.load(env)
    assert topo.environment == env


@pytest.mark.control("BASE-TOPO-01")
def test_lab_has_the_production_host_set() -> None:
    lab, prod = topology.load("lab"), topology.load("production")
    assert [(h.name, h.services, h.network) for h in lab.hosts] == \
        [(h.name, h.services, h.network) for h in prod.hosts]


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_topology_is_refused_with_file_path_and_reason(case: Case, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        topology.load_file(write_env(tmp_path, "bad", case), load_services())
    lines = [str(p) for p in err.value.problems]
    match = [line for line in lines if f": {case.path}: " in line]
    assert match, f"no problem names {case.path}: {lines}"
    assert any(case.words in line for line in match), lines
    assert all(line.startswith(str(tmp_path / "bad" / "topology.yml")) for line in lines)


@pytest.mark.control("BASE-TOPO-01")
def test_allowed_values_are_named(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "unknown-service")
    with pytest.raises(InvalidInput) as err:
        topology.load_file(write_env(tmp_path, "bad", case), load_services())
    assert "allowed: backup_server, db, directory, edge" in str(err.value)


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("case", [c for c in CASES if c.id in (
    "duplicate-host", "overlapping-cidrs", "missing-ssh-key")], ids=lambda c: c.id)
def test_cli_exits_2_and_touches_nothing(case: Case, tmp_path: Path) -> None:
    inv, state = tmp_path / "inventories", tmp_path / "state"
    write_env(inv, "bad", case)
    for args in (("topology", "check", "bad"), ("lab", "--env", "bad", "up"),
                 ("deploy", "bad"), ("inventory", "bad")):
        run = cli(*args, inventories=inv, state=state)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert case.path in run.stderr and "Traceback" not in run.stderr
    assert not state.exists(), "a refused topology must not create any state"


@pytest.mark.control("BASE-TOPO-01")
def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    inv = tmp_path / "inventories"
    write_env(inv, "heraklion", None)
    run = cli("topology", "check", "chania", inventories=inv, state=tmp_path / "state")
    assert run.returncode == 2
    assert "unknown environment 'chania'" in run.stderr
    assert "known environments: heraklion" in run.stderr
    ok = cli("topology", "check", "heraklion", inventories=inv, state=tmp_path / "state")
    assert ok.returncode == 0, ok.stderr
