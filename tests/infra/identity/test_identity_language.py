"""The portal in a real browser (Debian's headless Chromium, tests/infra/browser.py) through
the edge: it opens in the municipality's language (topology municipality.web_locale)
whatever the browser asks for, titled with the municipality's name, its words those of
the role's catalogue (portal_words.py: the test holds no translation of its own); a staff
login lands on a first page in that language without an error block; English, chosen
with its flag, replaces the words at once and is kept. Screenshots are kept under the
state dir (evidence/sso-language-*.png)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ..browser import chromium
from ..environment import Person
from ..environment import missing as _missing
from .portal_words import PortalWords, portal_language, shown, tabs, wait_for_words
from .sso import Sso

# Blocks of the portal's templates that say something went wrong (LemonLDAP::NG's message
# types, and the classes its bootstrap skin gives them).
ERROR_BLOCKS = ".message-negative, .message-warning, .alert-danger, .alert-warning"


def _staff(people: list[Person]) -> Person:
    """A staff member as most are: present, in group staff only, with a password."""
    for p in people:
        if p.state == "present" and p.groups == ("staff",):
            if p.password is None:
                _missing(f"no password for {p.uid} in <secrets>/people/ (role directory)")
            return p
    _missing("no present person whose only group is staff in the lab's directory_people")


# LemonLDAP::NG's login prompt itself (PE_FIRSTACCESS, "Authentication required"), shown
# in a warning-styled block on every login page before anything was typed: the page's
# invitation, not an error. Anywhere else, and every other block, counts.
LOGIN_PROMPT = 'span[trmsg="9"]'


def _errors_shown(driver: Any, *, login_page: bool = False) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text.strip() or "(an error block)"
            for e in driver.find_elements(By.CSS_SELECTOR, ERROR_BLOCKS) if e.is_displayed()
            and not (login_page and e.find_elements(By.CSS_SELECTOR, LOGIN_PROMPT))]


def _screenshot(driver: Any, state_dir: str, name: str) -> None:
    evidence = Path(state_dir) / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(evidence / f"sso-language-{name}.png"))


def _html_lang(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "html").get_attribute("lang"))


def _languages(lab: dict[str, Any]) -> list[str]:
    """The portal's languages as the role orders them: the municipality's first, then
    the topology's locales."""
    found = [portal_language(lab)]
    for loc in lab["all"]["vars"]["municloud_locales"]:
        lang = re.sub(r"[_.@].*$", "", loc)
        if lang not in found:
            found.append(lang)
    return found


def _dates_shown(driver: Any) -> list[tuple[float, str]]:
    """(epoch seconds, text) of the dates the page writes (LemonLDAP::NG's `.localeDate`
    elements: the login history), shown or in a tab not opened yet."""
    from selenium.webdriver.common.by import By

    return [(float(e.get_attribute("val")), str(e.get_attribute("textContent")).strip())
            for e in driver.find_elements(By.CSS_SELECTOR, ".localeDate[val]")]


def _written(driver: Any, epoch: float, locale: str, zone: str) -> str:
    """How the browser writes a moment in a locale and a time zone named explicitly."""
    return str(driver.execute_script(
        "return new Date(arguments[0] * 1000).toLocaleString(arguments[1], "
        "{timeZone: arguments[2]});", epoch, locale, zone))


