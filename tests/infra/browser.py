"""A real browser for the lab tests: Debian's headless Chromium driven by Selenium
(chromium and chromium-driver, installed by scripts/bootstrap), with the public names
pinned to an edge address, as a person's browser reaches the published sites."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def chromium(names: list[str], edge: str, accept_language: str = "en-US,en") -> Iterator[Any]:
    """A headless Chromium whose requests for `names` go to the edge address `edge`; it
    asks for pages in `accept_language` (Accept-Language), as a browser set up in that
    language would. Skips the test when Chromium or its driver is missing."""
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        pytest.skip("chromium and chromium-driver are missing on this controller: run "
                    "scripts/bootstrap (it installs both)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    rules = ", ".join(f"MAP {name} {edge}" for name in names)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                f"--host-resolver-rules={rules}",
                # Chromium's own trust store does not hold the municipal CA; the chain is
                # verified by the other tests (requests against the CA file).
                "--ignore-certificate-errors", "--no-proxy-server",
                f"--lang={accept_language.split(',')[0]}",
                # Nothing of its own on the network (the lab has no internet: each refused
                # attempt costs time and CPU on a controller that also runs the lab), and
                # none of a desktop browser's first-run work.
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps",
                "--no-first-run", "--disable-quic"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
