"""Filter plugin: a text for LemonLDAP::NG's lemonldap-ng.ini messages (error_<lang>_<n>,
msg_<lang>_<key>), written in ASCII.

The portal reads lemonldap-ng.ini as bytes and passes its messages through Perl's JSON
into every page (the trOver of the page's script). Non-ASCII bytes there depend on how
the rest of the page is encoded; ASCII does not. The portal's script puts those messages
into the page as HTML (jQuery's .html()), so HTML character references
(`&#955;` for λ) show the same text in every language: `lemonldap_ini_text` escapes
&, < and > and writes every non-ASCII character as a decimal character reference.
"""

from __future__ import annotations

import html
from typing import Any

from ansible.errors import AnsibleFilterError


def lemonldap_ini_text(text: Any) -> str:
    if not isinstance(text, str):
        raise AnsibleFilterError(
            f"lemonldap_ini_text: expected a string, got {type(text).__name__}")
    if "\n" in text or "\r" in text:
        raise AnsibleFilterError("lemonldap_ini_text: a message of lemonldap-ng.ini is one line")
    escaped = html.escape(text, quote=False)
    return escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lemonldap_ini_text": lemonldap_ini_text}
