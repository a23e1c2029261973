"""Waivers: `inventories/<env>/waivers.yml`, the recorded decisions to accept a control
not being met (where, why, who approved it, until when).

    - control: BASE-SYSCTL-01
      scope: [all]              # host names, service names, or `all`
      reason: ...
      approver: ...
      expires: 2027-06-30

A waiver for a control the catalog does not know, for a scope the topology does not have,
or without an expiry date is refused (exit 2) naming the file and the entry. A waiver
past its expiry date no longer waives anything: the control counts as failed, and the
report says so. `municloud verify` honours the same file (tests/infra/baseline/test_sysctl.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from municloud.core import paths
from municloud.core.controls import catalog
from municloud.core.errors import InvalidInput, Problem

ALL = "all"


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str
    scope: list[str] = Field(min_length=1)
    reason: str = Field(min_length=10)
    approver: str = Field(min_length=2)
    expires: dt.date

    def covers(self, host: str | None, services: tuple[str, ...] = ()) -> bool:
        """Does this waiver's scope include `host` (or one of the services it runs)?"""
        if ALL in self.scope:
            return True
        return host is not None and (host in self.scope or any(s in self.scope
                                                               for s in services))

    def expired(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) > self.expires

    def as_dict(self, today: dt.date | None = None) -> dict[str, object]:
        return {"control": self.control, "scope": list(self.scope), "reason": self.reason,
                "approver": self.approver, "expires": self.expires.isoformat(),
                "expired": self.expired(today)}


def waivers_file(env: str) -> Path:
    return paths.inventories() / env / "waivers.yml"


def load(env: str, *, known_scopes: set[str] | None = None,
         file: Path | None = None) -> list[Waiver]:
    """The environment's waivers, validated (none when the file does not exist).

    `known_scopes`: the host and service names of the topology; a scope outside them (and
    `all`) is refused."""
    f = file or waivers_file(env)
    if not f.exists():
        return []
    shown = str(f.relative_to(paths.REPO)) if f.is_relative_to(paths.REPO) else str(f)
    try:
        entries = yaml.safe_load(f.read_text()) or []
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(shown, "", f"not valid YAML: {exc}")]) from exc
    if not isinstance(entries, list):
        raise InvalidInput([Problem(shown, "", "must be a list of waivers",
                                    "- {control, scope, reason, approver, expires}")])
    known = catalog()
    problems: list[Problem] = []
    found: list[Waiver] = []
    for i, entry in enumerate(entries):
        label = f"[{i}]" + (f" ({entry.get('control')})" if isinstance(entry, dict)
                            and entry.get("control") else "")
        try:
            w = Waiver.model_validate(entry)
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join(map(str, e["loc"]))
                msg = ("a waiver needs an expiry date" if field == "expires"
                       and e["type"] == "missing" else e["msg"])
                problems.append(Problem(shown, f"{label}.{field}", msg,
                                        "expires: YYYY-MM-DD" if field == "expires" else ""))
            continue
        if w.control not in known:
            problems.append(Problem(shown, f"{label}.control",
                                    f"unknown control {w.control}",
                                    "an id from tests/controls/*.yml"))
            continue
        if known_scopes is not None:
            bad = [s for s in w.scope if s != ALL and s not in known_scopes]
            if bad:
                problems.append(Problem(shown, f"{label}.scope",
                                        f"not a host or service of {env}: {', '.join(bad)}",
                                        f"all, or one of {', '.join(sorted(known_scopes))}"))
                continue
        found.append(w)
    if problems:
        raise InvalidInput(problems)
    return found


def waiver_for(waivers: list[Waiver], control: str, host: str | None,
               services: tuple[str, ...] = ()) -> Waiver | None:
    """The waiver of `control` whose scope covers `host` (a valid one before an expired one)."""
    matching = [w for w in waivers if w.control == control and w.covers(host, services)]
    matching.sort(key=lambda w: (w.expired(), -w.expires.toordinal()))
    return matching[0] if matching else None
