#!/usr/bin/python3
"""Ansible module: converge resources of WSO2 Identity Server's management REST API.

The bodies are built on the controller (municloud.identity.wso2_api, through the role's
filter plugin `wso2_resources`); this module only looks each resource up by name,
creates it when absent, sends its updates when its revision (or, for claims, one of the
compared fields) differs, and sends nothing otherwise.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

DOCUMENTATION = r"""
module: wso2_resource
short_description: Converge WSO2 Identity Server management API resources
description:
  - Looks each resource up by name; creates it when absent; updates it when the
    declaration's revision differs from the one it carries; otherwise sends nothing.
  - Check mode reports what would change and sends only the look-ups.
options:
  base_url:
    description: Server URL, e.g. https://127.0.0.1:9443 (the paths carry /t/<tenant>/api).
    type: str
    required: true
  username:
    description: Administrator of the management API (HTTP Basic).
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
    no_log: true
  ca_path:
    description: CA bundle the server's certificate chains to.
    type: path
    required: true
  resources:
    description: Resources from the filter wso2_resources (kind, name, lookup, create, updates...).
    type: list
    elements: dict
    required: true
  timeout:
    description: Seconds per request.
    type: int
    default: 30
"""

RETURN = r"""
actions:
  description: What happened to each resource (created, updated, unchanged).
  type: list
  returned: always
"""


class ApiError(Exception):
    pass


class Client:
    def __init__(self, base_url: str, username: str, password: str, ca_path: str | None,
                 timeout: int = 30) -> None:
        self.base = base_url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self.context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise ApiError(f"{method} {path}: HTTP {exc.code} {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"{method} {path}: {exc}") from exc


def _items(answer: Any, list_key: str) -> list[dict[str, Any]]:
    if list_key:
        answer = (answer or {}).get(list_key) or []
    return [i for i in answer or [] if isinstance(i, dict)]


def _current(item: dict[str, Any], res: dict[str, Any]) -> bool:
    if res["revision"]:
        return f"(revision {res['revision']})" in (item.get("description") or "")
    return all(item.get(k) == v for k, v in (res.get("compare") or {}).items())


def converge(client: Client, resources: list[dict[str, Any]],
             check_mode: bool = False) -> list[dict[str, str]]:
    actions = []
    for res in resources:
        _, answer = client.call("GET", res["lookup"])
        found = [i for i in _items(answer, res["list_key"])
                 if i.get(res["match_key"]) == res["name"]]
        if not found:
            action = "created"
            if not check_mode:
                client.call(res["create"]["method"], res["create"]["path"], res["create"]["body"])
        elif _current(found[0], res):
            action = "unchanged"
        else:
            action = "updated"
            if not check_mode:
                for up in res["updates"]:
                    client.call(up["method"], up["path"].replace("{id}", str(found[0]["id"])),
                                up["body"])
        actions.append({"kind": res["kind"], "name": res["name"], "action": action})
    return actions


def main() -> None:
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "base_url": {"type": "str", "required": True},
            "username": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "ca_path": {"type": "path", "required": True},
            "resources": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True)
    p = module.params
    client = Client(p["base_url"], p["username"], p["password"], p["ca_path"], p["timeout"])
    try:
        actions = converge(client, p["resources"], module.check_mode)
    except ApiError as exc:
        module.fail_json(msg=f"WSO2 management API: {exc}")
    module.exit_json(changed=any(a["action"] != "unchanged" for a in actions), actions=actions)


if __name__ == "__main__":
    main()
