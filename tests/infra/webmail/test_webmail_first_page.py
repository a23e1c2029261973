"""What a staff member sees first in the webmail, in a real browser (Debian's headless
Chromium, tests/infra/browser.py) through the edge: the login page and the page after it
are in the municipality's language (topology municipality.web_locale) whatever the
browser asks for, carry the municipality's name, land in the inbox, and neither the inbox
nor the portal shows an error block. English, chosen at login, works as well.

Horde's own translation catalogues on the webmail host say what the words are in each
language ("Inbox", "Error", "%s is not activated."), so the test holds no translation of
its own. Screenshots are kept under the state dir (evidence/webmail-first-page-*.png).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from ..browser import chromium
from ..environment import Person
from ..environment import missing as _missing
from .horde_words import Words, web_language
from .test_webmail import _edge, _require_roles, _webmail_name


def _staff(people: list[Person]) -> Person:
    """A staff member as most are: present, in group staff, not an administrator."""
    for p in people:
        if p.state == "present" and "staff" in p.groups and len(p.groups) == 1:
            if p.password is None:
                _missing(f"no password for {p.uid} in <secrets>/people/ (role directory)")
            return p
    _missing("no present person whose only group is staff in the lab's directory_people")


def _log_in(driver: Any, base: str, person: Person, language: str | None = None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(driver, 60)
    driver.get(f"{base}/horde/login.php")
    wait.until(ec.presence_of_element_located((By.ID, "horde_user")))
    if language is not None:
        tag = language.replace("_", "-")
        Select(driver.find_element(By.ID, "new_lang")).select_by_value(language)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == tag)
        wait.until(ec.presence_of_element_located((By.ID, "horde_user")))
    driver.find_element(By.ID, "horde_user").send_keys(person.uid)
    assert person.password is not None
    driver.find_element(By.ID, "horde_pass").send_keys(person.password)
    driver.find_element(By.ID, "login-button").click()
    wait.until(lambda d: "login.php" not in d.current_url)


def _visible_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _errors_shown(driver: Any, words: Words) -> list[str]:
    """Error notices and error blocks on the page, in any of Horde's forms: a notification
    of type error, a portal block whose title is "Error", a "... is not activated" text."""
    from selenium.webdriver.common.by import By

    found = [e.text.strip() or "(an error notice)" for e in driver.find_elements(
        By.CSS_SELECTOR, ".horde-error, .GrowlerError, .notices .error") if e.is_displayed()]
    error = words("Horde_Core", "Error")
    found += [f"block {e.text.strip()!r}" for e in driver.find_elements(
        By.CSS_SELECTOR, ".horde-block .header, .header") if e.text.strip() == error]
    text = _visible_text(driver)
    # The block collection raises it untranslated, the registry translated.
    for said in {"%s is not activated.", words("Horde_Core", "%s is not activated.")}:
        found += re.findall(re.escape(said).replace("%s", r"\S+"), text)
    return found


def _wait_for_inbox(driver: Any, words: Words) -> str:
    """The text of the page once the inbox's name shows (the dynamic view draws its
    folder list after the page has loaded); asserts the page is IMP's mailbox."""
    inbox = words("imp", "Inbox")
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = _visible_text(driver)
        if inbox in text:
            break
        time.sleep(0.5)
    assert "/imp/" in driver.current_url, (
        f"the first page after login is {driver.current_url}, not the mail (IMP)")
    assert inbox in text, f"no {inbox!r} on the first page ({driver.current_url}): {text[:400]}"
    return text


def _screenshot(driver: Any, state_dir: str, name: str) -> None:
    evidence = Path(state_dir) / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(evidence / f"webmail-first-page-{name}.png"))


def _check_first_page(driver: Any, lab: dict[str, Any], words: Words, state_dir: str,
                      name: str) -> None:
    from selenium.webdriver.common.by import By

    _wait_for_inbox(driver, words)
    _screenshot(driver, state_dir, f"{name}-inbox")
    lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
    assert lang == words.language.replace("_", "-"), f"the inbox is in {lang!r}"
    assert not _errors_shown(driver, words), _errors_shown(driver, words)
    # The portal (Horde's own start page) has no block of a hidden application.
    base = driver.current_url.split("/horde/")[0]
    driver.get(f"{base}/horde/services/portal/")
    _screenshot(driver, state_dir, f"{name}-portal")
    assert not _errors_shown(driver, words), (
        f"the portal shows errors: {_errors_shown(driver, words)}")


@pytest.mark.control("WEB-UX-01")
def test_a_staff_member_lands_in_the_inbox_in_the_municipalitys_language(
        lab: dict[str, Any], target: Any, people: list[Person], state_dir: str) -> None:
    from selenium.webdriver.common.by import By

    _require_roles(lab, target, "directory", "db", "mail", "webmail")
    person = _staff(people)
    language = web_language(lab)
    webmail = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"]
    words = Words(target(webmail), language)
    municipality = lab["all"]["vars"]["municloud_municipality"]
    base = f"https://{_webmail_name(lab)}"
    # A browser set up in American English: the municipality's language still comes first.
    with chromium([_webmail_name(lab)], _edge(lab)[1], accept_language="en-US,en") as driver:
        driver.get(f"{base}/horde/login.php")
        _screenshot(driver, state_dir, "login")
        lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        assert lang == language.replace("_", "-"), f"the login page is in {lang!r}"
        assert municipality in driver.title, f"login page title {driver.title!r}"
        assert municipality in _visible_text(driver), "the login page does not name us"
        button = driver.find_element(By.ID, "login-button").get_attribute("value")
        assert button == words("horde", "Log in"), f"login button {button!r}"
        _log_in(driver, base, person)
        _check_first_page(driver, lab, words, state_dir, language)


@pytest.mark.control("WEB-UX-01")
def test_english_chosen_at_login_is_kept(
        lab: dict[str, Any], target: Any, people: list[Person], state_dir: str) -> None:
    _require_roles(lab, target, "directory", "db", "mail", "webmail")
    locales = lab["all"]["vars"]["municloud_locales"]
    english = next((re.sub(r"[.@].*$", "", loc) for loc in locales if loc.startswith("en_")),
                   None)
    if english is None:
        pytest.skip("the environment offers no English locale")
    person = _staff(people)
    webmail = lab["all"]["vars"]["municloud_service_hosts"]["webmail"][0]["name"]
    words = Words(target(webmail), english)
    base = f"https://{_webmail_name(lab)}"
    # A browser set up in Greek that picks English on the login page.
    with chromium([_webmail_name(lab)], _edge(lab)[1], accept_language="el-GR,el") as driver:
        _log_in(driver, base, person, language=english)
        _check_first_page(driver, lab, words, state_dir, english)
