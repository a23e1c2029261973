"""The running devcloud leaks nothing and cannot deadlock (issue 17, items 3 and 8): the
admin password is in no log and on no command line, logs are root's alone, keystone's key
repositories are its own and private, and the uWSGI services run as worker processes
(no threads) under their system users."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from municloud.devcloud import Secrets, logs, processes, root
from municloud.devcloud.processes import UWSGI_USERS

pytestmark = pytest.mark.devcloud


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _group(pid: int) -> list[int]:
    """The pids of a process group (a uWSGI master and its workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid:
                out.append(int(d.name))
    return out


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_no_secret_in_any_log_or_command_line(devcloud: str) -> None:
    s = Secrets.load()
    secrets = {"admin": s.admin, "db": s.db, "service": s.service, "user": s.user}
    assert _mode(logs()) == 0o700
    files = [f for f in logs().rglob("*") if f.is_file()]
    assert any(f.name == "setup-keystone.log" for f in files)
    for f in files:
        assert _mode(f) & 0o077 == 0, f"{f} is readable by others"
        text = f.read_bytes()
        leaked = [k for k, v in secrets.items() if v.encode() in text]
        assert not leaked, f"{f} holds the {', '.join(leaked)} password"
    for d in Path("/proc").iterdir():
        try:
            cmdline = (d / "cmdline").read_bytes() if d.name.isdigit() else b""
        except OSError:
            continue
        leaked = [k for k, v in secrets.items() if v.encode() in cmdline]
        assert not leaked, f"pid {d.name} has the {', '.join(leaked)} password in its argv"


def test_keystone_key_repositories_are_private_to_keystone(devcloud: str) -> None:
    uid = pwd.getpwnam("keystone").pw_uid
    for name in ("fernet-keys", "credential-keys"):
        repo = root() / "keystone" / name
        assert _mode(repo) == 0o700 and repo.stat().st_uid == uid, repo
        keys = list(repo.iterdir())
        assert keys, f"{repo} is empty"
        assert all(k.stat().st_uid == uid and _mode(k) & 0o077 == 0 for k in keys)
    assert "world readable" not in (logs() / "keystone.log").read_text()


@pytest.mark.parametrize("name", sorted(UWSGI_USERS))
def test_uwsgi_services_are_processes_of_their_own_user(devcloud: str, name: str) -> None:
    pid = processes.pid_of(name)
    assert pid is not None, f"{name} does not run"
    members = _group(pid)
    uid = pwd.getpwnam(UWSGI_USERS[name]).pw_uid
    workers = [p for p in members if p != pid]
    assert len(workers) >= processes.UWSGI_PROCESSES, f"{name}: workers {workers}"
    for p in members:
        st = _status(p)
        assert int(st["Uid"].split()[0]) == uid != 0, f"{name} pid {p} runs as {st['Uid']}"
    for p in workers:
        # A worker has its main thread only (uWSGI's threads mode deadlocks eventlet).
        assert len(os.listdir(f"/proc/{p}/task")) == 1, f"{name} worker {p} runs threads"
