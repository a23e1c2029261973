"""The portal's words in a language, from the catalogues they come from: the role's own
(roles/identity/files/lemonldap/languages/<lang>.json) over the package's on the identity
host (/usr/share/lemonldap-ng/portal/htdocs/static/languages/), English where neither
has the word, as the role builds them (tasks/lemonldap_languages.yml). The tests name what
a page says ("Connect", "Logout") without a translation of their own."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from municloud.core import paths

from .sso import Sso

ROLE = paths.ROLES / "identity"
PACKAGE = "/usr/share/lemonldap-ng/portal/htdocs/static/languages/{lang}.json"


def portal_language(lab: dict[str, Any]) -> str:
    """LemonLDAP::NG's name of the language the portal opens in (el_GR.UTF-8 -> el), as
    the role derives it (identity_lemonldap_language)."""
    return re.sub(r"[_.@].*$", "", lab["all"]["vars"]["municloud_web_locale"])


def _role_defaults() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return data


class PortalWords:
    """The portal's words in one language; `words(key)` is the text of LemonLDAP::NG's
    word `key` (connect, logout, PE5) in that language."""

    def __init__(self, host: Any, language: str) -> None:
        self.language = language
        self._host = host
        self._words: dict[str, str] | None = None

    def _package(self, lang: str) -> dict[str, str]:
        f = self._host.file(PACKAGE.format(lang=lang))
        if not f.exists:
            return {}
        data: dict[str, str] = json.loads(f.content_string)
        return data

    def _load(self) -> dict[str, str]:
        english = self._package("en")
        if not english:
            pytest.fail(f"no {PACKAGE.format(lang='en')} on the identity host")
        words = {**english, **self._package(self.language)}
        own = ROLE / "files" / "lemonldap" / "languages" / f"{self.language}.json"
        if own.exists():
            words.update(json.loads(own.read_text(encoding="utf-8")))
        return words

    def __call__(self, key: str) -> str:
        if self._words is None:
            self._words = self._load()
        return self._words[key]

    def tab_labels(self, sso: Sso) -> list[str]:
        """The login page's tabs in this language: the declaration's labels, translated
        where the role translates them (identity_lemonldap_choice_label_translations)."""
        tr = _role_defaults()["identity_lemonldap_choice_label_translations"]
        return [tr.get(c["name"], {}).get(self.language, c["label"])
                for c in sso.decl["choices"]]


def shown(driver: Any, key: str) -> str:
    """The text of the first element the portal's script translates as `key`."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'[trspan="{key}"]')
    return str(found[0].get_attribute("textContent")).strip() if found else ""


def wait_for_words(driver: Any, words: PortalWords, key: str = "connect") -> None:
    """Until the portal's script has translated the page into words.language (it loads
    the catalogue after the page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    want = words(key)
    try:
        WebDriverWait(driver, 30).until(lambda d: shown(d, key) == want)
    except Exception:
        pytest.fail(f"the page does not say {want!r} ({words.language}) for {key!r}: it says "
                    f"{shown(driver, key)!r} at {driver.current_url}")


def tabs(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    found = [str(e.get_attribute("textContent")).strip()
             for e in driver.find_elements(By.CSS_SELECTOR, "#authMenu a.nav-link")]
    return [t for t in found if t]
