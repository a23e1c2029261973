"""Role-contract exercises of `meet`: bad input stops the play before any change, naming
the field."""

from __future__ import annotations

from typing import Any

import pytest

from .. import playbook
from .conftest import Meet


@pytest.mark.exercise
@pytest.mark.control("MEET-INPUT-01")
@pytest.mark.parametrize(("extra", "expected"), [
    pytest.param({"meet_guests_enabled": True, "meet_guest_domain": ""},
                 "meet_guest_domain: missing, and meet_guests_enabled is true",
                 id="guests-no-domain"),
    pytest.param({"meet_turn_secret_generate": False,
                  "meet_turn_secret_file": "/nonexistent/municloud/turn_secret"},
                 "meet_turn_secret_file: missing (/nonexistent/municloud/turn_secret",
                 id="missing-turn-secret"),
    pytest.param({"meet_turn_min_port": 9990, "meet_turn_max_port": 10010},
                 # The relay must lie in the range declared for it (turn-relay), which the
                 # declarations keep apart from every other port: 10000 is outside it.
                 "meet_turn_min_port/meet_turn_max_port: 9990-10010 lies outside the declared "
                 "relay range", id="relay-overlaps-declared-port"),
])
def test_bad_meet_input_stops_before_any_change(meet: Meet, extra: dict[str, Any],
                                                expected: str) -> None:
    rc, out, stats = playbook.run("vendor.yml", meet.host, extra)
    assert rc != 0, out[-3000:]
    assert expected in out, out[-3000:]
    assert all(s.get("changed", 0) == 0 for s in stats.values()), stats
