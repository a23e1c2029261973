"""Declared unit settings (`unit_settings:` of a service's meta/service.yml): what the
baseline's restart drop-in sets besides the restart policy, validated before any change."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from municloud.core import services
from municloud.core.services import load_services

from .declarations import service


def _role(root: Path, name: str, body: str) -> None:
    d = root / name / "meta"
    d.mkdir(parents=True)
    (d / "service.yml").write_text(body)


@pytest.mark.control("BASE-SVC-01")
def test_settings_of_declared_units_reach_the_host(tmp_path: Path) -> None:
    _role(tmp_path, "a", "name: a\nsummary: s\nunits: [a.service, w.service]\n"
                         "unit_settings:\n  a.service: {stop_timeout: 15s, kill_mode: mixed}\n")
    _role(tmp_path, "b", "name: b\nsummary: s\nunits: [b.service, w.service]\n"
                         "unit_settings:\n  b.service: {pid_file: /run/b.pid}\n"
                         "  w.service: {stop_timeout: 20s}\n")
    load_services.cache_clear()
    try:
        got = services.host_unit_settings(["a", "b"], tmp_path)
        only_a = services.host_unit_settings(["a"], tmp_path)
    finally:
        load_services.cache_clear()
    assert got == {"a.service": {"stop_timeout": "15s", "kill_mode": "mixed"},
                   "b.service": {"pid_file": "/run/b.pid"},
                   "w.service": {"stop_timeout": "20s"}}
    assert only_a == {"a.service": {"stop_timeout": "15s", "kill_mode": "mixed"}}


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize(("settings", "says"), [
    ({"other.service": {"stop_timeout": "15s"}}, "not one of the service's units"),
    ({"a.service": {"stop_timeout": "soon"}}, "stop_timeout"),
    ({"a.service": {"kill_mode": "all"}}, "kill_mode"),
    ({"a.service": {"pid_file": "run/a.pid"}}, "pid_file"),
    ({"a.service": {"restart": "always"}}, "restart"),
], ids=["unknown-unit", "bad-timeout", "bad-kill-mode", "relative-pid-file", "unknown-field"])
def test_bad_unit_settings_are_refused(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        service("a", units=["a.service"], unit_settings=settings)


def test_the_declared_units_of_the_repository_have_valid_settings() -> None:
    """Every declaration's unit_settings name one of its own units (load_services
    validates them); the lab's mail host gets postfix's PID file."""
    declared = load_services()
    assert declared["mail"].unit_settings["postfix@-.service"].pid_file
    assert all(set(s.unit_settings) <= set(s.units) for s in declared.values())
