"""The single sign-on portal's languages (roles/identity, provider lemonldap; README "What a
person sees first"): the role's catalogues and flags, the ASCII messages of
lemonldap-ng.ini, the catalogue the role builds per language and the nginx site that
serves it, all checked offline (the package's own files are on the identity host only)."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml

from municloud.core import paths

from .identity_samples import wso2_identity

pytestmark = pytest.mark.control("SSO-PAGE-02")

ROLE = paths.ROLES / "identity"
CATALOGUES = sorted((ROLE / "files" / "lemonldap" / "languages").glob("*.json"))
FLAGS = sorted((ROLE / "files" / "lemonldap" / "flags").glob("*.png"))
# LemonLDAP::NG's names of languages (its catalogues: en, pt_BR, zh_TW) and of words
# (connect, PE5, 2fRegRequired, contextSwitching_OFF).
LANGUAGE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?$")
KEY = re.compile(r"^[0-9A-Za-z]+(_[0-9A-Za-z]+)*$")
# What a person meets on the way in, in the role's Greek: the login page (title, the
# staff tab's fields and button, the footer), the messages of a failed login, a locked
# account and a refused access, the page after login and the logout.
JOURNEY = ["authPortal", "connect", "login", "password", "serviceProvidedBy", "gplSoft",
           "PE2", "PE5", "PE9", "PE21", "PE22", "PE84", "PE86", "PE90", "seconds",
           "connectedAs", "loginHistory", "lastLogins", "logout", "areYouSure", "imSure",
           "logoutConfirm", "PE47", "goToPortal", "accessDenied", "cancel", "continue"]


def _catalogue(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _defaults() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return data


def _filter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "identity_lemonldap_filter", ROLE / "filter_plugins" / "lemonldap.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env() -> jinja2.Environment:
    """The role's templates with the Ansible filters they use (Jinja's own default, map
    and select stay: Ansible's versions need its templating engine)."""
    from ansible.plugins.filter.core import FilterModule

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    core = FilterModule().filters()
    env.filters.update({k: core[k] for k in ("combine", "regex_replace", "to_nice_json")})
    return env


def test_the_role_ships_a_greek_catalogue() -> None:
    assert "el" in [p.stem for p in CATALOGUES], "no files/lemonldap/languages/el.json"


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.name)
def test_a_catalogue_is_lemonldap_words_to_texts(path: Path) -> None:
    assert LANGUAGE.match(path.stem), f"{path.name}: not a LemonLDAP::NG language name"
    data = _catalogue(path)
    assert data, f"{path.name} is empty"
    bad_keys = [k for k in data if not KEY.match(k) or k.startswith("municloud")]
    assert not bad_keys, f"{path.name}: not LemonLDAP::NG words: {bad_keys}"
    for key, text in data.items():
        assert isinstance(text, str) and text.strip(), f"{path.name}: {key} has no text"
        assert "\n" not in text and "<" not in text, f"{path.name}: {key}: one line, no markup"
        # The portal's script fills %s and %d in; any other % would show as it is.
        assert not re.search(r"%(?![sd])", text), f"{path.name}: {key}: stray %"


def test_the_greek_catalogue_covers_the_way_in() -> None:
    el = _catalogue(ROLE / "files" / "lemonldap" / "languages" / "el.json")
    missing = [k for k in JOURNEY if k not in el]
    assert not missing, f"el.json does not translate {missing}"
    # Greek, not English left in place: every word of the way in has Greek letters.
    latin = [k for k in JOURNEY if not re.search(r"[\u0370-\u03ff\u1f00-\u1fff]", el[k])]
    assert not latin, f"el.json: no Greek in {latin}"


@pytest.mark.parametrize("path", FLAGS, ids=lambda p: p.name)
def test_a_flag_is_a_small_png_the_size_of_the_package_flags(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path.name}: not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (18, 12), f"{path.name} is {width}x{height}, the package's are 18x12"
    assert len(data) < 2048, f"{path.name}: {len(data)} bytes"
    assert LANGUAGE.match(path.stem), path.name


