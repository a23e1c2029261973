"""Every task that touches a secret has `no_log: true` (issue 17, item 3).

A static scan of `roles/*/tasks/*.yml`, `roles/*/handlers/*.yml` and the playbooks' plays:
a task whose arguments (module arguments, vars, environment, loop; not its name or
conditions) reference, inside a Jinja expression, a secret-ish variable (one ending in
password, secret, token, passphrase, private_key, password_hash, ...) or a lookup that
yields one (`password`, `unvault`, or `file` of a path naming a secret or key) must say
`no_log: true`: Ansible prints a task's arguments and results on failure and with -v.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from municloud.core import paths

# Task keywords that Ansible never prints as the task's arguments.
NOT_ARGS = {"name", "when", "changed_when", "failed_when", "until", "register", "tags",
            "no_log", "notify", "listen", "check_mode", "delegate_to", "run_once", "become",
            "become_user", "loop_control", "retries", "delay", "block", "rescue", "always"}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
IDENT = re.compile(r"[A-Za-z_][\w.]*")
SECRET_NAME = re.compile(r"(^|[._])(password|passwords|passwd|secret|secrets|token|tokens|"
                         r"passphrase|privkey|private_key|password_hash|password_hashes)$",
                         re.I)
NOT_SECRET = {"ansible_facts.getent_passwd"}  # the passwd database: names and uids
LOOKUP = re.compile(r"lookup\(\s*['\"](?:ansible\.builtin\.|community\.general\.)?"
                    r"(password|unvault|file|passwordstore|hashi_vault)['\"](.*?)\)", re.S)
SECRET_PATH = re.compile(r"secret|key|password|token|passphrase", re.I)

# Reviewed exceptions: (file, task name) -> why printing the task's arguments leaks nothing.
EXEMPT = {
    ("roles/directory/tasks/validate_people.yml", "Check the people and groups before any change"):
        "checks the shape of password_hash and whether a password file exists; its messages "
        "name fields and paths, never a value (no_log would hide the validation errors)",
}


def _strings(v: Any) -> Iterator[str]:
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def _tasks(items: Any) -> Iterator[dict[str, Any]]:
    for t in items or []:
        if not isinstance(t, dict):
            continue
        if any(k in t for k in ("block", "rescue", "always")):
            for k in ("block", "rescue", "always"):
                yield from _tasks(t.get(k))
        else:
            yield t


def secret_references(task: dict[str, Any]) -> set[str]:
    """The secret-ish variables and lookups a task's arguments reference."""
    found: set[str] = set()
    for key, value in task.items():
        if key in NOT_ARGS:
            continue
        for text in _strings(value):
            for expr in JINJA.findall(text):
                for m in LOOKUP.finditer(expr):
                    if m.group(1) != "file" or SECRET_PATH.search(m.group(2)):
                        found.add(f"lookup('{m.group(1)}', ...)")
                found.update(w for w in IDENT.findall(expr)
                             if SECRET_NAME.search(w) and w not in NOT_SECRET)
    return found


def task_files() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for f in sorted([*paths.ROLES.glob("*/tasks/*.yml"), *paths.ROLES.glob("*/handlers/*.yml")]):
        yield str(f.relative_to(paths.REPO)), list(_tasks(yaml.safe_load(f.read_text())))
    for f in sorted(paths.PLAYBOOKS.glob("*.yml")):
        plays = yaml.safe_load(f.read_text()) or []
        tasks = [t for play in plays if isinstance(play, dict)
                 for section in ("pre_tasks", "tasks", "post_tasks", "handlers")
                 for t in _tasks(play.get(section))]
        yield str(f.relative_to(paths.REPO)), tasks


def test_every_task_touching_a_secret_has_no_log() -> None:
    leaks = []
    for shown, tasks in task_files():
        for t in tasks:
            refs = secret_references(t)
            if refs and t.get("no_log") is not True and (shown, t.get("name")) not in EXEMPT:
                leaks.append(f"{shown}: task {t.get('name')!r} references "
                             f"{', '.join(sorted(refs))}")
    assert leaks == [], "tasks touching a secret without no_log: true:\n" + "\n".join(leaks)


def test_exemptions_still_exist() -> None:
    names = {(shown, t.get("name")) for shown, tasks in task_files() for t in tasks}
    assert set(EXEMPT) <= names, "an exempted task was renamed or removed: drop its exemption"


@pytest.mark.parametrize(("task", "expected"), [
    ({"ansible.builtin.command": {"argv": ["x"]},
      "stdin": "{{ lookup('ansible.builtin.password', webmail_ldap_password_lookup) }}"},
     {"lookup('password', ...)", "ansible.builtin.password"}),
    ({"ansible.builtin.copy": {"content": "{{ __db_password }}", "dest": "/x"}},
     {"__db_password"}),
    ({"ansible.builtin.copy": {"content": "{{ lookup('file', municloud_secrets_dir ~ '/a.key') }}",
                               "dest": "/x"}}, {"lookup('file', ...)"}),
    ({"ansible.builtin.shell": "x", "environment": {"TOKEN": "{{ api_token }}"}}, {"api_token"}),
    ({"ansible.builtin.debug": {"msg": "{{ item }}"}, "loop": "{{ directory_secrets }}"},
     {"directory_secrets"}),
    # Not secrets: a directory of secrets, public keys, file paths, conditions, names.
    ({"ansible.builtin.file": {"path": "{{ municloud_secrets_dir }}/pki", "state": "directory"},
      "when": "webmail_password is defined", "name": "Handle the password"}, set()),
    ({"ansible.posix.authorized_key": {"key": "{{ item.ssh_keys | join('\n') }}"}}, set()),
    ({"ansible.builtin.copy": {"content": "{{ lookup('file', 'ca.crt') }}", "dest": "/x"}}, set()),
], ids=["password-lookup", "password-var", "key-file-lookup", "token-env", "secret-loop",
        "not-args", "public-keys", "public-file"])
def test_the_scan_finds_secrets_and_only_secrets(task: dict[str, Any], expected: set[str]) -> None:
    assert secret_references(task) == expected
