"""The login page in a real browser (Debian's headless Chromium, driven by Selenium): the
four ways in of the declaration, in order, labelled in the language the page opens in
(the declaration's labels, translated where the role translates them: portal_words.py).
The screenshot is kept as evidence under the state dir (evidence/sso-login-page.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..browser import chromium
from .portal_words import PortalWords, portal_language, tabs, wait_for_words
from .sso import Sso


@pytest.mark.control("SSO-PAGE-01")
def test_the_portal_shows_the_four_choices(sso: Sso, lab: dict[str, Any], target: Any,
                                           state_dir: str) -> None:
    from selenium.webdriver.common.by import By

    words = PortalWords(target(sso.host), portal_language(lab))
    with chromium([sso.decl["public_name"]], sso.edge) as driver:
        driver.get(f"{sso.base}/")
        wait_for_words(driver, words)
        shown = tabs(driver)
        evidence = Path(state_dir) / "evidence"
        evidence.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(evidence / "sso-login-page.png"))
        body = driver.find_element(By.TAG_NAME, "body").text
    assert shown == words.tab_labels(sso), (shown, body[:500])
