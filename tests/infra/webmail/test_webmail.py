"""Webmail (Horde) through the edge: a directory user logs in and sees the inbox.

The journey needs the roles of other areas: directory (people, passwords), mail (IMAPS,
submission) and db (Horde's database). While one of them is not deployed, the journey
tests skip naming it (or fail when MUNICLOUD_REQUIRE_LAB=1).
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from ..environment import Person
from ..environment import missing as _missing
from ..webclient import EdgeSession, access_logs, ca_file, pinned
from .horde_words import Words, web_language


def _status(target: Any, host: str, service: str) -> str:
    f = target(host).file(f"/etc/municloud/services/{service}.json")
    if not f.exists:
        return "absent"
    return str(json.loads(f.content_string).get("status", "unknown"))


def _require_roles(lab: dict[str, Any], target: Any, *services: str) -> None:
    where = lab["all"]["vars"]["municloud_service_hosts"]
    for svc in services:
        host = where[svc][0]["name"]
        state = _status(target, host, svc)
        if state != "deployed":
            _missing(f"role {svc} is not deployed on {host} "
                     f"(/etc/municloud/services/{svc}.json: {state}): run playbooks/{svc}.yml")


@pytest.fixture
def login_stack(lab: dict[str, Any], target: Any) -> None:
    """A webmail login needs the directory, the database, mail and webmail deployed."""
    _require_roles(lab, target, "directory", "db", "mail", "webmail")


def _person(people: list[Person], state: str, nth: int = 0) -> tuple[str, str, str]:
    """The nth person in that state. Wrong-password tests use the third present person,
    the "bystander" of tests/infra/mail/test_mail.py, so that the people whose mail is read
    never collect failed logins (the directory locks an account after 5)."""
    found = [p for p in people if p.state == state]
    if not found:
        _missing(f"no person with state {state} in the lab's directory_people")
    p = found[min(nth, len(found) - 1)]
    if p.password is None:
        _missing(f"no password for {p.uid} in <secrets>/people/ (role directory)")
    return p.uid, p.password, p.declared.get("mail", "")


def _edge(lab: dict[str, Any]) -> tuple[str, str]:
    first = next(iter(lab["all"]["children"]["edge"]["hosts"]))
    return first, lab["all"]["hosts"][first]["municloud_address"]


def _words(lab: dict[str, Any], target: Any) -> Words:
    """Horde's words in the language the webmail opens in (the topology's web_locale)."""
    host = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"]
    return Words(target(host), web_language(lab))


def _webmail_name(lab: dict[str, Any]) -> str:
    return str(lab["all"]["vars"]["municloud_public_names"]["webmail"])


def _session(lab: dict[str, Any]) -> EdgeSession:
    _, address = _edge(lab)
    names = [s["name"] for s in lab["all"]["vars"]["municloud_published_sites"]]
    return EdgeSession(address, names, ca_file(lab["all"]["vars"]["municloud_secrets_dir"]))


def login(lab: dict[str, Any], uid: str, password: str) -> tuple[EdgeSession, Any]:
    """Log in through the edge as a browser would; returns the session and the last page."""
    s = _session(lab)
    base = f"https://{_webmail_name(lab)}"
    page = s.get(f"{base}/horde/login.php", timeout=60)
    assert page.status_code == 200, f"login page: {page.status_code} {page.text[:300]}"
    form: dict[str, str] = dict(re.findall(
        r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    form.update({"horde_user": uid, "horde_pass": password, "login_post": "1",
                 "horde_select_view": "basic"})
    r = s.post(f"{base}/horde/login.php", data=form, timeout=120)
    return s, r


def _login_person(lab: dict[str, Any], people: list[Person], state: str, nth: int = 0,
                  wrong: bool = False) -> tuple[str, str, EdgeSession, Any]:
    """Log the nth person in that state in (with a wrong password if asked):
    their uid, their password, the session and the last response."""
    uid, password, _ = _person(people, state, nth)
    s, r = login(lab, uid, f"wrong-{password}" if wrong else password)
    return uid, password, s, r


def inbox(lab: dict[str, Any], s: EdgeSession) -> Any:
    base = f"https://{_webmail_name(lab)}"
    return s.get(f"{base}/horde/imp/basic.php?page=mailbox&mailbox=SU5CT1g", timeout=60)


def _logged_in(r: Any) -> bool:
    """Horde answers a failed login with its login form again."""
    return "login.php" not in r.url and 'name="horde_user"' not in r.text


def _send_probe(lab: dict[str, Any], uid: str, password: str, mail: str,
                probe_mail: Callable[[str, str], None]) -> str:
    """A message from the person to themselves through submission; its subject (removed
    from the INBOX when the module is done, tests/infra/conftest.py)."""
    subject = f"municloud webmail probe {secrets.token_hex(6)}"
    probe_mail(uid, subject)
    mail_host = lab["all"]["vars"]["municloud_service_hosts"]["mail"][0]
    ctx = ssl.create_default_context(cafile=str(ca_file(
        lab["all"]["vars"]["municloud_secrets_dir"])))
    msg = EmailMessage()
    msg["From"] = mail
    msg["To"] = mail
    msg["Subject"] = subject
    msg.set_content("Delivered through submission by tests/infra/webmail/test_webmail.py.")
    # No retry: refused token logins of the SSO tests from this address no longer delay
    # this login into Postfix's 454 (roles/mail README "Single sign-on", SSO-MAIL-05).
    with pinned({mail_host["fqdn"]: mail_host["address"]}), \
            smtplib.SMTP(mail_host["fqdn"], 587, timeout=30) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(uid, password)
        smtp.send_message(msg)
    return subject


@pytest.mark.control("WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_a_directory_user_reaches_the_inbox_with_a_fresh_message(
        lab: dict[str, Any], target: Any, probe_mail: Callable[[str, str], None],
        people: list[Person]) -> None:
    uid, password, mail = _person(people, "present")
    subject = _send_probe(lab, uid, password, mail, probe_mail)
    s, r = login(lab, uid, password)
    assert r.status_code == 200 and _logged_in(r), f"login failed: {r.url} {r.text[:300]}"
    deadline = time.monotonic() + 30
    while True:
        page = inbox(lab, s)
        if subject in page.text or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert page.status_code == 200, page.text[:300]
    assert subject in page.text, f"the inbox of {uid} does not list {subject!r}"


@pytest.mark.host_lock("mistyped-password")  # with the bystander's in test_mail.py
@pytest.mark.control("WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_a_wrong_password_does_not_get_in(
        lab: dict[str, Any], people: list[Person]) -> None:
    uid, password, s, r = _login_person(lab, people, "present", nth=2, wrong=True)
    assert not _logged_in(r), f"{uid} got in with a wrong password: {r.url}"
    page = inbox(lab, s)
    assert "horde_user" in page.text or "login.php" in page.url, f"inbox reachable: {page.url}"
    _, r = login(lab, uid, password)  # the right one still works (and clears the count)
    assert _logged_in(r), f"{uid} cannot log in after a mistyped password: {r.url}"


@pytest.mark.control("WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_a_disabled_user_cannot_log_in(
        lab: dict[str, Any], people: list[Person]) -> None:
    uid, _, _, r = _login_person(lab, people, "disabled")
    assert not _logged_in(r), f"disabled user {uid} got in: {r.url}"


@pytest.mark.control("WEB-LOG-01", "WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_the_login_password_is_in_no_access_log(
        lab: dict[str, Any], target: Any,
        people: list[Person]) -> None:
    # A real person's real login: the password that must never reach a log is one that
    # Horde accepted (a failed login would also take Dovecot's deliberate delay).
    _, password, _, r = _login_person(lab, people, "present")
    assert _logged_in(r), f"login failed: {r.url}"
    edge, _ = _edge(lab)
    webmail = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"]
    for host in (edge, webmail):
        logs = access_logs(target(host), "login.php")
        assert "login.php" in logs, f"{host}: the login was not logged at all"
        assert password not in logs, f"{host}: the password reached a log"


@pytest.mark.control("WEB-MAIL-02")
def test_php_is_hardened(lab: dict[str, Any], target: Any) -> None:
    _require_roles(lab, target, "webmail")
    webmail = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"]
    h = target(webmail)
    info = h.check_output("php-fpm8.2 -i")
    settings = dict(re.findall(r"^(\S+) => (.*?) => ", info, re.M))
    assert settings["expose_php"] == "Off"
    assert settings["display_errors"] == "Off"
    disabled = set(settings["disable_functions"].split(","))
    assert {"exec", "shell_exec", "system", "passthru", "proc_open", "popen"} <= disabled
    pool = h.file("/etc/php/8.2/fpm/pool.d/horde.conf").content_string
    for line in ("session.cookie_secure] = 1", "session.cookie_httponly] = 1",
                 "session.cookie_samesite] = ", "display_errors] = off"):
        assert line in pool, line
    for app in ("horde", "imp"):
        conf = h.file(f"/etc/horde/{app}/conf.php")
        assert conf.user == "root" and conf.group == "www-data" and conf.mode == 0o640, app
    assert h.file("/etc/horde/imp/backends.local.php").mode == 0o640


@pytest.mark.control("WEB-MAIL-02")
def test_session_cookie_is_secure_httponly_samesite(lab: dict[str, Any], target: Any) -> None:
    _require_roles(lab, target, "webmail")
    s = _session(lab)
    r = s.get(f"https://{_webmail_name(lab)}/horde/login.php", timeout=60)
    cookies = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("Horde=")] \
        or [c for h in r.history for c in h.raw.headers.getlist("Set-Cookie")
            if c.startswith("Horde=")]
    assert cookies, f"no Horde session cookie set: {r.headers}"
    for c in cookies:
        low = c.lower()
        assert "; secure" in low and "; httponly" in low and "samesite=" in low, c
    assert "X-Powered-By" not in r.headers


@pytest.mark.control("WEB-MAIL-02")
def test_only_the_edge_tier_reaches_the_webmail_host(lab: dict[str, Any], target: Any) -> None:
    _require_roles(lab, target, "webmail")
    wm = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]
    edge, _ = _edge(lab)
    probe = ("import ssl, socket; "
             "c = ssl.create_default_context(cafile='/etc/nginx/municloud/ca.crt'); "
             f"s = c.wrap_socket(socket.create_connection(('{wm['address']}', 443), 10), "
             f"server_hostname='{wm['fqdn']}'); "
             f"s.sendall(b'GET /horde/login.php HTTP/1.0\\r\\nHost: {wm['fqdn']}\\r\\n\\r\\n'); "
             "print(s.recv(64).decode().split()[1])")
    out = target(edge).run(f'python3 -c "{probe}"')
    assert out.rc == 0 and out.stdout.strip() == "200", f"from {edge}: {out.stdout} {out.stderr}"
    # From the management network (this controller) the port is closed by nftables.
    with pytest.raises(OSError), socket.create_connection((wm["address"], 443), timeout=5):
        pass


@pytest.mark.control("WEB-MAIL-03")
def test_tls_to_mail_and_database_and_generated_secrets(
        lab: dict[str, Any], target: Any) -> None:
    _require_roles(lab, target, "webmail")
    v = lab["all"]["vars"]
    h = target(v["municloud_service_hosts"]["webmail"][0]["name"])
    conf = h.check_output("cat /etc/horde/horde/conf.php")
    # mysqli (Horde's PDO adapter has no TLS), TLS settings as the array it reads.
    assert "$conf['sql']['phptype'] = 'mysqli';" in conf
    assert "$conf['sql']['ssl'] = array('ca' => '/etc/horde/municloud-ca.crt');" in conf
    key = Path(v["municloud_secrets_dir"], "webmail", "secret_key").read_text().split()[0]
    assert f"$conf['secret_key'] = '{key}';" in conf, "the secret key is not the generated one"
    backends = h.check_output("cat /etc/horde/imp/backends.local.php")
    assert "'port' => 993" in backends and "'secure' => 'ssl'" in backends
    assert "'port' => 587" in backends and "'secure' => 'tls'" in backends
    assert "'verify_peer' => true" in backends
    assert "'cafile' => '/etc/horde/municloud-ca.crt'" in h.check_output(
        "grep -F \"'context' =>\" /usr/share/horde/imp/lib/Imap.php")
    if _status(target, v["municloud_service_hosts"]["db"][0]["name"], "db") == "deployed":
        # The database certificate is checked: with another CA the connection is refused.
        probe = ("mysqli_report(MYSQLI_REPORT_OFF); include '/etc/horde/horde/conf.php'; "
                 "$s = $conf['sql']; foreach ($argv as $i => $ca) { if (!$i) continue; "
                 "$m = mysqli_init(); $m->ssl_set(null, null, $ca, null, null); "
                 "echo @$m->real_connect($s['hostspec'], $s['username'], $s['password'], "
                 "$s['database'], $s['port'], null, MYSQLI_CLIENT_SSL) ? 'ok ' : 'refused '; }")
        r = h.check_output(f"php -r {shlex.quote(probe)} -- /etc/horde/municloud-ca.crt "
                           "/etc/ssl/certs/ISRG_Root_X1.pem")
        assert r.split() == ["ok", "refused"], r
    if _status(target, v["municloud_service_hosts"]["mail"][0]["name"], "mail") == "deployed":
        mail = v["municloud_service_hosts"]["mail"][0]["fqdn"]
        for port, extra in ((993, ""), (587, "-starttls smtp")):
            r = h.run(f"openssl s_client -connect {mail}:{port} -servername {mail} {extra} "
                      f"-CAfile /etc/horde/municloud-ca.crt -verify_return_error </dev/null")
            assert r.rc == 0 and "Verify return code: 0 (ok)" in r.stdout, f"{port}: {r.stderr}"


@pytest.mark.control("WEB-MAIL-01")
def test_horde_admins_are_the_directory_group(
        lab: dict[str, Any], target: Any,
        people: list[Person]) -> None:
    _require_roles(lab, target, "directory", "webmail")
    wanted = sorted(p.uid for p in people if "horde-admins" in p.groups
                    and p.state == "present")
    h = target(lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"])
    line = h.check_output("grep -F \"\\$conf['auth']['admins']\" /etc/horde/horde/conf.php")
    admins = sorted(re.findall(r"'([^']+)'", line.split("=", 1)[1]))
    assert admins == wanted, f"Horde admins {admins}, directory group horde-admins {wanted}"


@pytest.mark.control("WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_the_dynamic_view_lists_the_inbox_over_ajax(
        lab: dict[str, Any], target: Any, probe_mail: Callable[[str, str], None],
        people: list[Person]) -> None:
    """The browser view: dynamic.php, then IMP's AJAX viewPort call through PATH_INFO,
    counting the INBOX, which holds at least the message the test sends itself."""
    uid, password, mail = _person(people, "present")
    subject = _send_probe(lab, uid, password, mail, probe_mail)
    s = _session(lab)
    base = f"https://{_webmail_name(lab)}"
    page = s.get(f"{base}/horde/login.php", timeout=60)
    form: dict[str, str] = dict(re.findall(
        r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    form.update({"horde_user": uid, "horde_pass": password, "login_post": "1",
                 "horde_select_view": "auto"})
    assert _logged_in(s.post(f"{base}/horde/login.php", data=form, timeout=120))
    view = s.get(f"{base}/horde/imp/dynamic.php?page=mailbox", timeout=60)
    token = re.search(r'"TOKEN":"([^"]+)"', view.text)
    assert view.status_code == 200 and token, f"dynamic view: {view.status_code} {view.url}"
    vp = json.dumps({"view": "SU5CT1g", "initial": 1, "requestid": 1, "after": 50,
                     "before": 0})
    deadline = time.monotonic() + 30  # the probe may still be on its way
    while True:
        r = s.post(f"{base}/horde/services/ajax.php/imp/viewPort",
                   data={"view": "SU5CT1g", "token": token.group(1), "viewport": vp},
                   timeout=60)
        body = json.loads(r.text.removeprefix("/*-secure-").removesuffix("*/"))
        assert body.get("response") is True, body
        port = body["tasks"]["imp:viewport"]
        if port.get("totalrows", 0) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    inbox_label = _words(lab, target)("imp", "Inbox")
    assert port["label"] == inbox_label and port["totalrows"] >= 1, (subject, port)


@pytest.mark.control("WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_enabled_applications_render_and_disabled_ones_are_closed(
        lab: dict[str, Any], target: Any, people: list[Person]) -> None:
    """README "Applications": what is enabled renders, what fails on PHP 8.2 is a 404."""
    uid, password, _ = _person(people, "present")
    s, r = login(lab, uid, password)
    assert _logged_in(r), r.url
    base = f"https://{_webmail_name(lab)}"
    words = _words(lab, target)
    for path, domain, text in (("/horde/ingo/", "ingo", "Filters"),
                               ("/horde/turba/", "turba", "Address Book"),
                               ("/horde/nag/", "nag", "Tasks"), ("/horde/mnemo/", "mnemo", "Notes"),
                               ("/horde/services/prefs.php?app=imp", "Horde_Core",
                                "User Preferences"),
                               ("/horde/imp/basic.php?page=compose", "imp", "New Message")):
        title = words(domain, text)
        page = s.get(base + path, timeout=60)
        assert page.status_code == 200 and title in page.text, f"{path}: {page.status_code}"
        assert "A fatal error has occurred" not in page.text, path
    for path in ("/horde/kronolith/", "/horde/admin/config/", "/horde/turba/add.php",
                 "/horde/test.php", "/horde/config/conf.php", "/horde/config/conf.xml",
                 "/horde/imp/config/backends.local.php", "/horde/imp/lib/Imap.php",
                 "/horde/lib/Application.php", "/horde/ingo/migration/"):
        assert s.get(base + path, timeout=60).status_code in (403, 404), path


@pytest.mark.control("EDGE-HA-02", "WEB-MAIL-01")
@pytest.mark.usefixtures("login_stack")
def test_a_session_opened_through_one_edge_host_goes_on_through_the_other(
        lab: dict[str, Any], people: list[Person]) -> None:
    """What a failover means for a person logged in: their next request reaches the other
    edge host, with the same cookies. Horde keeps its sessions in its database, not on an
    edge host, so the inbox still opens without a new login."""
    edges = list(lab["all"]["children"]["edge"]["hosts"])
    if len(edges) < 2:
        pytest.skip("one edge host: nothing to fail over to")
    uid, _, first, r = _login_person(lab, people, "present")
    assert _logged_in(r), f"login through {edges[0]} failed: {r.url}"
    names = [s["name"] for s in lab["all"]["vars"]["municloud_published_sites"]]
    other = EdgeSession(lab["all"]["hosts"][edges[1]]["municloud_address"], names,
                        ca_file(lab["all"]["vars"]["municloud_secrets_dir"]))
    other.cookies.update(first.cookies)
    page = inbox(lab, other)
    assert page.status_code == 200, page.text[:300]
    assert "horde_user" not in page.text and "login.php" not in page.url, (
        f"{uid}'s session did not go on through {edges[1]}: {page.url}")
