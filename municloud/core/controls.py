"""The compliance control catalog: `tests/controls/*.yml`, one file per area, one catalog.

Each control: id, title, rationale, references (CIS Debian Linux 12 Benchmark, ISO/IEC
27001:2022 Annex A, NIS2 Art. 21(2)), and where it is checked (`checked_by`: plan =
Pulumi policy, host = testinfra, cloud = live audit, unit = offline test).
Tests name the controls they evidence with `@pytest.mark.control("ID", ...)`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from municloud.core import paths
from municloud.core.errors import InvalidInput, Problem

CATALOG_DIR = paths.TESTS / "controls"


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    rationale: str
    references: list[str]
    checked_by: list[Literal["plan", "host", "cloud", "unit"]]


@cache
def catalog(directory: Path = CATALOG_DIR) -> dict[str, Control]:
    found: dict[str, Control] = {}
    problems: list[Problem] = []
    for f in sorted(directory.glob("*.yml")):
        shown = f"tests/controls/{f.name}"
        entries = yaml.safe_load(f.read_text()) or []
        for i, entry in enumerate(entries):
            try:
                c = Control.model_validate(entry)
            except ValidationError as exc:
                problems.extend(Problem(shown, f"[{i}].{'.'.join(map(str, e['loc']))}", e["msg"])
                                for e in exc.errors())
                continue
            if c.id in found:
                problems.append(Problem(shown, f"[{i}].id", f"duplicate control id {c.id}",
                                        "unique ids across tests/controls/"))
            found[c.id] = c
    if problems:
        raise InvalidInput(problems)
    return found