def test_ini_messages_are_ascii_and_read_back_as_the_text() -> None:
    f = _filter().lemonldap_ini_text
    for text in ["Λάθος κωδικός; δοκιμάστε ξανά", "A & B <b>", "citizens' e-services"]:
        out = f(text)
        assert out.isascii(), out
        assert "<" not in out and "&" not in out.replace("&#", "").replace("&amp;", "") \
            .replace("&lt;", "").replace("&gt;", ""), out
        assert html.unescape(out) == text
    assert f("plain English, as before") == "plain English, as before"
    for bad in ["two\nlines", 3]:
        with pytest.raises(Exception, match="lemonldap_ini_text"):
            f(bad)


def test_the_refusal_page_texts_fit_lemonldap_ini() -> None:
    d = _defaults()
    f = _filter().lemonldap_ini_text
    texts = [d["identity_lemonldap_refused_text"],
             *d["identity_lemonldap_refused_text_translations"].values()]
    for text in texts:
        assert html.unescape(f(text)) == text
    assert set(d["identity_lemonldap_refused_text_translations"]) <= \
        {p.stem for p in CATALOGUES} | {"en"}


def _keys(choices: list[dict[str, Any]]) -> dict[str, str]:
    """LemonLDAP::NG's keys of the choices as the role's vars make them (position, label)."""
    return {c["name"]: f"{i}_" + re.sub(r"[^A-Za-z0-9]+", "_", c["label"])
            for i, c in enumerate(choices, start=1)}


def _built(lang: str, own: dict[str, Any], package: dict[str, dict[str, str]],
           choices: list[dict[str, Any]], labels: dict[str, dict[str, str]],
           title: str) -> dict[str, str]:
    out = _env().get_template("lemonldap/portal-language.json.j2").render(
        item=lang, __own=own, __identity_llng_package=package,
        municloud_identity={"choices": choices}, identity_lemonldap_portal_title=title,
        __identity_lemonldap_choice_keys=_keys(choices),
        identity_lemonldap_choice_label_translations=labels)
    data: dict[str, str] = json.loads(out)
    return data


def test_the_built_catalogue_is_english_overlaid_by_the_language() -> None:
    package = {"en": {"connect": "Connect", "logout": "Logout", "authPortal": "Portal",
                      "PE5": "Wrong credentials"},
               "fr": {"connect": "Se connecter"}}
    choices = [{"name": "taxisnet", "label": "TAXISnet"},
               {"name": "staff", "label": "Staff account"}]
    labels = {"staff": {"el": "Λογαριασμός υπαλλήλου"}}
    el = _built("el", {"connect": "Σύνδεση"}, package, choices, labels, "Δήμος & Πόλη")
    assert el["connect"] == "Σύνδεση"
    assert el["logout"] == "Logout"  # not translated: English
    assert el["authPortal"] == "Δήμος &amp; Πόλη"  # the script puts it in as HTML
    assert el["municloudChoice_2_Staff_account"] == "Λογαριασμός υπαλλήλου"
    assert "municloudChoice_1_TAXISnet" not in el
    en = _built("en", {}, package, choices, labels, "Δήμος & Πόλη")
    assert en["municloudChoice_2_Staff_account"] == "Staff account"
    assert en["connect"] == "Connect"
    fr = _built("fr", {}, package, choices, labels, "")
    assert fr["connect"] == "Se connecter" and fr["PE5"] == "Wrong credentials"
    assert fr["authPortal"] == "Portal"  # no title: the package's word


