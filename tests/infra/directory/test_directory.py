"""The directory (role directory, playbooks/users.yml) against the running lab.

LDAP is reached from the controller through a relay on webmail1 (services tier): the
connection comes from a real consumer's address, through the firewall, and the
certificate is checked against the municipal CA on the controller.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from municloud.core import paths
from municloud.deploy import ansible_run

from ..environment import ENV, Person
from ..relay import relay

ldap3 = pytest.importorskip("ldap3")
CONSUMER = "webmail1"  # services tier: a host that may reach the directory
MAX_FAILURE = 5  # directory_password_policy.max_failure (roles/directory/defaults)

pytestmark = pytest.mark.service("directory")


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def d(lab: dict[str, Any], people: list[Person]) -> dict[str, Any]:
    """Facts of the directory: base DN, host, secrets, CA, people as declared."""
    allv = lab["all"]["vars"]
    hosts = allv["municloud_service_hosts"]["directory"]
    secrets_dir = Path(allv["municloud_secrets_dir"])
    return {
        "base": allv["municloud_ldap_base_dn"],
        "host": hosts[0]["name"],
        "fqdn": hosts[0]["fqdn"],
        "address": hosts[0]["address"],
        "secrets": secrets_dir,
        "ca": str(secrets_dir / "pki" / "ca.crt"),
        "people": [p.declared for p in people],
    }


@pytest.fixture(scope="module")
def ldaps_port(d: dict[str, Any], ssh_config: str) -> Iterator[int]:
    with relay(ssh_config, CONSUMER, d["address"], 636) as port:
        yield port


@pytest.fixture(scope="module")
def ldap_port(d: dict[str, Any], ssh_config: str) -> Iterator[int]:
    with relay(ssh_config, CONSUMER, d["address"], 389) as port:
        yield port


def _server(d: dict[str, Any], port: int, *, use_ssl: bool = True) -> Any:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=d["ca"],
                    valid_names=[d["fqdn"]], version=ssl.PROTOCOL_TLS_CLIENT)
    return ldap3.Server("127.0.0.1", port=port, use_ssl=use_ssl, tls=tls,
                        connect_timeout=20, get_info=ldap3.NONE)


def _bind(d: dict[str, Any], port: int, dn: str, password: str) -> Any:
    conn = ldap3.Connection(_server(d, port), user=dn, password=password,
                            receive_timeout=20, raise_exceptions=False)
    conn.open()
    conn.bind()
    return conn


def _person_dn(d: dict[str, Any], uid: str) -> str:
    return f"uid={uid},ou=people,{d['base']}"


def _secret(d: dict[str, Any], rel: str) -> str:
    secrets_dir: Path = d["secrets"]
    return (secrets_dir / rel).read_text().strip()


def _present_person(d: dict[str, Any]) -> dict[str, Any]:
    people: list[dict[str, Any]] = d["people"]
    for p in people:
        if p.get("state", "present") == "present" and "password_hash" not in p:
            return p
    pytest.fail("the lab declares no present person with a generated password")


class Throwaway:
    """People created by a test over ldapi:/// on the directory host, removed afterwards
    (the declared people stay usable)."""

    def __init__(self, host: Any, d: dict[str, Any]) -> None:
        self.host, self.d = host, d
        self.made: list[str] = []

    def add(self, prefix: str) -> tuple[str, str]:
        uid = f"zz-{prefix}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        ldif = (f"dn: {_person_dn(self.d, uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                f"cn: Test {uid}\nsn: {uid}\nmail: {uid}@example.invalid\n"
                f"userPassword: {password}\n")
        res = self.host.run(f"ldapadd -Q -Y EXTERNAL -H ldapi:/// <<'EOF'\n{ldif}EOF")
        assert res.rc == 0, res.stderr
        self.made.append(uid)
        return _person_dn(self.d, uid), password

    def attrs(self, uid_dn: str, *attrs: str) -> str:
        res = self.host.run(f"ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b '{uid_dn}' "
                            f"-s base '(objectClass=*)' {' '.join(attrs)}")
        assert res.rc == 0, res.stderr
        return str(res.stdout)

    def cleanup(self) -> None:
        for uid in self.made:
            self.host.run(f"ldapdelete -Q -Y EXTERNAL -H ldapi:/// '{_person_dn(self.d, uid)}'")


@pytest.fixture
def throwaway(target: Any, d: dict[str, Any]) -> Iterator[Throwaway]:
    t = Throwaway(target(d["host"]), d)
    yield t
    t.cleanup()


# --- TLS ------------------------------------------------------------------------------


@pytest.mark.control("DIR-TLS-01")
def test_ldaps_presents_a_certificate_of_the_municipal_ca(d: dict[str, Any],
                                                           ldaps_port: int) -> None:
    ctx = ssl.create_default_context(cafile=d["ca"])  # only the municipal CA
    with socket.create_connection(("127.0.0.1", ldaps_port), timeout=20) as raw, \
            ctx.wrap_socket(raw, server_hostname=d["fqdn"]) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        cert = tls.getpeercert()
        assert cert is not None
        alt_names = cast(tuple[tuple[str, str], ...], cert.get("subjectAltName", ()))
        sans = [v for k, v in alt_names if k == "DNS"]
        assert d["fqdn"] in sans


@pytest.mark.control("DIR-TLS-01")
def test_ldaps_refuses_tls_1_0_and_1_1(d: dict[str, Any], ldaps_port: int) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let this client really offer the old versions
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused, \
            socket.create_connection(("127.0.0.1", ldaps_port), timeout=20) as raw, \
            ctx.wrap_socket(raw, server_hostname=d["fqdn"]):
        pass
    assert refused.value.reason != "NO_PROTOCOLS_AVAILABLE", "client cannot offer TLS 1.0/1.1"


@pytest.mark.control("DIR-TLS-01")
def test_starttls_works_and_clear_text_binds_are_refused(d: dict[str, Any],
                                                          ldap_port: int) -> None:
    person = _present_person(d)
    dn, password = _person_dn(d, person["uid"]), _secret(d, f"people/{person['uid']}.password")
    clear = ldap3.Connection(_server(d, ldap_port, use_ssl=False), user=dn, password=password,
                             raise_exceptions=False, receive_timeout=20)
    clear.open()
    assert not clear.bind()
    assert clear.result["description"] == "confidentialityRequired", clear.result
    clear.unbind()
    tls = ldap3.Connection(_server(d, ldap_port, use_ssl=False), user=dn, password=password,
                           raise_exceptions=False, receive_timeout=20)
    tls.open()
    assert tls.start_tls(), tls.result
    assert tls.bind(), tls.result
    tls.unbind()


# --- authentication -------------------------------------------------------------------


@pytest.mark.control("DIR-AUTH-01")
def test_declared_person_binds_with_the_generated_password(d: dict[str, Any],
                                                           ldaps_port: int) -> None:
    person = _present_person(d)
    conn = _bind(d, ldaps_port, _person_dn(d, person["uid"]),
                 _secret(d, f"people/{person['uid']}.password"))
    assert conn.bound, conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{_person_dn(d, person['uid'])}"
    assert conn.search(d["base"], f"(uid={person['uid']})", attributes=["mail", "memberOf"])
    entry = conn.entries[0]
    assert str(entry.mail) == person["mail"]
    groups = {str(g) for g in entry.memberOf}
    assert groups == {f"cn={g},ou=groups,{d['base']}" for g in person.get("groups", [])}
    conn.unbind()


@pytest.mark.control("DIR-AUTH-01")
def test_wrong_password_and_anonymous_reads_are_refused(d: dict[str, Any],
                                                        ldaps_port: int) -> None:
    person = _present_person(d)
    conn = _bind(d, ldaps_port, _person_dn(d, person["uid"]), "not-" + secrets.token_hex(8))
    assert not conn.bound
    assert conn.result["description"] == "invalidCredentials"
    # The right password still binds, clearing the failure count as a good login does.
    right = _secret(d, f"people/{person['uid']}.password")
    assert _bind(d, ldaps_port, _person_dn(d, person["uid"]), right).bound
    anon = ldap3.Connection(_server(d, ldaps_port), raise_exceptions=False, receive_timeout=20)
    anon.open()
    anon.search(d["base"], "(objectClass=*)", attributes=["uid", "mail"])
    assert anon.entries == [], "anonymous reads the directory"
    anon.unbind()


@pytest.mark.control("DIR-DISABLE-01")
def test_disabled_person_cannot_bind(d: dict[str, Any], ldaps_port: int,
                                     target: Any) -> None:
    disabled = [p for p in d["people"] if p.get("state") == "disabled"]
    if not disabled:
        pytest.skip("this environment declares no disabled person")
    for p in disabled:
        password = _secret(d, f"people/{p['uid']}.password")
        conn = _bind(d, ldaps_port, _person_dn(d, p["uid"]), password)
        assert not conn.bound, f"{p['uid']} is disabled but binds"
        out = target(d["host"]).run(
            f"ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b '{_person_dn(d, p['uid'])}' "
            "-s base '(objectClass=*)' pwdAccountLockedTime memberOf").stdout
        assert "pwdAccountLockedTime: 000001010000Z" in out
        assert "memberOf:" not in out, f"{p['uid']} is disabled but still in a group"


# --- password policy ------------------------------------------------------------------


@pytest.mark.control("DIR-PPOLICY-01")
def test_account_locks_after_repeated_wrong_passwords(d: dict[str, Any], ldaps_port: int,
                                                      throwaway: Throwaway) -> None:
    dn, password = throwaway.add("lock")
    conn = _bind(d, ldaps_port, dn, password)
    assert conn.bound, "the new person cannot bind at all"
    conn.unbind()
    conn = ldap3.Connection(_server(d, ldaps_port), raise_exceptions=False, receive_timeout=20)
    conn.open()
    for _ in range(MAX_FAILURE):
        assert not conn.rebind(user=dn, password="wrong-" + secrets.token_hex(6))
    assert "pwdAccountLockedTime:" in throwaway.attrs(dn, "pwdAccountLockedTime")
    assert not conn.rebind(user=dn, password=password), "right password accepted after lockout"
    conn.unbind()


@pytest.mark.control("DIR-PPOLICY-01", "DIR-ACL-01")
def test_people_change_only_their_own_password(d: dict[str, Any], ldaps_port: int,
                                               throwaway: Throwaway) -> None:
    a_dn, a_pw = throwaway.add("pwa")
    b_dn, b_pw = throwaway.add("pwb")
    conn = _bind(d, ldaps_port, a_dn, a_pw)
    assert conn.bound
    # Too short for the policy (minimum 12): refused.
    assert not conn.extend.standard.modify_password(a_dn, a_pw, "Sh0rt-pw")
    assert conn.result["description"] == "constraintViolation", conn.result
    # Their own: accepted, and the new password works.
    new_pw = secrets.token_urlsafe(18)
    assert conn.extend.standard.modify_password(a_dn, a_pw, new_pw), conn.result
    # Another person's: refused, and the other password still works.
    assert not conn.extend.standard.modify_password(b_dn, None, secrets.token_urlsafe(18))
    assert conn.result["description"] == "insufficientAccessRights", conn.result
    conn.unbind()
    assert _bind(d, ldaps_port, a_dn, new_pw).bound
    assert _bind(d, ldaps_port, b_dn, b_pw).bound


# --- service accounts -----------------------------------------------------------------


@pytest.mark.control("DIR-ACL-01")
def test_service_account_searches_but_cannot_write(d: dict[str, Any], ldaps_port: int,
                                                   lab: dict[str, Any]) -> None:
    services = [s for s in ("mail", "webmail", "identity")
                if s in lab["all"]["vars"]["municloud_service_hosts"]]
    assert services, "no directory consumer in this topology"
    person = _present_person(d)
    for svc in services:
        conn = _bind(d, ldaps_port, f"uid={svc},ou=services,{d['base']}",
                     _secret(d, f"directory/{svc}.password"))
        assert conn.bound, f"{svc}: {conn.result}"
        conn.search(f"ou=people,{d['base']}", f"(mail={person['mail']})",
                    attributes=["uid", "mail", "userPassword"])
        assert [str(e.uid) for e in conn.entries] == [person["uid"]], svc
        assert not conn.response[0]["raw_attributes"].get("userPassword"), f"{svc} reads hashes"
        conn.search(f"ou=groups,{d['base']}", "(objectClass=groupOfNames)", attributes=["cn"])
        assert conn.entries, f"{svc} cannot see the groups"
        assert not conn.modify(_person_dn(d, person["uid"]),
                               {"mail": [(ldap3.MODIFY_REPLACE, ["x@heraklion.gr"])]})
        assert conn.result["description"] == "insufficientAccessRights", conn.result
        assert not conn.add(f"uid=zz-{svc},ou=people,{d['base']}", "inetOrgPerson",
                            {"sn": "x", "cn": "x"})
        assert conn.result["description"] == "insufficientAccessRights", conn.result
        conn.unbind()


# --- users.yml ------------------------------------------------------------------------


def _users_playbook(extra_vars: dict[str, Any] | None = None) -> tuple[int, str, dict[str, Any]]:
    """Run playbooks/users.yml; return (rc, output, stats per host)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
               str(ansible_run.inventory_source(ENV)), str(paths.PLAYBOOKS / "users.yml")]
        if extra_vars is not None:
            vars_file = Path(tmp) / "vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            cmd += ["-e", f"@{vars_file}"]
        changes = Path(tmp) / "changes.json"
        env = ansible_run.ansible_env({"MUNICLOUD_CHANGES_FILE": str(changes)})
        proc = subprocess.run(cmd, cwd=paths.REPO, env=env, capture_output=True, text=True,
                              check=False, timeout=900)
        stats = json.loads(changes.read_text()).get("stats", {}) if changes.exists() and \
            changes.read_text().strip() else {}
    return proc.returncode, proc.stdout + proc.stderr, stats


