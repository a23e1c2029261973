"""Backup sets derived from the service declarations, and the status command's verdicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.backup.status import rows_from_state
from municloud.core import backup_sets, inventory, order, paths, topology
from municloud.core.services import load_services


def _role(root: Path, name: str, body: str) -> None:
    d = root / name / "meta"
    d.mkdir(parents=True)
    (d / "service.yml").write_text(body)


@pytest.mark.control("BAK-SCHED-01")
def test_dump_tools_give_their_restore_step() -> None:
    ldap = backup_sets.derive("slapcat -n 1 -l /var/backups/x/data.ldif")
    assert ldap.units == ["slapd"] and ldap.dumps == ["/var/backups/x/data.ldif"]
    assert "slapadd -q -n 1 -l /var/backups/x/data.ldif" in (ldap.restore or "")
    sql = backup_sets.derive("mariadb-dump --all-databases --single-transaction "
                             "--result-file=/var/backups/db/all.sql")
    assert sql.restore is not None and sql.restore.startswith("mariadb < /var/backups/db/all.sql")
    assert sql.units == [] and sql.dumps == ["/var/backups/db/all.sql"]
    unknown = backup_sets.derive("pg_dumpall > /var/backups/pg/all.sql")
    assert unknown.restore is None and unknown.dumps == ["/var/backups/pg/all.sql"]
    assert backup_sets.derive(None) == backup_sets.Derived(None, [], [])


@pytest.mark.control("BAK-SCHED-01")
def test_only_implemented_stateful_services_are_backed_up(tmp_path: Path) -> None:
    _role(tmp_path, "a", "name: a\nsummary: s\nbackup: {paths: [/srv/a]}\n")
    _role(tmp_path, "b", "name: b\nsummary: s\nimplemented: false\nbackup: {paths: [/srv/b]}\n")
    _role(tmp_path, "c", "name: c\nsummary: s\n")
    _role(tmp_path, "d", "name: d\nsummary: s\nbackup:\n  paths: [/srv/d, /srv/a]\n"
                         "  pre: pg_dumpall > /srv/d/all.sql\n  units: [postgresql]\n")
    load_services.cache_clear()
    try:
        got = backup_sets.for_host(["a", "b", "c", "d"], tmp_path)
    finally:
        load_services.cache_clear()
    assert [s["name"] for s in got["services"]] == ["a", "d"]
    assert got["paths"] == ["/srv/a", "/srv/d"]
    d = got["services"][1]
    assert d["units"] == ["postgresql"] and d["load_known"] is False


@pytest.mark.control("BAK-SCHED-01")
def test_inventory_exports_retention_and_backup_sets() -> None:
    topo = topology.load("lab")
    inv = inventory.build(topo)
    assert inv["all"]["vars"]["municloud_backup"] == topo.backup.model_dump()
    for h in topo.hosts:
        got = inv["all"]["hosts"][h.name]["municloud_backup_set"]
        assert got == backup_sets.for_host(list(h.services))
    assert inv["all"]["hosts"]["backup1"]["municloud_backup_set"]["services"] == []


@pytest.mark.control("BAK-SCHED-01")
def test_status_flags_old_and_missing_backups() -> None:
    now = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    fresh = {"last_success": "2026-01-02T02:00:00+00:00", "services": {
        "mail": {"last_success": "2026-01-02T02:00:00+00:00"}}, "archives": 3,
        "repository": {"unique_csize": 10}, "last_error": None}
    old = {"services": {"mail": {"last_success": "2025-12-31T02:00:00+00:00"}}}
    assert not rows_from_state("mail1", ["mail"], fresh, None, now)[0].stale(26)
    assert rows_from_state("mail1", ["mail"], old, None, now)[0].stale(26)
    missing = rows_from_state("db1", ["db"], None, "unreachable", now)[0]
    assert missing.stale(26) and missing.error == "unreachable"


@pytest.mark.control("BAK-SCHED-01")
def test_a_declared_post_step_reaches_the_backup_set(tmp_path: Path) -> None:
    # oCIS's documented consistency step: stop (pre), copy, start again (post).
    _role(tmp_path, "o", "name: o\nsummary: s\nbackup:\n  paths: [/etc/o, /srv/o]\n"
                         "  pre: /usr/local/sbin/o-quiesce stop\n"
                         "  post: /usr/local/sbin/o-quiesce start\n"
                         "  restore: /usr/local/sbin/o-quiesce restored\n  units: [o]\n")
    load_services.cache_clear()
    try:
        got = backup_sets.for_host(["o"], tmp_path)
    finally:
        load_services.cache_clear()
    o = got["services"][0]
    assert o["pre"].endswith("stop") and o["post"].endswith("start")
    assert o["units"] == ["o"] and o["load_known"] is True


@pytest.mark.control("BAK-CTRL-01")
def test_the_controllers_state_is_archived_after_every_play_that_writes_secrets() -> None:
    """The backup clients generate their passphrases into the controller's secrets: the
    controller's archive comes after them, and after every other play of the converge
    that runs on the controller, or a fresh controller's second converge archives again
    (not idempotent: seen on a fresh machine)."""
    def plays_of(name: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = yaml.safe_load((paths.PLAYBOOKS / name).read_text())
        out: list[dict[str, Any]] = []
        for play in data:
            own = play.get("ansible.builtin.import_playbook")
            out += plays_of(str(own)) if own else [play]
        return out

    roles = [[str(r["role"]) if isinstance(r, dict) else str(r) for r in p.get("roles") or []]
             for p in plays_of("site.yml")]
    last_role = max(i for i, rs in enumerate(roles) if rs)
    assert roles[last_role] == ["backup_controller"], roles
    assert order.site_plays()[-1]["ansible.builtin.import_playbook"] == "units.yml"
