"""Services that come back (BASE-SVC-01): every long-running unit a service declares
(`units:` in its meta/service.yml, exported per host as `municloud_units`) runs with a
restart policy, and after a crash (SIGKILL of its main process) it is back, with its
ports listening, within the policy's time and without anyone's help."""

from __future__ import annotations

import imaplib
import ssl
import time
from typing import Any

import pytest

from municloud.core import services

from ..environment import Person, inventory
from ..identity.sso import lemonldap, staff_login
from ..webclient import ca_file, pinned

RESTARTING = {"on-failure", "always", "on-abnormal", "on-abort"}
# Restart delay (2 s) + the slowest start seen in the lab (MariaDB, ~10 s), with room.
BACK_WITHIN = 60.0


def unit_state(host: Any, unit: str) -> dict[str, str]:
    out = host.check_output(
        f"systemctl show -p LoadState -p ActiveState -p SubState -p Restart -p MainPID {unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def loaded_units(host: Any, units: list[str]) -> dict[str, dict[str, str]]:
    """The declared units that exist on the host (a vendor part that is not deployed has
    none), with their state."""
    states = {u: unit_state(host, u) for u in units}
    return {u: s for u, s in states.items() if s.get("LoadState") == "loaded"}


@pytest.mark.control("BASE-SVC-01")
def test_declared_units_run_with_a_restart_policy(host: Any, hostvars: dict[str, Any]) -> None:
    units = loaded_units(host, hostvars["municloud_units"])
    assert units, f"none of the declared units {hostvars['municloud_units']} exists here"
    down = {u: s["ActiveState"] for u, s in units.items() if s["ActiveState"] != "active"}
    assert not down, f"declared units not running: {down}"
    never = {u: s["Restart"] for u, s in units.items() if s["Restart"] not in RESTARTING}
    assert not never, f"declared units that do not come back after a crash: {never}"


# Every declared daemon's crash is exercised but sshd's, the test's way in. Those whose
# workers outlive a killed main process (rspamd, php8.2-fpm, LemonLDAP's FastCGI server,
# chrony's helper) come back within their declared stop timeout (unit_settings), and
# postfix@- is watched through its PID file; a vendor part not deployed is skipped.
NOT_CRASHED = frozenset({"ssh.service"})


def _crash_cases() -> list[Any]:
    """One case per (host, declared unit), but NOT_CRASHED."""
    inv = inventory()
    if inv is None:
        return [pytest.param(None, None, id="no-lab")]
    return [pytest.param(h, u, id=f"{h}-{u}")
            for h, v in inv["all"]["hosts"].items() for u in v["municloud_units"]
            if u not in NOT_CRASHED]


def listening(host: Any, ports: set[int]) -> set[int]:
    out = host.check_output("ss -Hltn")
    open_ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
                  if line.split()[3].rsplit(":", 1)[1].isdigit()}
    return ports & open_ports


@pytest.mark.disruptive
@pytest.mark.control("BASE-SVC-01")
@pytest.mark.parametrize(("crash_host", "unit"), _crash_cases())
def test_a_killed_daemon_comes_back(lab: dict[str, Any], target: Any,
                                    crash_host: str | None, unit: str | None) -> None:
    if crash_host is None or unit is None:
        pytest.skip("no lab")
    host = target(crash_host)
    before = unit_state(host, unit)
    if before.get("LoadState") != "loaded":
        pytest.skip(f"{unit} is not on {crash_host} (a part that is not deployed)")
    assert before["ActiveState"] == "active", f"{unit} on {crash_host} was not running: {before}"
    assert int(before["MainPID"]) > 0, f"systemd knows no main process of {unit}: {before}"
    declared = services.load_services()
    tcp = {p.port for s in lab["all"]["hosts"][crash_host]["municloud_services"]
           for p in declared[s].ports if p.proto == "tcp" and p.end is None}
    ports_before = listening(host, tcp)

    host.check_output(f"kill -KILL {int(before['MainPID'])}")
    start = time.monotonic()
    state = before
    while time.monotonic() - start < BACK_WITHIN:
        time.sleep(1)
        state = unit_state(host, unit)
        if state["ActiveState"] == "active" and state["MainPID"] not in ("0", before["MainPID"]):
            break
    back = time.monotonic() - start
    assert state["ActiveState"] == "active" and state["MainPID"] != before["MainPID"], (
        f"{unit} on {crash_host} not back {BACK_WITHIN:.0f} s after SIGKILL: {state}")
    # A port may come back that a daemon killed just before was still reopening (superset).
    while time.monotonic() - start < BACK_WITHIN and not ports_before <= listening(host, tcp):
        time.sleep(1)
    assert ports_before <= listening(host, tcp), (
        f"{crash_host}: ports {sorted(ports_before - listening(host, tcp))} no longer listen "
        f"after {unit} came back")
    print(f"{crash_host} {unit}: back after {back:.1f} s")


@pytest.mark.disruptive
@pytest.mark.control("BASE-SVC-01")
def test_after_the_crashes_the_mail_and_sso_journeys_pass(
        lab: dict[str, Any], people: list[Person]) -> None:
    """Run after every crash above (file order): the journeys through the daemons that
    were killed work again with no manual step. An IMAPS password login (dovecot, which
    binds to slapd) and a staff login at the portal through the edge (nginx on the edge,
    LemonLDAP::NG's FastCGI server and nginx on the identity host, slapd)."""
    person = next((p for p in people if p.state == "present" and p.password), None)
    if person is None or person.password is None:
        pytest.skip("no present person with a generated password in this environment")
    mail = lab["all"]["vars"]["municloud_service_hosts"]["mail"][0]
    ctx = ssl.create_default_context(cafile=str(ca_file(
        lab["all"]["vars"]["municloud_secrets_dir"])))
    with pinned({mail["fqdn"]: mail["address"]}), \
            imaplib.IMAP4_SSL(mail["fqdn"], 993, ssl_context=ctx, timeout=30) as imap:
        assert imap.login(person.uid, person.password)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
    sso = lemonldap(lab)
    answer = staff_login(sso, sso.browser(), person.uid, person.password)
    assert answer.get("result") == 1, f"the portal refused {person.uid} after the crashes: {answer}"
