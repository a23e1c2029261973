"""Horde's words in a language, from its own translation catalogues on the webmail host,
so that the tests name what a page says ("Inbox", "Error") without a translation of
their own, whatever language the environment's web interfaces open in."""

from __future__ import annotations

import gettext
import io
import re
from typing import Any

import pytest

# Catalogues per gettext domain; {ll} is the language part of the code (el_GR -> el).
# en_US has none: the source strings are American English.
_CORE = "/usr/share/php/data/Horde_Core/locale/{ll}/LC_MESSAGES/Horde_Core.mo"
_BASE = "/usr/share/horde/locale/{ll}/LC_MESSAGES/horde.mo"
_APP = "/usr/share/horde/{app}/locale/{ll}/LC_MESSAGES/{app}.mo"


def web_language(lab: dict[str, Any]) -> str:
    """Horde's code of the language the environment's web interfaces open in (el_GR)."""
    return re.sub(r"[.@].*$", "", lab["all"]["vars"]["municloud_web_locale"])


class Words:
    """Horde's words in one language; `words(domain, text)` is text in that language."""

    def __init__(self, host: Any, language: str) -> None:
        self.language = language
        self._host = host
        self._tr: dict[str, gettext.NullTranslations] = {}

    def __call__(self, domain: str, text: str) -> str:
        if domain not in self._tr:
            self._tr[domain] = self._load(domain)
        return self._tr[domain].gettext(text)

    def _load(self, domain: str) -> gettext.NullTranslations:
        if self.language.startswith("en_"):
            return gettext.NullTranslations()
        ll = self.language.split("_")[0]
        pattern = {"Horde_Core": _CORE, "horde": _BASE}.get(domain, _APP)
        path = pattern.format(ll=ll, app=domain)
        f = self._host.file(path)
        if not f.exists:
            pytest.fail(f"Horde has no {self.language} catalogue on the webmail host ({path})")
        return gettext.GNUTranslations(io.BytesIO(f.content))
