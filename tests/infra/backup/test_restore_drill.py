"""Restore drills, for real, in the lab: seed known data, back it up, destroy it, restore it
with playbooks/restore.yml, and compare byte for byte (checksums of every file and of the
dumps) and functionally. Which services are drilled comes from the declarations (every
implemented stateful service placed on a host), not from a list here. RPO (age of the last
good backup) and RTO (measured restore time) per service are written to
<state>/reports/restore-drill.json and shown in the test properties.

Faults: unreachable backup host, wrong passphrase, full repository (borg storage quota),
failing dump step, unknown archive: each fails loudly, is recorded and keeps the earlier
archives readable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from municloud.core import paths
from municloud.deploy.ansible_run import run_playbook

from .. import backup_lab as bl
from ..environment import ENV, Person

SERVICES: list[tuple[str | None, dict[str, Any] | None]] = [*bl.services()] or [(None, None)]
REPORT = paths.env_state(ENV) / "reports" / "restore-drill.json"
DRILL_MAX_AGE_DAYS = 35


def _kind(entry: dict[str, Any]) -> str:
    tool = Path(shlex.split(entry["pre"])[0]).name if entry.get("pre") else ""
    return {"slapcat": "ldap", "mariadb-dump": "sql", "mysqldump": "sql"}.get(tool, "files")


def _report(host: str, service: str, **values: Any) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data.setdefault(f"{host}/{service}", {}).update(values)
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _sh(host: Any, cmd: str) -> str:
    r = host.run(cmd)
    assert r.rc == 0, f"{cmd!r} failed ({r.rc}): {r.stderr or r.stdout}"
    out: str = r.stdout
    return out


def _restore(host_name: str, service: str | None = None, archive: str | None = None) -> float:
    extra = ["-e", f"restore_host={host_name}"]
    if service:
        extra += ["-e", f"restore_service={service}"]
    if archive:
        extra += ["-e", f"restore_archive={archive}"]
    start = time.monotonic()
    result = run_playbook(ENV, "restore.yml", extra_args=extra, quiet=True)
    assert result.returncode == 0 and not result.failed, result.failed
    return round(time.monotonic() - start, 1)


# --- per-kind seeding, destruction and checks -------------------------------------------

def _seed_files(host: Any, entry: dict[str, Any], token: str) -> dict[str, str]:
    """Files of known content in every declared path that is not a dump directory."""
    dump_dirs = {str(Path(d).parent) for d in entry["dumps"]}
    seeded = {}
    for p in entry["paths"]:
        if p in dump_dirs:
            continue
        d = f"{p}/municloud-drill-{token}/nested"
        _sh(host, f"mkdir -p {d} && head -c 1048576 /dev/urandom > {d}/blob.bin && "
                  f"printf 'seeded %s\\n' {token} > {d}/../note.txt && ln -sf note.txt {d}/../link")
        for f in (f"{d}/blob.bin", f"{p}/municloud-drill-{token}/note.txt"):
            seeded[f] = _sh(host, f"sha256sum {f}").split()[0]
    return seeded


def _ldap_base(lab: dict[str, Any]) -> str:
    base: str = lab["all"]["vars"]["municloud_ldap_base_dn"]
    return base


def _seed_ldap(host: Any, lab: dict[str, Any], token: str) -> str:
    dn = f"cn=municloud-drill-{token},{_ldap_base(lab)}"
    ldif = f"dn: {dn}\\nobjectClass: device\\ncn: municloud-drill-{token}\\ndescription: {token}\\n"
    _sh(host, f"printf '{ldif}' | ldapadd -Q -Y EXTERNAL -H ldapi:///")
    return dn


def _ldap_login(host: Any, lab: dict[str, Any]) -> None:
    """A directory account still logs in with its password (StartTLS simple bind)."""
    secrets = Path(lab["all"]["vars"]["municloud_secrets_dir"])
    people_dir = secrets / "people"
    people = sorted(people_dir.glob("*.password")) if people_dir.is_dir() else []
    if people:
        dn = f"uid={people[0].stem},ou=people,{_ldap_base(lab)}"
        pw = people[0].read_text().strip()
    else:
        accounts = sorted((secrets / "directory").glob("*.password"))
        accounts = [a for a in accounts if a.stem != "admin"]
        assert accounts, "no directory account with a known password to log in with"
        dn = f"uid={accounts[0].stem},ou=services,{_ldap_base(lab)}"
        pw = accounts[0].read_text().strip()
    fqdn = host.run("hostname -f").stdout.strip()
    # -y takes the file's whole content: written with printf %s, without the newline a
    # here-string would add (a wrong password that counts towards the lockout).
    r = host.run(f"umask 077; printf %s {shlex.quote(pw)} > /run/drill.pw; "
                 f"ldapwhoami -x -ZZ -H ldap://{fqdn} -D {shlex.quote(dn)} -y /run/drill.pw;"
                 f" rc=$?; rm -f /run/drill.pw; exit $rc")
    assert r.rc == 0 and dn.lower() in r.stdout.lower(), f"{dn} cannot log in: {r.stderr}"


def _destroy_ldap(host: Any) -> None:
    _sh(host, "systemctl stop slapd && db=$(slapcat -n 0 2>/dev/null | sed -n "
              "'s/^olcDbDirectory: //p' | head -n 1); find \"${db:-/var/lib/ldap}\" -mindepth 1 "
              "-delete && systemctl start slapd")


def _sql_checksums(host: Any) -> dict[str, str]:
    dbs = _sh(host, "mariadb -N -e 'SHOW DATABASES'").split()
    user_dbs = [d for d in dbs if d not in
                ("information_schema", "performance_schema", "mysql", "sys")]
    return {d: _sh(host, f"mariadb-dump --skip-dump-date --single-transaction --databases {d} "
                         "| sha256sum").split()[0] for d in user_dbs}


def _seed_sql(host: Any, token: str) -> None:
    _sh(host, "mariadb -e \"CREATE DATABASE IF NOT EXISTS municloud_drill; "
              "CREATE TABLE IF NOT EXISTS municloud_drill.seed "
              "(id INT PRIMARY KEY, v VARCHAR(80)); "
              f"REPLACE INTO municloud_drill.seed VALUES (1, 'a-{token}'), (2, 'b-{token}'), "
              f"(3, REPEAT('{token}', 2))\"")


def _destroy_sql(host: Any, dbs: list[str]) -> None:
    for d in dbs:
        _sh(host, f"mariadb -e 'DROP DATABASE `{d}`'")


# --- the drill ------------------------------------------------------------------------

@pytest.mark.control("BAK-DRILL-01", "BAK-RET-01")
@pytest.mark.parametrize(("host_name", "entry"), SERVICES,
                         ids=[f"{h}-{e['name']}" if e else "none" for h, e in SERVICES])
@pytest.mark.disruptive
def test_restore_drill(host_name: str | None, entry: dict[str, Any] | None,
                       lab: dict[str, Any], target: Any,
                       record_property: Any) -> None:
    if host_name is None or entry is None:
        pytest.skip("no implemented stateful service in this environment")
    host = target(host_name)
    kind = _kind(entry)
    token = os.urandom(6).hex()
    svc = entry["name"]

    # 1. seed known data
    seeded = _seed_files(host, entry, token)
    dn = _seed_ldap(host, lab, token) if kind == "ldap" else None
    if kind == "sql":
        _seed_sql(host, token)
    sql_before = _sql_checksums(host) if kind == "sql" else {}

    # 2. back up
    t0 = time.monotonic()
    bl.ok(host, "run")
    backup_seconds = round(time.monotonic() - t0, 1)
    st = bl.state(host)
    archive = st["last_archive"]
    in_archive = bl.archive_listing(host, archive, entry["paths"])
    for f, digest in seeded.items():
        assert in_archive.get(f) == digest, f"{f} not backed up as seeded"
    dumps = st["services"][svc].get("dumps_sha256", {})
    for d, digest in dumps.items():
        assert in_archive.get(d) == digest, f"dump {d} in the archive differs from the one made"

    try:
        # 3. destroy: every declared path emptied, and the live data behind the dumps
        _sh(host, "for p in " + " ".join(map(shlex.quote, entry["paths"]))
            + "; do find \"$p\" -mindepth 1 -delete; done")
        if kind == "ldap":
            _destroy_ldap(host)
            assert host.run(f"ldapsearch -Q -Y EXTERNAL -H ldapi:/// -b {shlex.quote(dn or '')} "
                            "-s base").rc != 0, "the seeded entry survived the destruction"
        if kind == "sql":
            _destroy_sql(host, list(sql_before))

        # 4. restore (playbooks/restore.yml: units stopped, data back, dump loaded, started)
        rto = _restore(host_name, svc, archive)
    finally:
        host.run("systemctl start " + " ".join(entry["units"])) if entry["units"] else None

    # 5. compare byte for byte: every file of the archive is back, identical, nothing else
    restored = bl.live_listing(host, entry["paths"])
    assert restored == in_archive, (
        f"restored files differ from archive {archive}: "
        f"missing {sorted(set(in_archive) - set(restored))[:5]}, "
        f"extra {sorted(set(restored) - set(in_archive))[:5]}, "
        f"changed {[p for p in in_archive if p in restored and restored[p] != in_archive[p]][:5]}")
    for f, digest in seeded.items():
        assert restored[f] == digest
    if seeded:
        base = next(p for p in entry["paths"] if any(k.startswith(p + "/") for k in seeded))
        link = host.file(f"{base}/municloud-drill-{token}/link")
        assert link.is_symlink and link.linked_to.endswith("note.txt")

    # ... and functionally
    if kind == "ldap":
        found = _sh(host, f"ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b {shlex.quote(dn or '')}"
                          " -s base description")
        assert f"description: {token}" in found
        # A fresh dump of the restored directory is byte for byte the archived one.
        for d, digest in dumps.items():
            again = _sh(host, "slapcat -n 1 | sha256sum").split()[0]
            assert again == digest, f"slapcat after restore differs from {d}"
        _ldap_login(host, lab)
        _sh(host, f"ldapdelete -Q -Y EXTERNAL -H ldapi:/// {shlex.quote(dn or '')}")
    if kind == "sql":
        assert _sql_checksums(host) == sql_before, "databases differ after the restore"
        rows = _sh(host, "mariadb -N -e 'SELECT v FROM municloud_drill.seed ORDER BY id'")
        assert f"a-{token}" in rows and f"b-{token}" in rows
        _sh(host, "mariadb -e 'DROP DATABASE municloud_drill'")
    _sh(host, "for p in " + " ".join(map(shlex.quote, entry["paths"]))
        + f"; do rm -rf \"$p/municloud-drill-{token}\"; done")

    # 6. the scratch drill of the tool records the successful restore test (BAK-DRILL-01)
    drill = json.loads(bl.ok(host, "drill", "--service", svc, "--archive", archive))
    assert drill["ok"], drill["problems"]
    rpo_h = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(st["last_success"])
             ).total_seconds() / 3600
    _report(host_name, svc, archive=archive, backup_seconds=backup_seconds,
            rto_seconds=rto, rpo_hours_at_restore=round(rpo_h, 3),
            files=len(in_archive), kind=kind, at=dt.datetime.now(dt.UTC).isoformat())
    record_property("rto_seconds", rto)
    record_property("rpo_hours", round(rpo_h, 3))


# --- mail: a deleted mailbox comes back, readable over IMAP ------------------------------

def _person(people: list[Person]) -> tuple[str, str, str] | None:
    for p in people:
        if p.password is not None and p.state == "present":
            return p.uid, p.mail, p.password
    return None


def _imap(lab: dict[str, Any], mail_host: str, user: str, pw: str, subject: str) -> bytes | None:
    import imaplib
    import ssl

    ca = Path(lab["all"]["vars"]["municloud_secrets_dir"]) / "pki" / "ca.crt"
    ctx = ssl.create_default_context(cafile=str(ca))
    fqdn = next(h["fqdn"] for h in lab["all"]["vars"]["municloud_service_hosts"]["mail"]
                if h["name"] == mail_host)
    addr = lab["all"]["hosts"][mail_host]["municloud_address"]
    ctx.check_hostname = False  # the lab connects by address; the chain is still verified
    with imaplib.IMAP4_SSL(addr, 993, ssl_context=ctx, timeout=20) as c:
        c.login(user, pw)
        c.select("INBOX", readonly=True)
        _, ids = c.search(None, "SUBJECT", f'"{subject}"')
        if not ids or not ids[0]:
            return None
        _, data = c.fetch(ids[0].split()[-1], "(BODY.PEEK[TEXT])")
        del fqdn
        part = data[0]
        return part[1] if isinstance(part, tuple) else None


@pytest.mark.disruptive
@pytest.mark.control("BAK-DRILL-01")
def test_deleted_mailbox_restored_readable_over_imap(
        lab: dict[str, Any], target: Any, probe_mail: Callable[[str, str], None],
        people: list[Person]) -> None:
    mail_hosts = [h for h, e in bl.services() if e["name"] == "mail"]
    if not mail_hosts:
        pytest.skip("the mail service is not implemented in this environment")
    person = _person(people)
    if person is None:
        pytest.skip("no directory person with a password (people.yml + secrets/people) yet")
    uid, address, pw = person
    host_name = mail_hosts[0]
    host = target(host_name)
    token = os.urandom(6).hex()
    subject = f"municloud restore drill {token}"
    probe_mail(uid, subject)
    body = f"seeded message {token}\r\n"
    _sh(host, f"printf 'Subject: {subject}\\nTo: {address}\\n\\n{body.strip()}\\n' | "
              f"/usr/sbin/sendmail -f root@localhost {shlex.quote(address)}")
    got = None
    for _ in range(30):
        got = _imap(lab, host_name, uid, pw, subject)
        if got:
            break
        time.sleep(1)
    assert got and token.encode() in got, "the seeded mail never arrived"
    bl.ok(host, "run")
    home = _sh(host, f"doveadm user -f home {shlex.quote(address)}").strip()
    assert home.startswith("/srv/vmail"), home
    _sh(host, f"rm -rf {shlex.quote(home)}")
    assert _imap(lab, host_name, uid, pw, subject) is None, "mailbox still there after deletion"
    _restore(host_name, "mail")
    again = _imap(lab, host_name, uid, pw, subject)
    assert again == got, "the restored message differs from the seeded one"


# --- a whole host onto a fresh node -----------------------------------------------------

def _fresh_host() -> str | None:
    wanted = os.environ.get("MUNICLOUD_DRILL_FRESH_HOST")
    hosts = [h for h, _ in bl.services()]
    if wanted:
        return wanted if wanted in hosts else None
    with_dump = [h for h, e in bl.services() if e["dumps"]]
    return next(iter(with_dump or hosts), None)


@pytest.mark.disruptive
@pytest.mark.control("BAK-DRILL-01")
def test_whole_host_restored_onto_a_fresh_node(lab: dict[str, Any], target: Any,
                                               ssh_config: str) -> None:
    from municloud.core import topology
    from municloud.lab import nodes, podman

    host_name = _fresh_host()
    if host_name is None:
        pytest.skip("no backup client to rebuild in this environment")
    if lab["all"]["vars"]["municloud_platform"] != "lab":
        pytest.skip("rebuilding a node is a lab-only drill")
    host = target(host_name)
    entries = lab["all"]["hosts"][host_name]["municloud_backup_set"]["services"]
    token = os.urandom(6).hex()
    seeded: dict[str, str] = {}
    dns = []
    for e in entries:
        seeded.update(_seed_files(host, e, token))
        if _kind(e) == "ldap":
            dns.append(_seed_ldap(host, lab, token))
    bl.ok(host, "run")
    archive = bl.state(host)["last_archive"]
    all_paths = lab["all"]["hosts"][host_name]["municloud_backup_set"]["paths"]
    in_archive = bl.archive_listing(host, archive, all_paths)

    start = time.monotonic()
    topo = topology.load(ENV)
    nodes.remove(topo, nodes.container(topo, host_name))
    for v in topo.host(host_name).volumes:
        podman.run("volume", "rm", "--force", nodes.volume(topo, host_name, v.name), check=False)
    subprocess.run(["ssh", "-F", ssh_config, "-O", "exit", host_name], capture_output=True,
                   check=False)
    subprocess.run([str(Path(paths.REPO) / ".venv" / "bin" / "municloud"), "lab", "up"],
                   check=True, capture_output=True, cwd=paths.REPO)
    rebuilt = time.monotonic()
    conv = run_playbook(ENV, "site.yml", limit=host_name, quiet=True)
    assert conv.returncode == 0 and not conv.failed, conv.failed
    converged = time.monotonic()
    fresh = target(host_name)
    assert bl.archives(fresh)[-1] == archive, "the rebuilt node put an archive over the backup"
    restore_s = _restore(host_name, None, archive)
    total = round(time.monotonic() - start, 1)

    restored = bl.live_listing(fresh, all_paths)
    assert restored == in_archive, "the rebuilt node's data differs from the archive"
    for dn in dns:
        assert f"description: {token}" in _sh(
            fresh, f"ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b {shlex.quote(dn)} -s base")
        _sh(fresh, f"ldapdelete -Q -Y EXTERNAL -H ldapi:/// {shlex.quote(dn)}")
    _sh(fresh, "for p in " + " ".join(map(shlex.quote, all_paths))
        + f"; do rm -rf \"$p/municloud-drill-{token}\"; done")
    bl.ok(fresh, "run")
    # The rebuilt node starts a new state file: record the drill of each service again.
    for e in entries:
        assert json.loads(bl.ok(fresh, "drill", "--service", e["name"]))["ok"]
    _report(host_name, "(whole host, fresh node)", archive=archive,
            rebuild_seconds=round(rebuilt - start, 1),
            converge_seconds=round(converged - rebuilt, 1), restore_seconds=restore_s,
            rto_seconds=total, at=dt.datetime.now(dt.UTC).isoformat())


# --- faults -----------------------------------------------------------------------------

def _a_client(target: Any, dump: bool = False) -> tuple[str, Any]:
    pool = [(h, e) for h, e in bl.services() if e["dumps"] or not dump]
    if not pool:
        pytest.skip("no backup client" + (" with a dump step" if dump else ""))
    return pool[0][0], target(pool[0][0])


def _fails_and_keeps_archives(host: Any, reason: str) -> None:
    last_ok = bl.state(host)["last_success"]
    r = bl.tool(host, "run")
    assert r.rc != 0, "the backup run succeeded despite the fault"
    assert "FAILED" in r.stderr and reason.lower() in r.stderr.lower(), r.stderr
    st = bl.state(host)
    assert st["last_error"] and reason.lower() in st["last_error"].lower()
    assert st["last_success"] == last_ok


def _still_readable(host: Any, before: list[str]) -> None:
    after = bl.archives(host)
    assert after == before, "earlier archives changed after a failed run"
    bl.ok(host, "borg", "extract", "--dry-run", f"::{after[-1]}")
    bl.ok(host, "run")
    assert bl.state(host)["last_error"] is None


@pytest.mark.disruptive
@pytest.mark.control("BAK-FAIL-01")
def test_wrong_passphrase_fails_and_archives_stay_readable(target: Any) -> None:
    _, host = _a_client(target)
    before = bl.archives(host)
    pw = "/etc/municloud-backup/passphrase"
    _sh(host, f"cp -p {pw} {pw}.drill && printf wrong-passphrase > {pw}")
    try:
        _fails_and_keeps_archives(host, "passphrase")
    finally:
        _sh(host, f"mv -f {pw}.drill {pw}")
    _still_readable(host, before)


@pytest.mark.disruptive
@pytest.mark.control("BAK-FAIL-01")
def test_unreachable_backup_server_fails_loudly(target: Any, lab: dict[str, Any]) -> None:
    _, host = _a_client(target)
    before = bl.archives(host)
    server = lab["all"]["vars"]["municloud_service_hosts"]["backup_server"][0]["address"]
    _sh(host, "ssh -F /etc/municloud-backup/ssh_config -O exit municloud-backup-server "
              "2>/dev/null; nft add table inet municloud_drill && nft add chain inet "
              "municloud_drill out '{ type filter hook output priority 0; }' && nft add rule "
              f"inet municloud_drill out ip daddr {server} tcp dport 22 reject with tcp reset")
    try:
        _fails_and_keeps_archives(host, "connection")
    finally:
        _sh(host, "nft delete table inet municloud_drill")
    _still_readable(host, before)


@pytest.mark.disruptive
@pytest.mark.control("BAK-FAIL-01")
def test_full_repository_fails_and_keeps_archives(target: Any, lab: dict[str, Any]) -> None:
    name, host = _a_client(target)
    before = bl.archives(host)
    server = target(bl.backup_server(lab))
    repo = f"/srv/borg/repos/{name}"
    # The smallest storage quota borg accepts (10M) on the repository, and 16 MiB of new
    # incompressible data: the backup volume is "full" for this client.
    host.run(f"head -c 16777216 /dev/urandom > {bl.config(host)['paths'][0]}/.drill-fill")
    _sh(server, f"runuser -u borg -- borg config {repo} storage_quota 10M")
    try:
        _fails_and_keeps_archives(host, "quota")
    finally:
        host.run(f"rm -f {bl.config(host)['paths'][0]}/.drill-fill")
        _sh(server, f"runuser -u borg -- borg config --delete {repo} storage_quota")
    _still_readable(host, before)


@pytest.mark.disruptive
@pytest.mark.control("BAK-FAIL-01")
def test_failing_dump_step_fails_the_run(target: Any) -> None:
    name, host = _a_client(target, dump=True)
    before = bl.archives(host)
    entry = next(e for h, e in bl.services() if h == name and e["pre"])
    binary = _sh(host, f"readlink -f $(command -v {shlex.split(entry['pre'])[0]})").strip()
    mode = _sh(host, f"stat -c %a {binary}").strip()
    _sh(host, f"chmod a-x {binary}")  # the dump tool cannot run: the dump step fails
    try:
        _fails_and_keeps_archives(host, "dump step failed")
    finally:
        _sh(host, f"chmod {mode} {binary}")
    _still_readable(host, before)


@pytest.mark.disruptive
@pytest.mark.control("BAK-FAIL-01")
def test_unknown_archive_names_the_available_ones(target: Any) -> None:
    name, host = _a_client(target)
    available = bl.archives(host)
    r = bl.tool(host, "restore", "--service", bl.config(host)["services"][0]["name"],
                "--archive", f"{name}-1999-01-01T00:00:00Z")
    assert r.rc == 2 and "not found" in r.stderr and available[-1] in r.stderr, r.stderr
    result = run_playbook(ENV, "restore.yml", quiet=True, extra_args=[
        "-e", f"restore_host={name}", "-e", f"restore_archive={name}-1999-01-01T00:00:00Z"])
    assert result.returncode != 0 and result.failed


@pytest.mark.drill_record  # with --all: after the drills above (municloud/verify.py)
@pytest.mark.control("BAK-DRILL-01")
def test_every_stateful_service_passed_a_recent_drill(target: Any) -> None:
    if not bl.services():
        pytest.skip("no implemented stateful service in this environment")
    for host_name, entry in bl.services():
        drill = bl.state(target(host_name)).get("drills", {}).get(entry["name"])
        assert drill, f"{host_name}/{entry['name']}: never drilled"
        assert drill["ok"], drill
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(drill["at"])
        assert age.days < DRILL_MAX_AGE_DAYS, f"{host_name}/{entry['name']}: drill {age} old"