def _log_in(driver: Any, sso: Sso, person: Person) -> None:
    """The staff tab, the person's uid and password, the tab's own button."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    driver.find_element(By.CSS_SELECTOR,
                        f'#authMenu a.nav-link[href="#{sso.choice_key("staff")}"]').click()
    user = wait.until(ec.visibility_of_element_located((By.ID, "userfield")))
    user.send_keys(person.uid)
    assert person.password is not None
    driver.find_element(By.ID, "passwordfield").send_keys(person.password)
    driver.find_element(By.XPATH, "//input[@id='userfield']/ancestor::form"
                                  "//button[@type='submit']").click()
    wait.until(lambda d: d.find_elements(By.ID, "menu") or _errors_shown(d))


@pytest.mark.control("SSO-PAGE-02")
def test_the_portal_opens_in_the_municipalitys_language_and_a_staff_login_lands_without_error(
        sso: Sso, lab: dict[str, Any], target: Any, people: list[Person],
        state_dir: str) -> None:
    from selenium.webdriver.common.by import By

    person = _staff(people)
    language = portal_language(lab)
    words = PortalWords(target(sso.host), language)
    municipality = lab["all"]["vars"]["municloud_municipality"]
    # A browser set up in American English: the municipality's language still comes first.
    with chromium([sso.decl["public_name"]], sso.edge, accept_language="en-US,en") as driver:
        driver.get(f"{sso.base}/")
        wait_for_words(driver, words, "connect")
        _screenshot(driver, state_dir, f"{language}-login")
        assert _html_lang(driver) == language, f"the login page says lang={_html_lang(driver)!r}"
        assert driver.title == municipality, f"login page title {driver.title!r}"
        assert tabs(driver) == words.tab_labels(sso)
        for field, key in (("userfield", "login"), ("passwordfield", "password")):
            said = driver.find_element(By.ID, field).get_attribute("placeholder")
            assert said == words(key), f"{field} says {said!r}, not {words(key)!r}"
        flags = {str(i.get_attribute("title")): int(i.get_attribute("naturalWidth") or 0)
                 for i in driver.find_elements(By.CSS_SELECTOR, "#languages img.langicon")}
        assert list(flags) == _languages(lab), f"flags {list(flags)}"
        assert all(flags.values()), f"a flag without its image: {flags}"
        assert not _errors_shown(driver, login_page=True), _errors_shown(driver, login_page=True)

        _log_in(driver, sso, person)
        wait_for_words(driver, words, "logout")
        _screenshot(driver, state_dir, f"{language}-first-page")
        assert not _errors_shown(driver), (
            f"the first page after {person.uid}'s login shows {_errors_shown(driver)}")
        assert _html_lang(driver) == language
        assert shown(driver, "connectedAs") == words("connectedAs")
        assert person.uid in driver.find_element(By.TAG_NAME, "body").text
        # The login history's dates: the municipality's locale and time zone (topology
        # web_locale, timezone), not the browser's (en-US, the controller's UTC).
        web_locale = re.sub(r"[.@].*$", "", lab["all"]["vars"]["municloud_web_locale"])
        locale, zone = web_locale.replace("_", "-"), lab["all"]["vars"]["municloud_timezone"]
        dates = _dates_shown(driver)
        assert dates, "the first page shows no date (its login history is empty)"
        for epoch, text in dates:
            assert text == _written(driver, epoch, locale, zone), (
                f"a date shows as {text!r}, not as {locale} in {zone} writes it "
                f"({_written(driver, epoch, locale, zone)!r})")


@pytest.mark.control("SSO-PAGE-02")
def test_english_chosen_with_its_flag_is_kept(sso: Sso, lab: dict[str, Any], target: Any,
                                             state_dir: str) -> None:
    from selenium.webdriver.common.by import By

    language = portal_language(lab)
    if language == "en" or "en" not in _languages(lab):
        pytest.skip(f"the portal opens in {language!r} and offers {_languages(lab)}: no "
                    "English to switch to")
    host = target(sso.host)
    words, english = PortalWords(host, language), PortalWords(host, "en")
    # A browser set up in Greek whose person prefers English.
    with chromium([sso.decl["public_name"]], sso.edge, accept_language="el-GR,el") as driver:
        driver.get(f"{sso.base}/")
        wait_for_words(driver, words, "connect")
        driver.find_element(By.CSS_SELECTOR, '#languages img.langicon[title="en"]').click()
        wait_for_words(driver, english, "connect")
        assert tabs(driver) == english.tab_labels(sso)
        # Kept: the next page opens in English, and says so.
        driver.get(f"{sso.base}/")
        wait_for_words(driver, english, "connect")
        _screenshot(driver, state_dir, "en-login")
        assert _html_lang(driver) == "en", f"the page says lang={_html_lang(driver)!r}"
        assert tabs(driver) == english.tab_labels(sso)
        assert not _errors_shown(driver, login_page=True), _errors_shown(driver, login_page=True)
