"""devcloud without root or packages: secrets stay out of argv and logs, logs are private,
the uWSGI services run as worker processes under their own user, and every wait is
bounded and names what did not come up (issue 17, items 3 and 8)."""

from __future__ import annotations

import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from municloud.core.errors import UserError
from municloud.devcloud import Secrets, bootstrap, control, logs, processes

SECRET = "s3cr3t-admin-password"


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path))
    (tmp_path / "devcloud").mkdir()
    return tmp_path / "devcloud"


def _secrets() -> Secrets:
    return Secrets(db="db-pw", admin=SECRET, service="svc-pw", user="user-pw")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_setup_log_is_private_and_holds_no_secret_passed_in_env() -> None:
    bootstrap.run(["sh", "-c", 'test -n "$PW" && echo ran'], "setup-x", env={"PW": SECRET})
    log = logs() / "setup-x.log"
    assert _mode(logs()) == 0o700
    assert _mode(log) == 0o600
    text = log.read_text()
    assert "ran" in text and SECRET not in text


def test_an_old_world_readable_log_is_tightened() -> None:
    logs().mkdir(mode=0o755)
    old = logs() / "setup-keystone.log"
    old.write_text("from an older devcloud\n")
    old.chmod(0o644)
    control.tighten_logs()
    assert _mode(logs()) == 0o700 and _mode(old) == 0o600
    processes.open_log("keystone").close()
    assert _mode(logs() / "keystone.log") == 0o600


def test_a_service_writing_its_own_logs_keeps_them_private() -> None:
    """RabbitMQ writes its own log directory and files under the logs (seen 0755/0644 on a
    fresh machine): a Proc with a umask gets them 0700/0600, and an earlier run's are
    tightened."""
    own = logs() / "writer"
    own.mkdir(parents=True)
    (own / "old.log").write_text("old\n")
    (own / "old.log").chmod(0o644)
    own.chmod(0o755)
    script = f'mkdir -p "{own}/sub" && echo new > "{own}/sub/new.log"'
    p = processes.Proc("writer", ("sh", "-c", script), umask=0o077)
    assert processes.start(p)
    for _ in range(200):
        if (own / "sub" / "new.log").exists():
            break
        time.sleep(0.01)
    assert _mode(own) == 0o700 and _mode(own / "old.log") == 0o600
    assert _mode(own / "sub") == 0o700 and _mode(own / "sub" / "new.log") == 0o600
    assert next(q for q in processes.infrastructure() if q.name == "rabbitmq").umask == 0o077


def test_keystone_bootstrap_password_only_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(bootstrap, "run", lambda argv, log, env=None, **kw: calls.append(
        (list(argv), dict(env or {}))))
    bootstrap.keystone_setup(_secrets())
    assert calls, "keystone-manage was not run"
    for argv, _ in calls:
        assert not any(SECRET in a for a in argv), f"password on the command line: {argv}"
        assert "root" not in argv, f"keystone's keys owned by root: {argv}"
    boot = [env for argv, env in calls if "bootstrap" in argv]
    assert boot == [{"OS_BOOTSTRAP_PASSWORD": SECRET}]


def test_migrations_put_no_database_password_on_the_command_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    argvs: list[list[str]] = []
    monkeypatch.setattr(bootstrap, "run", lambda argv, log, **kw: argvs.append(list(argv)))
    bootstrap.migrate(_secrets())
    assert any("map_cell0" in a for a in argvs)
    assert not [a for a in argvs if any("db-pw" in x for x in a)]


@pytest.mark.parametrize("proc", ["keystone", "placement"])
def test_uwsgi_services_run_processes_not_threads_and_not_as_root(proc: str) -> None:
    p = {q.name: q for q in processes.all_procs()}[proc]
    argv = list(p.argv)
    assert argv[0] == "uwsgi"
    assert "--threads" not in argv and "--enable-threads" not in argv
    assert int(argv[argv.index("--processes") + 1]) >= 2
    assert argv[argv.index("--uid") + 1] == proc != "root"
    assert argv[argv.index("--gid") + 1] == proc
    assert p.http, f"{proc} is an API: it must be ready only once it answers HTTP"


def test_setup_step_that_hangs_fails_naming_its_log() -> None:
    with pytest.raises(UserError, match=r"did not finish within 1s \(log: .*setup-hang\.log"):
        bootstrap.run(["sleep", "30"], "setup-hang", timeout=1)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a hung worker."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_a_service_that_accepts_but_never_answers_is_not_ready(
        silent_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "HTTP_PROBE_TIMEOUT", 0.3)
    assert processes.port_open(silent_server)  # a bare port check would say "up"
    assert not processes.answers_http(silent_server)
    hung = processes.Proc("keystone", ("uwsgi",), silent_server, http=True)
    monkeypatch.setattr(processes, "pid_of", lambda name: 4242)  # alive, just not answering
    with pytest.raises(UserError, match=r"keystone on 127\.0\.0\.1:\d+ not ready after 1s "
                                        r"\(logs: .*keystone\.log\)"):
        processes.wait_port(hung, timeout=1)


@pytest.mark.parametrize(("conductor", "pools", "missing"), [
    ("down", [object()], "nova-conductor"),
    # cinder-volume "up" but not yet reported to the scheduler: volumes would find no backend
    ("up", [], "cinder-volume"),
])
def test_wait_names_the_services_that_did_not_come_up(
        monkeypatch: pytest.MonkeyPatch, conductor: str, pools: list[object],
        missing: str) -> None:
    class Svc:
        def __init__(self, binary: str, state: str) -> None:
            self.binary, self.state = binary, state

    class Compute:
        def hypervisors(self) -> list[object]:
            return [object()]

        def services(self) -> list[Svc]:
            return [Svc("nova-scheduler", "up"), Svc("nova-conductor", conductor),
                    Svc("nova-compute", "up")]

    class Block:
        def services(self) -> list[Svc]:
            return [Svc("cinder-volume", "up")]

        def backend_pools(self) -> list[object]:
            return pools

    class Conn:
        compute = Compute()
        block_storage = Block()

    monkeypatch.setattr(processes, "pid_of", lambda name: 4242)
    with pytest.raises(UserError, match=rf"not up: {missing} \(logs: .*{missing}\.log"):
        control.wait_compute(Conn(), timeout=1)
