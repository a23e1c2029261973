"""The HTML report in a real browser: Debian's chromium, headless. A screenshot that is not
blank, the per-framework chart drawn, and filtering by status and framework hides rows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from municloud.audit import render_html

from .audit_builders import evidence, report, write

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(scripts/bootstrap installs Debian's package)")
SCREENSHOT_DIR = Path("/tmp/municloud-audit-screenshots")


def _chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1280,1800", *args, url],
                          capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = report(outcomes={"BASE-SSH-01": [evidence("fail", excerpt="PasswordAuthentication yes")],
                         "BASE-FW-02": [evidence("fail", excerpt="port 8080 listens")]})
    return write(tmp_path_factory.mktemp("html") / "report.html", render_html.render(r))


def test_self_contained(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "external asset"
    assert "<svg" in html and "<script>" in html and "@media print" in html


def _shot(tmp_path: Path, url: str, name: str) -> Image.Image:
    out = tmp_path / f"{name}.png"
    proc = _chromium(tmp_path, url, f"--screenshot={out}")
    assert out.exists(), proc.stderr[-2000:]
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shutil.copy(out, SCREENSHOT_DIR / out.name)  # to look at
    return Image.open(out).convert("RGB")


def test_the_page_renders_and_is_not_blank(page: Path, tmp_path: Path) -> None:
    img = _shot(tmp_path, page.as_uri(), "report")
    small = img.resize((128, 180))
    colors = small.getcolors(maxcolors=1 << 24) or []
    total = sum(n for n, _ in colors)
    non_white = sum(n for n, c in colors if isinstance(c, tuple) and sum(c) < 720) / total
    assert non_white > 0.05, f"only {non_white:.1%} of the page is not white"
    assert len(colors) > 20, "a page of one or two colours"
    # The chart: the bars' pass green and fail red are on the page.
    full = {c for _, c in img.getcolors(maxcolors=1 << 24) or []}
    assert (0x2E, 0x7D, 0x32) in full and (0xC6, 0x28, 0x28) in full


def _rows(dom: str) -> dict[str, bool]:
    """control id -> visible, from the DOM after the script ran."""
    rows = re.findall(r'<tr class="control( hidden)?" id="([^"]+)"', dom)
    return {cid: not hidden for hidden, cid in rows}


def test_filtering_hides_rows(page: Path, tmp_path: Path) -> None:
    everything = _rows(_chromium(tmp_path, page.as_uri(), "--dump-dom").stdout)
    assert everything and all(everything.values())
    failed = _rows(_chromium(tmp_path, page.as_uri() + "#status=fail", "--dump-dom").stdout)
    assert {c for c, shown in failed.items() if shown} == {"BASE-SSH-01", "BASE-FW-02"}
    assert len(failed) == len(everything)
    gdpr = _rows(_chromium(tmp_path, page.as_uri() + "#framework=CIS%20Debian%2012",
                           "--dump-dom").stdout)
    shown = {c for c, v in gdpr.items() if v}
    assert "BASE-SSH-01" in shown and "MAIL-DELIV-01" not in shown
    # And the filtered page looks different from the whole one.
    assert _shot(tmp_path, page.as_uri() + "#status=fail", "filtered").tobytes() != \
        _shot(tmp_path, page.as_uri(), "whole").tobytes()