def _site(languages: list[str], flags: list[str]) -> str:
    ident = wso2_identity()
    ident["manager"] = {"admin_group": "sso-admins", "sources": ["10.70.4.0/24"]}
    return _env().get_template("lemonldap/nginx-identity.conf.j2").render(
        ansible_managed="managed", identity_lemonldap_port=9443, municloud_identity=ident,
        __identity_lemonldap_choice_keys=_keys(ident["choices"]),
        identity_lemonldap_tls_cert="/c", identity_lemonldap_tls_key="/k",
        municloud_service_hosts={"edge": [{"address": "10.70.1.11"}]},
        identity_lemonldap_fastcgi_read_timeout=60,
        identity_lemonldap_manager_name="manager.id.heraklion.gr",
        identity_lemonldap_manager_port=9444, identity_lemonldap_language=languages[0],
        __identity_lemonldap_languages=languages, __identity_llng_flags=flags,
        __identity_lemonldap_date_locales={"el": "el-GR", "en": "en-US"},
        identity_lemonldap_timezone="Europe/Athens",
        identity_lemonldap_static_dir="/etc/lemonldap-ng/municloud-static",
        identity_lemonldap_choice_label_translations=_defaults()[
            "identity_lemonldap_choice_label_translations"])


def test_the_site_serves_the_catalogues_and_starts_in_the_municipalitys_language() -> None:
    site = _site(["el", "en"], ["el"])
    for lang in ("el", "en"):
        assert (f"location = /static/languages/{lang}.json {{\n        alias "
                f"/etc/lemonldap-ng/municloud-static/languages/{lang}.json;") in site
    assert "location = /static/common/el.png" in site
    assert "location = /static/common/en.png" not in site  # the package has it
    # Not HttpOnly: the portal's script reads and rewrites it.
    assert '""      "llnglanguage=el; Path=/; Secure; SameSite=Lax";' in site
    assert "add_header Set-Cookie $municloud_llng_language_cookie always;" in site
    assert "    default el;\n" in site


def test_the_site_gives_translated_tabs_the_catalogues_keys() -> None:
    site = _site(["el", "en"], [])
    choices = wso2_identity()["choices"]
    labels = _defaults()["identity_lemonldap_choice_label_translations"]
    tagged = re.findall(r"""sub_filter 'href="#(\w+)">' 'href="#\1" trspan="(\w+)">';""", site)
    assert tagged, "no tab gets a key"
    for lang in ("el", "en"):
        built = _built(lang, {}, {"en": {}}, choices, labels, "")
        for _, key in tagged:
            assert key in built, (lang, key)
    # The keys LemonLDAP::NG gives the tabs (templates/lemonldap/lmConf.json.j2).
    keys = {f"{i}_" + re.sub(r"[^A-Za-z0-9]+", "_", c["label"])
            for i, c in enumerate(choices, start=1) if c["name"] in labels}
    assert {href for href, _ in tagged} == keys


def test_every_page_loads_the_dates_script_with_its_languages_locale() -> None:
    site = re.sub(r"\n\s*\n", "\n", _site(["el", "en", "fr"], []))  # block tags' lines
    # el and en from the topology's locales; fr names no locale: its own name.
    assert "map $municloud_llng_page_language $municloud_llng_date_locale {\n" \
           "    el el-GR;\n    en en-US;\n    fr fr;\n    default el-GR;\n}" in site
    assert ("sub_filter '</head>' '<script type=\"text/javascript\" "
            "src=\"/static/common/municloud-dates.js\" data-locale=\"$municloud_llng_date_locale\" "
            "data-timezone=\"Europe/Athens\"></script></head>';") in site
    assert ("location = /static/common/municloud-dates.js {\n        alias "
            "/etc/lemonldap-ng/municloud-static/common/municloud-dates.js;") in site


def test_the_roles_vars_make_the_choice_keys_and_date_locales_the_templates_read() -> None:
    """The two maps of vars/main.yml, evaluated by Ansible's own templar."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    choices = wso2_identity()["choices"]
    templar = Templar(loader=DataLoader(), variables={
        "municloud_identity": {"choices": choices},
        "municloud_web_locale": "el_CY.UTF-8",
        "municloud_locales": ["en_US.UTF-8", "el_CY.UTF-8", "el_GR.UTF-8"]})

    def value(name: str) -> Any:  # the role's file is trusted, as Ansible trusts it
        return templar.template(trust_as_template(internal[name]))

    assert value("__identity_lemonldap_choice_keys") == _keys(choices)
    # The municipality's locale speaks for its own language, whatever the list's order.
    assert value("__identity_lemonldap_date_locales") == \
        {"el": "el-CY", "en": "en-US"}
