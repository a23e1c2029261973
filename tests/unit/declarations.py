"""Service declarations built in a test (as a roles/<name>/meta/service.yml would hold)."""

from __future__ import annotations

from municloud.core.services import Service


def service(name: str, **extra: object) -> Service:
    data: dict[str, object] = {"name": name, "summary": f"{name} for a test", "role": name}
    data.update(extra)
    return Service.model_validate(data)