GOOD = {"uid": "zz-valid", "given_name": "A", "surname": "B", "mail": "zz-valid@heraklion.gr"}


@pytest.mark.exercise
@pytest.mark.control("DIR-PEOPLE-01")
@pytest.mark.parametrize(("people", "generate", "expected"), [
    pytest.param([{k: v for k, v in GOOD.items() if k != "mail"}], True,
                 "directory_people[0] (uid=zz-valid) field mail: missing", id="no-mail"),
    pytest.param([GOOD, dict(GOOD, mail="other@heraklion.gr")], True,
                 "directory_people[1] (uid=zz-valid) field uid: duplicate uid", id="duplicate-uid"),
    pytest.param([dict(GOOD, mail="zz-valid@example.com")], True,
                 "directory_people[0] (uid=zz-valid) field mail: domain of zz-valid@example.com",
                 id="foreign-domain"),
    pytest.param([dict(GOOD, uid="zz-nosecret", mail="zz-nosecret@heraklion.gr")], False,
                 "directory_people[0] (uid=zz-nosecret) field password_hash: missing, and no",
                 id="missing-secret"),
])
def test_bad_people_stop_before_any_change(lab: dict[str, Any], people: list[dict[str, Any]],
                                           generate: bool, expected: str) -> None:
    rc, out, stats = _users_playbook({"directory_people": people,
                                      "directory_groups": [{"name": "staff"}],
                                      "directory_people_generate_passwords": generate})
    assert rc != 0, out
    assert expected in out, out[-3000:]
    touched = {h for h in stats if h != "localhost"}
    assert not touched, f"the play reached {touched} despite invalid input"


@pytest.mark.exercise
@pytest.mark.control("DIR-PEOPLE-02")
def test_users_playbook_is_idempotent_and_reports_undeclared_people(
        throwaway: Throwaway, d: dict[str, Any]) -> None:
    dn, _ = throwaway.add("stray")
    uid = dn.split(",")[0].removeprefix("uid=")
    rc, out, stats = _users_playbook()
    assert rc == 0, out[-3000:]
    assert stats[d["host"]]["changed"] == 0, f"users.yml changed something:\n{out[-3000:]}"
    report = [line for line in out.splitlines() if "Not in directory_people" in line]
    assert report and uid in report[0], out[-3000:]
    assert f"dn: {dn}" in throwaway.attrs(dn, "uid"), "an undeclared person was deleted"

