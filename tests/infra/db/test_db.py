"""MariaDB (role db) against the running lab.

Connections come from the controller through a relay on the webmail host (services
tier): the server sees the webmail host's address, as Horde's connections do. The
certificate is checked against the municipal CA on the controller.
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .. import playbook
from ..relay import relay

pymysql = pytest.importorskip("pymysql")

pytestmark = pytest.mark.service("db")

# The consumer whose account the tests exercise: the webmail (Horde) and its host.
SERVICE = "webmail"


@pytest.fixture(scope="module")
def db(lab: dict[str, Any]) -> dict[str, Any]:
    allv = lab["all"]["vars"]
    hosts = allv["municloud_service_hosts"]
    if SERVICE not in hosts:
        pytest.skip(f"no {SERVICE} host in this topology")
    secrets_dir = Path(allv["municloud_secrets_dir"])
    return {
        "host": hosts["db"][0]["name"],
        "fqdn": hosts["db"][0]["fqdn"],
        "address": hosts["db"][0]["address"],
        "client": hosts[SERVICE][0]["name"],
        "client_address": hosts[SERVICE][0]["address"],
        "ca": str(secrets_dir / "pki" / "ca.crt"),
        "password": (secrets_dir / "db" / f"{SERVICE}.password").read_text().strip(),
        "user": "horde",
    }


@pytest.fixture(scope="module")
def port(db: dict[str, Any], ssh_config: str) -> Iterator[int]:
    with relay(ssh_config, db["client"], db["address"], 3306) as p:
        yield p


def _connect(db: dict[str, Any], port: int, *, user: str, password: str,
             tls: bool = True, database: str | None = None) -> Any:
    """Connect through the relay; TLS verifies the chain and the name db1's FQDN."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    kwargs: dict[str, Any] = {"ssl_disabled": True}  # PyMySQL would otherwise try TLS
    if tls:
        kwargs = {"ssl_ca": db["ca"], "ssl_verify_cert": True, "ssl_verify_identity": True}
    conn = pymysql.connections.Connection(host=db["fqdn"], user=user, password=password,
                                          database=database, defer_connect=True,
                                          connect_timeout=20, **kwargs)
    conn.connect(sock)
    return conn


def _sql(host: Any, query: str) -> str:
    res = host.run(f"mariadb --batch --skip-column-names -e {shlex.quote(query)}")
    assert res.rc == 0, res.stderr
    return str(res.stdout).strip()


@pytest.mark.control("DB-TLS-01", "DB-ISOLATION-01")
def test_service_user_connects_over_tls_from_its_host(db: dict[str, Any], port: int) -> None:
    conn = _connect(db, port, user=db["user"], password=db["password"], database="horde")
    with conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_version'")
        version = cur.fetchone()[1]
        cur.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
        seen_from = cur.fetchone()[0]
        cur.execute("SHOW DATABASES")
        dbs = {r[0] for r in cur.fetchall()}
    conn.close()
    assert version in ("TLSv1.2", "TLSv1.3")
    assert seen_from == db["client_address"]
    assert dbs == {"horde", "information_schema"}, f"horde sees other databases: {dbs}"


@pytest.mark.control("DB-TLS-01")
def test_unencrypted_connection_is_refused(db: dict[str, Any], port: int) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        _connect(db, port, user=db["user"], password=db["password"], tls=False)
    assert refused.value.args[0] in (1045, 3159), refused.value


@pytest.mark.control("DB-TLS-01")
def test_server_config_binds_the_host_address_and_requires_tls(target: Any,
                                                               db: dict[str, Any]) -> None:
    host = target(db["host"])
    assert _sql(host, "SELECT @@bind_address, @@require_secure_transport, @@have_ssl") == \
        f"{db['address']}\t1\tYES"
    listening = host.socket.get_listening_sockets()
    assert f"tcp://{db['address']}:3306" in listening
    assert not any(s.endswith(":3306") and db["address"] not in s for s in listening), listening
    grants = _sql(host, "SELECT CONCAT(user, '@', host, ':', ssl_type) FROM mysql.user "
                        "WHERE user NOT IN ('root', 'mysql', 'mariadb.sys')")
    assert grants, "no service account at all"
    for line in grants.splitlines():
        assert line.endswith(":ANY"), f"service account without REQUIRE SSL: {line}"


@pytest.mark.control("DB-ACCOUNTS-01")
def test_no_anonymous_user_and_no_network_root(target: Any, db: dict[str, Any]) -> None:
    host = target(db["host"])
    assert _sql(host, "SELECT COUNT(*) FROM mysql.user WHERE user = ''") == "0"
    root_hosts = _sql(host, "SELECT GROUP_CONCAT(host) FROM mysql.user WHERE user = 'root'")
    assert root_hosts == "localhost"
    assert "unix_socket" in _sql(host, "SHOW CREATE USER root@localhost")
    assert _sql(host, "SELECT COUNT(*) FROM information_schema.schemata "
                      "WHERE schema_name = 'test'") == "0"


@pytest.mark.control("DB-ACCOUNTS-01")
@pytest.mark.parametrize("user", ["root", ""])
def test_root_and_anonymous_cannot_log_in_over_tcp(db: dict[str, Any], port: int,
                                                   user: str) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        _connect(db, port, user=user, password="")
    assert refused.value.args[0] == 1045, refused.value


@pytest.mark.control("DB-ISOLATION-01")
def test_service_credentials_are_refused_from_another_address(target: Any,
                                                              db: dict[str, Any]) -> None:
    """The same user and password, from the database host's own address: refused."""
    host = target(db["host"])
    script = ("import os, pymysql\n"
              "try:\n"
              f"    pymysql.connect(host={db['address']!r}, user={db['user']!r},\n"
              "                    password=os.environ['PW'],\n"
              "                    ssl={'ca': '/etc/ssl/municloud/ca.crt'})\n"
              "    print('CONNECTED')\n"
              "except pymysql.err.OperationalError as e:\n"
              "    print('REFUSED', e.args[0])\n")
    res = host.run(f"PW={shlex.quote(db['password'])} python3 -c {shlex.quote(script)}")
    # 1130: host not allowed to connect; 1045: access denied.
    assert res.stdout.strip() in ("REFUSED 1130", "REFUSED 1045"), res.stdout + res.stderr


@pytest.mark.exercise
@pytest.mark.control("DB-INPUT-01")
@pytest.mark.parametrize(("entries", "expected"), [
    pytest.param([{"user": "x", "from_service": "webmail"}],
                 "db_databases[0] (?) field name: missing", id="no-name"),
    pytest.param([{"name": "horde", "user": "horde", "from_service": "webmail"},
                  {"name": "horde", "user": "h2", "from_service": "webmail"}],
                 "db_databases[1] (horde) field name: duplicate database horde", id="duplicate"),
    pytest.param([{"name": "crm", "user": "crm", "from_service": "nosuchservice"}],
                 "db_databases[0] (crm) field from_service: nosuchservice is not a service",
                 id="unknown-service"),
])
def test_bad_db_databases_stop_before_any_change(db: dict[str, Any], entries: list[Any],
                                                 expected: str) -> None:
    code, out, stats = playbook.run("db.yml", None, {"db_databases": entries})
    assert code != 0, out[-3000:]
    assert expected in out, out[-3000:]
    assert all(s.get("changed", 0) == 0 for s in stats.values()), stats
