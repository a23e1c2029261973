"""Backups as deployed: encrypted, off-host behind restricted keys, scheduled, pruned by
the topology's retention, checked. The hosts come from the services' declarations (the
inventory's municloud_backup_set), never from a list here."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from .. import backup_lab as bl

CLIENTS: list[str | None] = [*bl.clients()] or [None]


# A client's tests share its borg repository and the tool's run lock, which refuses a
# second run: under `municloud verify`'s worker processes they run one after another.
pytestmark = pytest.mark.host_lock("backup")


@pytest.fixture(params=CLIENTS, ids=[str(c) for c in CLIENTS])
def client(request: pytest.FixtureRequest, lab: dict[str, Any], target: Any) -> tuple[str, Any]:
    if request.param is None:
        pytest.skip("no host declares data to back up (no stateful service implemented)")
    return request.param, target(request.param)


@pytest.mark.control("BAK-ENC-01")
def test_repository_is_encrypted_with_a_private_passphrase(client: tuple[str, Any],
                                                           lab: dict[str, Any]) -> None:
    name, host = client
    info = json.loads(bl.ok(host, "borg", "info", "--json"))
    assert info["encryption"]["mode"] == "repokey-blake2"
    pw = host.file("/etc/municloud-backup/passphrase")
    assert pw.user == "root" and pw.mode == 0o600 and len(pw.content_string.strip()) >= 32
    secrets = Path(lab["all"]["vars"]["municloud_secrets_dir"]) / "backup"
    local = secrets / f"{name}.passphrase"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert local.read_text().strip() == pw.content_string.strip()


@pytest.mark.exercise  # runs the backup tool (new archives, pruning)
@pytest.mark.control("BAK-ENC-01")
def test_backup_host_stores_no_plaintext(client: tuple[str, Any], lab: dict[str, Any],
                                         target: Any) -> None:
    name, host = client
    marker = f"municloud-plaintext-probe-{os.urandom(8).hex()}"
    probe = f"{bl.config(host)['paths'][0]}/.municloud-plaintext-probe"
    host.run(f"printf '%s\\n' {marker} > {probe}")
    try:
        bl.ok(host, "run")
        server = target(bl.backup_server(lab))
        found = server.run(f"grep -rlF {marker} /srv/borg/repos/{name}")
        assert found.rc == 1 and not found.stdout, f"plaintext found on the backup host: {found}"
        # ... while the archive does hold it, readable with the client's passphrase.
        out = bl.ok(host, "borg", "extract", "--stdout", f"::{bl.state(host)['last_archive']}",
                    probe.lstrip("/"))
        assert marker in out
    finally:
        host.run(f"rm -f {probe}")


@pytest.mark.control("BAK-OFF-01")
def test_repository_lives_on_the_backup_host(client: tuple[str, Any], lab: dict[str, Any],
                                             target: Any) -> None:
    name, host = client
    server_name = bl.backup_server(lab)
    assert server_name != name
    cfg = bl.config(host)
    assert cfg["repository"].endswith(f"/srv/borg/repos/{name}")
    server = target(server_name)
    repo = server.file(f"/srv/borg/repos/{name}")
    assert repo.is_directory and repo.user == "borg" and repo.mode == 0o700
    assert server.file(f"/srv/borg/repos/{name}/config").exists
    assert server.mount_point("/srv/borg").exists or server.file("/srv/borg").is_directory


@pytest.mark.control("BAK-OFF-01")
def test_client_key_serves_only_its_own_repository(client: tuple[str, Any]) -> None:
    name, host = client
    shell = host.run("ssh -F /etc/municloud-backup/ssh_config municloud-backup-server id")
    assert "uid=" not in shell.stdout, "the client key opened a shell on the backup host"
    # Ask borg, with this client's key, for a repository path that is not its own.
    other = bl.tool(host, "borg", "list", f"ssh://municloud-backup-server/srv/borg/repos/not-{name}")
    assert other.rc != 0
    said = (other.stderr + other.stdout).lower()
    assert "not allowed" in said or "restrict" in said, other.stderr


@pytest.mark.control("BAK-OFF-01")
def test_every_authorised_key_is_forced_to_borg_serve(lab: dict[str, Any], target: Any) -> None:
    if not bl.clients():
        pytest.skip("no backup client in this environment")
    server = target(bl.backup_server(lab))
    keys = server.file("/srv/borg/.ssh/authorized_keys")
    assert keys.user == "borg" and keys.mode == 0o600
    lines = [ln for ln in keys.content_string.splitlines() if ln and not ln.startswith("#")]
    # The hosts, then the controller's own state (role backup_controller).
    expected = bl.clients() + ([bl.controller_client()] if bl.controller_client() else [])
    assert len(lines) == len(expected)
    for client_name, line in zip(expected, lines, strict=True):
        assert line.startswith(f'command="borg serve --restrict-to-repository '
                               f'/srv/borg/repos/{client_name}')
        assert '",restrict ' in line


@pytest.mark.control("BAK-SCHED-01")
def test_backup_and_check_timers_are_scheduled(client: tuple[str, Any]) -> None:
    _, host = client
    for timer in ("municloud-backup.timer", "municloud-backup-check.timer"):
        unit = host.service(timer)
        assert unit.is_enabled and unit.is_running, timer
        nxt = host.run(f"systemctl show -p NextElapseUSecRealtime --value {timer}").stdout
        assert nxt.strip() not in ("", "0", "n/a"), f"{timer} has no next run"


@pytest.mark.control("BAK-SCHED-01")
def test_last_backup_is_recent_and_clean(client: tuple[str, Any], lab: dict[str, Any]) -> None:
    import datetime as dt

    _, host = client
    st = bl.state(host)
    assert st["last_success"], "never backed up"
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(st["last_success"])
    assert age.total_seconds() < lab["all"]["vars"]["municloud_backup"]["max_age_hours"] * 3600
    assert st["last_error"] is None, st["last_error"]


@pytest.mark.exercise  # runs the backup tool (new archives, pruning)
@pytest.mark.control("BAK-RET-01")
def test_retention_of_the_topology_is_applied(client: tuple[str, Any],
                                              lab: dict[str, Any]) -> None:
    name, host = client
    wanted = lab["all"]["vars"]["municloud_backup"]
    cfg = bl.config(host)
    assert cfg["retention"] == {k: wanted[k] for k in ("daily", "weekly", "monthly")}
    bl.ok(host, "run")
    bl.ok(host, "run")
    r = bl.tool(host, "borg", "prune", "--dry-run", "--list", "--glob-archives", f"{name}-*",
                "--keep-daily", str(wanted["daily"]), "--keep-weekly", str(wanted["weekly"]),
                "--keep-monthly", str(wanted["monthly"]))
    out = r.stdout + r.stderr  # borg prints the --list lines on stderr
    assert r.rc == 0 and "Keeping archive" in out, out
    assert "Would prune" not in out, f"archives left unpruned:\n{out}"
    # Several runs today leave at most two archives of today: the latest (daily #1) and,
    # while fewer days than keep-daily are covered, the oldest (borg's "daily[oldest]").
    import datetime as dt

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    todays = [a for a in bl.archives(host) if a.startswith(f"{name}-{today}")]
    assert 1 <= len(todays) <= 2, todays
    assert len(bl.archives(host)) <= wanted["daily"] + wanted["weekly"] + wanted["monthly"]


@pytest.mark.control("BAK-SCHED-01")
def test_repository_check_passes_and_is_recorded(client: tuple[str, Any]) -> None:
    _, host = client
    before = bl.state(host).get("last_check") or ""
    bl.ok(host, "check")
    st = bl.state(host)
    assert st["last_check_ok"] is True and st["last_check_error"] is None
    assert st["last_check"] and st["last_check"] >= before
