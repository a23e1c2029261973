"""The converge order comes from the declarations' `requires` and `needs`; playbooks/site.yml
is written from it (scripts/site-playbook) and must not go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from municloud.core import order, paths
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

from .declarations import service as _svc

pytestmark = pytest.mark.control("BASE-TOPO-01")



def test_site_playbook_is_what_the_declarations_imply() -> None:
    current = (paths.PLAYBOOKS / "site.yml").read_text()
    assert current == order.site_playbook(), \
        "playbooks/site.yml is stale: run scripts/site-playbook"


def test_the_script_check_passes() -> None:
    run = subprocess.run([sys.executable, str(paths.REPO / "scripts" / "site-playbook"),
                          "--check"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_every_service_converges_after_what_it_requires_and_needs() -> None:
    declared = load_services()
    placed = [s.name for s in order.converge_order(declared)]
    assert sorted(placed) == sorted(n for n, s in declared.items() if not s.host_wide)
    for name in placed:
        for dep in order.after(declared[name]):
            assert placed.index(dep) < placed.index(name), f"{name} before {dep}"
    # The edge comes before webmail, which requires it (it used to converge after).
    assert placed.index("edge") < placed.index("webmail")
    assert placed.index("db") < placed.index("webmail")  # its database and user exist
    assert placed[-1] == "backup_server"  # converge_last: backups take what others wrote


def test_site_imports_own_playbooks_and_plays_the_others(tmp_path: Path) -> None:
    (tmp_path / "thing.yml").write_text("---\n")
    (tmp_path / "base.yml").write_text("---\n")
    declared = {
        "base": _svc("base", host_wide=True, playbook="base.yml"),
        "thing": _svc("thing", requires=["other"]),
        "other": _svc("other"),
        "keeper": _svc("keeper", converge_last=True),
    }
    plays = yaml.safe_load(order.site_playbook(declared, tmp_path))
    assert [p.get("ansible.builtin.import_playbook") or p["hosts"] for p in plays] == \
        ["pki.yml", "base.yml", "other", "thing.yml", "keeper", "units.yml"]
    assert plays[2] == {"name": "Service other: other for a test", "hosts": "other",
                        "gather_facts": True, "roles": [{"role": "other"}]}


def test_a_cycle_names_the_files() -> None:
    declared = {"a": _svc("a", requires=["b"]), "b": _svc("b", requires=["c"]),
                "c": _svc("c", requires=["a"])}
    with pytest.raises(InvalidInput) as err:
        order.converge_order(declared)
    (problem,) = err.value.problems
    assert problem.path == "requires"
    assert "cycle" in problem.problem
    for f in ("roles/a/meta/service.yml", "roles/b/meta/service.yml",
              "roles/c/meta/service.yml"):
        assert f in str(problem)


def test_a_cycle_through_a_need_is_found() -> None:
    declared = dict(load_services())
    declared["db"] = declared["db"].model_copy(update={"requires": ["webmail"]})
    with pytest.raises(InvalidInput, match=r"cycle: .*webmail.*db|cycle: .*db.*webmail"):
        order.converge_order(declared)


def test_an_unknown_name_is_an_error_naming_the_file() -> None:
    declared = {"a": _svc("a", requires=["nosuch"])}
    with pytest.raises(InvalidInput, match=r"roles/a/meta/service.yml: requires: unknown "
                                           r"service 'nosuch'"):
        order.converge_order(declared)


def test_nothing_may_require_a_service_that_converges_last() -> None:
    declared = {"keeper": _svc("keeper", converge_last=True),
                "a": _svc("a", requires=["keeper"])}
    with pytest.raises(InvalidInput, match=r"roles/a/meta/service.yml: requires: 'keeper' "
                                           r"converges last"):
        order.converge_order(declared)


def test_a_declared_playbook_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    declared = {"a": _svc("a", playbook="nosuch.yml")}
    with pytest.raises(InvalidInput, match=r"roles/a/meta/service.yml: playbook: no "
                                           r"playbooks/nosuch.yml"):
        order.site_playbook(declared, tmp_path)
