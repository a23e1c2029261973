"""Single sign-on into the webmail, in a real browser (Debian's headless Chromium, driven by
Selenium): a staff login at the portal reaches the Horde inbox without another password
and sees a message the test sent through submission; a Google login (the test double) is
refused by the webmail with a page saying why; a logout at the portal ends the webmail's
access (the next page asks to log in again); and a mail client's own password login
(IMAPS with the directory password) keeps working while Dovecot accepts only webmail's
tokens (roles/webmail and roles/mail READMEs, "Single sign-on")."""

from __future__ import annotations

import imaplib
import shutil
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from doubles.oidc_upstream import Upstream

from municloud.core import paths

from ..environment import Person
from ..webclient import ca_file, pinned
from ..webmail.test_webmail import _person, _require_roles, _send_probe
from .sso import Sso, authorize, code_from, pkce, staff_login, token

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def _first_sentence(text: str) -> str:
    return " ".join(text.split()).split(". ")[0].rstrip(".")


def _refusals() -> tuple[str, ...]:
    """What the webmail's refusal says (webmail_sso_refused_title, roles/webmail/defaults),
    and the portal's own in each of its languages (identity_lemonldap_refused_text and its
    translations, roles/identity/defaults: the portal opens in the municipality's): the
    portal refuses first, the webmail checks the level again."""
    webmail = yaml.safe_load((paths.ROLES / "webmail" / "defaults" / "main.yml").read_text())
    ident = yaml.safe_load((paths.ROLES / "identity" / "defaults" / "main.yml").read_text())
    portal = [ident["identity_lemonldap_refused_text"],
              *(ident.get("identity_lemonldap_refused_text_translations") or {}).values()]
    return (str(webmail["webmail_sso_refused_title"]),
            *(_first_sentence(str(t)) for t in portal))


REFUSALS = _refusals()


def _webmail(lab: dict[str, Any]) -> str:
    return f"https://{lab['all']['vars']['municloud_public_names']['webmail']}"


