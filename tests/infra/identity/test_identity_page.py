"""The login page in a real browser (Debian's headless Chromium, driven by Selenium): the
four ways in of the declaration, in order. The screenshot is kept as evidence under the
state dir (evidence/sso-login-page.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..browser import chromium
from .sso import Sso


@pytest.mark.control("SSO-PAGE-01")
def test_the_portal_shows_the_four_choices(sso: Sso, state_dir: str) -> None:
    from selenium.webdriver.common.by import By

    with chromium([sso.decl["public_name"]], sso.edge) as driver:
        driver.get(f"{sso.base}/")
        tabs = [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR,
                                                              "#authMenu a.nav-link")]
        evidence = Path(state_dir) / "evidence"
        evidence.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(evidence / "sso-login-page.png"))
        body = driver.find_element(By.TAG_NAME, "body").text
    labels = [c["label"] for c in sso.decl["choices"]]
    shown = [t for t in tabs if t]
    assert shown == labels, (shown, body[:500])
