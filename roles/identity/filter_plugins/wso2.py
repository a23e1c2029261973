"""Filter plugin: the WSO2 management API resources of the identity declaration.

All logic is in `municloud.identity.wso2_api` (validated against WSO2's OpenAPI files in
tests/unit/test_wso2_api.py).
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def wso2_resources(identity: dict[str, Any], secrets: dict[str, str]) -> list[dict[str, Any]]:
    from municloud.identity import wso2_api

    try:
        return [r.as_dict() for r in wso2_api.resources(identity, secrets)]
    except KeyError as exc:
        raise AnsibleFilterError(f"wso2_resources: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wso2_resources": wso2_resources}