@pytest.fixture
def browser(sso: Sso, lab: dict[str, Any]) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        pytest.skip("chromium and chromium-driver are missing on this controller: run "
                    "scripts/bootstrap (it installs both)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    names = [sso.decl["public_name"], lab["all"]["vars"]["municloud_public_names"]["webmail"]]
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    rules = ", ".join(f"MAP {n} {sso.edge}" for n in names)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                f"--host-resolver-rules={rules}",
                # Chromium's own trust store does not hold the municipal CA; the chain is
                # verified by the other tests (requests against the CA file).
                "--ignore-certificate-errors", "--no-proxy-server"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _portal_staff_login(driver: Any, sso: Sso, uid: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{sso.base}/?lmAuth={sso.choice_key('staff')}")
    user = next(e for e in driver.find_elements(By.NAME, "user") if e.is_displayed())
    user.send_keys(uid)
    pw = next(e for e in driver.find_elements(By.NAME, "password") if e.is_displayed())
    pw.send_keys(password)
    pw.submit()
    deadline = time.monotonic() + 60
    while not driver.get_cookie("municloud_sso") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert driver.get_cookie("municloud_sso"), driver.page_source[:1500]


def _text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _wait_for(driver: Any, what: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(1)
    return what()


@pytest.mark.control("SSO-MAIL-01")
@pytest.mark.control("SSO-MAIL-03")
def test_staff_reach_the_inbox_once_logged_in_and_the_portal_logout_ends_it(
        sso: Sso, lab: dict[str, Any], target: Any, browser: Any, state_dir: str,
        probe_mail: Callable[[str, str], None], people: list[Person]) -> None:
    _require_roles(lab, target, "directory", "db", "mail", "webmail")
    uid, password, mail = _person(people, "present")
    subject = _send_probe(lab, uid, password, mail, probe_mail)
    _portal_staff_login(browser, sso, uid, password)

    # The webmail's address: the browser goes through the portal (no password asked: the
    # single sign-on session is there) and lands in Horde; the inbox lists the message.
    browser.get(f"{_webmail(lab)}/")
    assert _wait_for(browser, lambda: "/horde/" in browser.current_url
                     and "horde_user" not in browser.page_source), \
        (browser.current_url, _text(browser)[:1500])
    browser.get(f"{_webmail(lab)}/horde/imp/basic.php?page=mailbox&mailbox=SU5CT1g")
    assert _wait_for(browser, lambda: subject in browser.page_source), \
        (browser.current_url, _text(browser)[:1500])
    evidence = Path(state_dir) / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(evidence / "sso-webmail-inbox.png"))

    # Logout at the portal: the next webmail page asks to log in again.
    browser.get(f"{sso.base}/?logout=1")
    assert _wait_for(browser, lambda: not browser.get_cookie("municloud_sso")
                     or "logout" not in browser.current_url, 30)
    browser.get(f"{_webmail(lab)}/horde/imp/basic.php?page=mailbox&mailbox=SU5CT1g")
    assert _wait_for(browser, lambda: "horde_user" in browser.page_source
                     or 'name="password"' in browser.page_source), \
        (browser.current_url, _text(browser)[:1500])
    assert subject not in browser.page_source


@pytest.mark.control("SSO-MAIL-02")
def test_a_google_login_is_refused_by_the_webmail_with_a_page_saying_why(
        sso: Sso, lab: dict[str, Any], target: Any, browser: Any, google: Upstream) -> None:
    _require_roles(lab, target, "webmail")
    browser.get(f"{sso.base}/?lmAuth={sso.choice_key('google')}")
    assert _wait_for(browser, lambda: bool(browser.get_cookie("municloud_sso"))), \
        (google.requests, _text(browser)[:1500])
    browser.get(f"{_webmail(lab)}/")
    assert _wait_for(browser, lambda: any(r in " ".join(_text(browser).split())
                                          for r in REFUSALS)), \
        (browser.current_url, _text(browser)[:1500])
    assert "/horde/imp" not in browser.current_url


def _imaps(lab: dict[str, Any]) -> tuple[str, str, ssl.SSLContext]:
    host = lab["all"]["vars"]["municloud_service_hosts"]["mail"][0]
    ctx = ssl.create_default_context(cafile=str(ca_file(
        lab["all"]["vars"]["municloud_secrets_dir"])))
    return host["fqdn"], host["address"], ctx


def _xoauth2(lab: dict[str, Any], uid: str, access_token: str) -> bool:
    fqdn, address, ctx = _imaps(lab)
    blob = f"user={uid}\x01auth=Bearer {access_token}\x01\x01".encode()
    with pinned({fqdn: address}), imaplib.IMAP4_SSL(fqdn, 993, ssl_context=ctx,
                                                     timeout=30) as imap:
        try:
            imap.authenticate("XOAUTH2", lambda _: blob)
        except imaplib.IMAP4.error:
            return False
        return True


def imap_password(lab: dict[str, Any], uid: str, password: str,
                  timeout: float = 30) -> tuple[str, str]:
    """A mail client's IMAPS login with the directory password: the answers to LOGIN and
    to SELECT INBOX."""
    fqdn, address, ctx = _imaps(lab)
    with pinned({fqdn: address}), imaplib.IMAP4_SSL(fqdn, 993, ssl_context=ctx,
                                                     timeout=timeout) as imap:
        typ, _ = imap.login(uid, password)
        return str(typ), str(imap.select("INBOX")[0])


@pytest.mark.control("SSO-MAIL-04")
def test_mail_clients_keep_their_password_and_imap_takes_only_webmail_tokens(
        sso: Sso, lab: dict[str, Any], target: Any, people: list[Person]) -> None:
    _require_roles(lab, target, "directory", "mail")
    uid, password, _ = _person(people, "present")
    assert imap_password(lab, uid, password) == ("OK", "OK")

    # A token of the webmail client opens the mailbox; a token of another relying party
    # (the staff portal) does not, nor does any token after the portal's logout.
    s = sso.browser()
    assert staff_login(sso, s, uid, password).get("result") == 1
    tokens = {}
    for rp in ("webmail", "staffportal"):
        verifier, challenge = pkce()
        code = code_from(authorize(sso, s, rp, challenge), sso.rp(rp)["redirect_uris"][0])
        assert code, f"no code for {rp}"
        r = token(sso, s, rp, code, verifier)
        assert r.status_code == 200, r.text
        tokens[rp] = r.json()["access_token"]
    assert _xoauth2(lab, uid, tokens["webmail"]), "IMAP refused the webmail's token"
    assert not _xoauth2(lab, uid, tokens["staffportal"]), "IMAP took another client's token"
    assert not _xoauth2(lab, "someoneelse", tokens["webmail"]), "the token opened another box"
    s.get(f"{sso.base}/", params={"logout": "1"}, timeout=30)
    assert not _xoauth2(lab, uid, tokens["webmail"]), "the token outlived the portal logout"
    # The placeholder webmail's sessions carry instead of a password opens no mailbox.
    with pytest.raises(imaplib.IMAP4.error):
        imap_password(lab, uid, "municloud-sso-token-login")
