"""A converge killed midway (BASE-IDEM-02): SIGKILL of ansible-playbook and its workers
in the middle of a run, as a crash of the controller or a cancelled CI job does. The next
converge of the same host completes without anyone's help, the one after it changes
nothing, and what the killed run had changed is applied (a handler it had notified but
never ran is not lost).

The baseline playbook on one host (the database host when the environment has one): the
cheapest converge that writes files and notifies handlers. Before it, one declared unit's
restart drop-in is removed (and systemd told), so the killed run has a change to make:
it writes the drop-in again and is killed at the next task, before the handler that
reloads systemd runs."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from .. import playbook
from .test_restart import unit_state

# The task whose change the killed run makes (roles/common/tasks/restart.yml).
REPAIRED_BY = "Give every declared unit a restart policy"
DROP_IN = "/etc/systemd/system/{unit}.d/10-municloud-restart.conf"
# Each converge of the baseline on one host takes ~40-120 s here; bounded all the same.
CONVERGE_TIMEOUT = 900


def _host(lab: dict[str, Any]) -> str:
    hosts = lab["all"]["hosts"]
    db = [h for h, v in hosts.items() if "db" in v["municloud_services"]]
    return str((db or sorted(hosts))[0])


def _drop_ins(host: Any, unit: str) -> list[str]:
    """The drop-in files systemd currently applies to `unit`."""
    return str(host.check_output(f"systemctl show -p DropInPaths --value {unit}")).split()


def _summary(stats: dict[str, Any], host: str) -> dict[str, Any]:
    return {k: v for k, v in stats.get(host, {}).items()
            if k in ("changed", "failed", "unreachable", "ok")}


@pytest.mark.disruptive
@pytest.mark.control("BASE-IDEM-02")
def test_a_converge_killed_midway_is_finished_by_the_next(lab: dict[str, Any],
                                                          target: Any) -> None:
    name = _host(lab)
    host = target(name)
    unit = "chrony.service"
    drop_in = DROP_IN.format(unit=unit)
    saved = host.file(drop_in).content_string
    try:
        host.check_output(f"rm -f {drop_in} && systemctl daemon-reload")
        assert drop_in not in _drop_ins(host, unit), "the drop-in removal did not apply"

        killed = playbook.kill_after("baseline.yml", name, REPAIRED_BY,
                                     timeout=CONVERGE_TIMEOUT)
        assert killed.returncode == -9 and REPAIRED_BY in killed.tasks[-1], (
            f"the converge was not killed right after '{REPAIRED_BY}' (exit "
            f"{killed.returncode}, last task {killed.tasks[-1:]}):\n{killed.output[-2000:]}")
        assert host.file(drop_in).exists, "the killed run had not written the drop-in back"
        print(f"{name}: killed after {len(killed.tasks)} tasks, at {killed.tasks[-1]}")

        rc, out, stats = playbook.run("baseline.yml", name, {}, timeout=CONVERGE_TIMEOUT)
        assert rc == 0 and stats.get(name, {}).get("failed", 0) == 0, (
            f"the converge after the kill did not complete (exit {rc}, "
            f"{_summary(stats, name)}):\n{out[-3000:]}")
        state = unit_state(host, unit)
        assert drop_in in _drop_ins(host, unit) and state["Restart"] == "on-failure", (
            f"the drop-in the killed run wrote is on disk but systemd does not run {unit} "
            f"with it: {state}, drop-ins {_drop_ins(host, unit)}")

        rc, out, stats = playbook.run("baseline.yml", name, {}, timeout=CONVERGE_TIMEOUT)
        assert rc == 0, f"the second converge failed (exit {rc}):\n{out[-3000:]}"
        assert stats.get(name, {}).get("changed", -1) == 0, (
            f"the second converge after the kill still changed something "
            f"({_summary(stats, name)}):\n{out[-3000:]}")
    finally:
        if not host.file(drop_in).exists:
            host.check_output(f"printf %s {shlex.quote(saved)} > {drop_in}")
        host.check_output("systemctl daemon-reload")

