"""Fixtures shared by the testinfra tests of every service (`tests/infra/<service>/`),
against a converged environment (the lab by default).

- `MUNICLOUD_ENV` picks the environment (default `lab`; tests/infra/environment.py).
- Without a reachable environment the tests skip with the reason, except when
  `MUNICLOUD_REQUIRE_LAB=1` (CI), where they fail.
- `env_host` (the name of a host of the environment under test, whichever it is)
  parametrizes a test over every host; `@pytest.mark.service("mail")` narrows it to the
  hosts running a service. `target(name)` gives a testinfra host over the generated SSH
  config (ControlMaster: one connection per host for the whole run).
- `people`: the environment's people (people.yml, one loader: environment.people).
- `probe_mail(uid, token)` records a probe message a test delivers; it is expunged from
  that INBOX when the test module is done, so repeated runs leave people's mailboxes as
  they were.
"""

from __future__ import annotations

import fcntl
import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra

from municloud.core import inventory, paths

from .environment import ENV, REQUIRE, Person, unavailable
from .environment import inventory as _inventory
from .environment import people as people_of


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "service(name): run only on hosts running this service")
    config.addinivalue_line(
        "markers", "host_lock(name): tests holding this lock on the same host never overlap "
                   "when `municloud verify` spreads the tests over worker processes")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "env_host" not in metafunc.fixturenames:
        return
    inv = _inventory()
    if inv is None:
        metafunc.parametrize("env_host", [pytest.param(None, id="no-lab")])
        return
    marker = metafunc.definition.get_closest_marker("service")
    hosts = inv["all"]["hosts"]
    names = [h for h, v in hosts.items()
             if marker is None or marker.args[0] in v["municloud_services"]]
    metafunc.parametrize("env_host", names or [pytest.param(None, id="no-host")])


# The parameters that name the host a test runs on.
HOST_PARAMS = ("env_host", "client")


@pytest.fixture(autouse=True)
def _host_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """`@pytest.mark.host_lock(name)`: tests holding the same lock on the same host never
    overlap, whatever process runs them (`municloud verify` spreads the tests over
    pytest-xdist workers): an flock on the controller for the test's duration. E.g. a
    probe listener and the scan of listening ports; two runs of the backup tool, which
    refuses a second run."""
    lock = request.node.get_closest_marker("host_lock")
    if lock is None:
        yield
        return
    params = getattr(request.node, "callspec", None)
    where = next((str(params.params[p]) for p in HOST_PARAMS
                  if params and p in params.params), "any")
    locks = paths.env_state(ENV) / "test-locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{lock.args[0]}-{where}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def lab() -> dict[str, Any]:
    inv = _inventory()
    if inv is None:
        if REQUIRE:
            pytest.fail(unavailable())
        pytest.skip(unavailable())
    return inv


@pytest.fixture(scope="session")
def ssh_config() -> str:
    return str(inventory.ssh_config_file(ENV))


@pytest.fixture(scope="session")
def target(lab: dict[str, Any], ssh_config: str) -> Any:
    made: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in made:
            made[name] = testinfra.get_host(f"ssh://{name}", ssh_config=ssh_config)
        return made[name]

    return get


@pytest.fixture
def host(lab: dict[str, Any], target: Any, env_host: str | None) -> Any:
    if env_host is None:
        pytest.skip("no host in this environment runs the service")
    return target(env_host)


@pytest.fixture
def hostvars(lab: dict[str, Any], env_host: str | None) -> dict[str, Any]:
    if env_host is None:
        pytest.skip("no host in this environment runs the service")
    merged = dict(lab["all"]["vars"])
    merged.update(lab["all"]["hosts"][env_host])
    merged["inventory_hostname"] = env_host
    return merged


@pytest.fixture(scope="session")
def people(lab: dict[str, Any]) -> list[Person]:
    """The people of the environment (people.yml) with their generated passwords."""
    return people_of(lab)


@pytest.fixture(scope="session")
def state_dir() -> str:
    return str(paths.env_state(ENV))


@pytest.fixture(scope="module")
def probe_mail(lab: dict[str, Any], target: Any) -> Iterator[Callable[[str, str], None]]:
    """`probe_mail(uid, token)`: the message whose Subject carries `token` was delivered to
    uid's INBOX by a test. When the test module is done (in this process: the whole suite
    may take the lab down later) each is expunged on the mail host with doveadm: a verify
    run is also a visit to real mailboxes, and a growing INBOX pushes the next probe off
    the first page a webmail test reads. Only the tokens recorded here are removed, so a
    parallel worker's probes stay until it is done with them."""
    sent: list[tuple[str, str]] = []
    yield lambda uid, token: sent.append((uid, token))
    mail_hosts = lab["all"]["vars"]["municloud_service_hosts"].get("mail", [])
    if not sent or not mail_hosts:
        return
    host = target(mail_hosts[0]["name"])
    for uid, token in sent:
        host.run(f"doveadm expunge -u {shlex.quote(uid)} mailbox INBOX "
                 f"header Subject {shlex.quote(token)}")
