"""No value in two places: a port, path or need a service declares in its
`roles/<role>/meta/service.yml` is never restated as a literal in a role's defaults or vars;
the role references the inventory's `municloud_declarations` instead (for example
`municloud_declarations.mail.port.imaps`, `municloud_declarations.mail.paths.vmail`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import backup_sets, paths
from municloud.core.services import Service, load_services

pytestmark = pytest.mark.control("BASE-TOPO-01")

# Files whose values a role owns; templates and tasks read these variables. The argument
# specs are read for their `default:` entries only.
ROLE_FILES = ("defaults/main.yml", "vars/main.yml", "meta/argument_specs.yml")


def declared_values(services: dict[str, Service]) -> tuple[dict[int, str], dict[str, str]]:
    """({port: where}, {path or need value: where}) of every declaration."""
    ports: dict[int, str] = {}
    texts: dict[str, str] = {}
    for s in services.values():
        where = f"roles/{s.role}/meta/service.yml"
        for p in s.ports:
            for n in range(p.port, (p.end or p.port) + 1):
                ports.setdefault(n, f"{where} (ports: {p.purpose})")
        if s.publish is not None:
            ports.setdefault(s.publish.upstream_port, f"{where} (publish.upstream_port)")
        for name, value in s.paths.items():
            texts.setdefault(value, f"{where} (paths.{name})")
        for value in s.backup.paths:
            texts.setdefault(value, f"{where} (backup.paths)")
        for value in backup_sets.derive(s.backup.pre).dumps:
            texts.setdefault(value, f"{where} (backup.pre's dump)")
        for kind, need in s.needed().items():
            for field, value in need.model_dump().items():
                if field == "claims":  # names of claims (uid, mail, groups), not values
                    continue
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str) and len(v) > 1:
                        texts.setdefault(v, f"{where} (needs.{kind}.{field})")
    return ports, texts


def _leaves(value: Any, at: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{at}.{k}" if at else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{at}[{i}]")
    else:
        yield at, value


_URL_PORT = re.compile(r"://[^/\s:]*:(\d+)")


def restatements(roles_dir: Path, services: dict[str, Service]) -> list[str]:
    ports, texts = declared_values(services)
    found = []
    for f in sorted(p for name in ROLE_FILES for p in roles_dir.glob(f"*/{name}")):
        shown = f.relative_to(roles_dir.parent)
        for var, value in _leaves(yaml.safe_load(f.read_text()) or {}, ""):
            if f.name == "argument_specs.yml" and not var.endswith(".default"):
                continue
            hits: list[str] = []
            if isinstance(value, int) and not isinstance(value, bool) and value in ports:
                hits.append(f"port {value} of {ports[value]}")
            if isinstance(value, str):
                if value.strip().isdigit() and int(value) in ports:
                    hits.append(f"port {value} of {ports[int(value)]}")
                hits += [f"port {m} of {ports[int(m)]}" for m in _URL_PORT.findall(value)
                         if int(m) in ports]
                hits += [f"{t!r} of {w}" for t, w in texts.items()
                         if re.search(rf"(?<![\w./-]){re.escape(t)}(?![\w.-])", value)]
            found += [f"{shown}: {var}: restates {h}" for h in hits]
    return found


# Values that equal a declared one by coincidence, with the reason.
COINCIDENCES = {
    "roles/webmail/defaults/main.yml: webmail_apps[0]": "Horde's base application `horde`",
    "roles/identity/defaults/main.yml: identity_wso2_user": "the system user `wso2`, not the "
    "database of the same name",
    "roles/identity/meta/argument_specs.yml: argument_specs.main.options.identity_wso2_user"
    ".default": "the same system user",
    "roles/identity/defaults/main.yml: identity_lemonldap_refused_text": "the word `staff` in "
    "the page's prose",
}


def test_no_role_restates_a_declared_value() -> None:
    found = [f for f in restatements(paths.ROLES, load_services())
             if f.split(": restates ")[0] not in COINCIDENCES]
    assert not found, ("reference municloud_declarations.<service> instead:\n"
                       + "\n".join(found))


def test_a_restated_port_path_or_need_is_found(tmp_path: Path) -> None:
    """The check itself: a role restating its port, a peer's port, a backup path or its
    database name is reported; references to the declarations are not."""
    roles = tmp_path / "roles"
    (roles / "thing" / "defaults").mkdir(parents=True)
    (roles / "thing" / "vars").mkdir(parents=True)
    services = {
        "thing": Service.model_validate({
            "name": "thing", "summary": "a test", "role": "thing",
            "ports": [{"port": 8443, "from": ["edge"], "purpose": "https-upstream"}],
            "paths": {"data": "/srv/thing"},
            "backup": {"paths": ["/srv/thing", "/var/backups/thing"],
                       "pre": "mariadb-dump --result-file=/var/backups/thing/all.sql"},
            "needs": {"database": {"name": "thingdb"}}}),
        "peer": Service.model_validate({
            "name": "peer", "summary": "a peer", "role": "peer",
            "ports": [{"port": 993, "from": ["services"], "purpose": "imaps"}]}),
    }
    (roles / "thing" / "defaults" / "main.yml").write_text(yaml.safe_dump({
        "thing_port": 8443,
        "thing_peer_url": "imaps://peer.example:993",
        "thing_data": "/srv/thing",
        "thing_dump": "/var/backups/thing/all.sql",
        "thing_db": {"name": "thingdb"},
        "thing_ok_port": "{{ municloud_declarations.thing.port['https-upstream'] }}",
        "thing_ok_data": "{{ municloud_declarations.thing.paths.data }}/sub",
        "thing_ok_other": "/srv/thingamajig",
    }))
    (roles / "thing" / "meta").mkdir()
    (roles / "thing" / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({
        "argument_specs": {"main": {"options": {
            "thing_port": {"type": "int", "default": 8443,
                           "description": "HTTPS port (8443 by default)"}}}}}))
    (roles / "thing" / "vars" / "main.yml").write_text(yaml.safe_dump({
        "__thing_settings": {"server": {"port": "993"}}}))
    found = restatements(roles, services)
    assert [f.split(": restates ")[0] for f in found] == [
        "roles/thing/defaults/main.yml: thing_data",
        "roles/thing/defaults/main.yml: thing_db.name",
        "roles/thing/defaults/main.yml: thing_dump",
        "roles/thing/defaults/main.yml: thing_dump",
        "roles/thing/defaults/main.yml: thing_peer_url",
        "roles/thing/defaults/main.yml: thing_port",
        "roles/thing/meta/argument_specs.yml: argument_specs.main.options.thing_port.default",
        "roles/thing/vars/main.yml: __thing_settings.server.port",
    ], found
    assert "port 993 of roles/peer/meta/service.yml (ports: imaps)" in found[4]


def test_every_dump_lies_in_a_backed_up_path() -> None:
    """A dump written outside the paths borg takes would never be backed up."""
    for s in load_services().values():
        for dump in backup_sets.derive(s.backup.pre).dumps:
            assert any(dump == p or dump.startswith(p.rstrip("/") + "/")
                       for p in s.backup.paths), \
                f"roles/{s.role}/meta/service.yml: backup.pre writes {dump}, " \
                f"outside backup.paths {s.backup.paths}"
