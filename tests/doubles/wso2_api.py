"""A test double of WSO2 Identity Server's management REST API (tests only).

It keeps identity providers, applications and claims in memory, answers the look-ups the
module `wso2_resource` makes, and refuses (HTTP 400) any write whose body does not match
WSO2's published OpenAPI description of that operation (tests/unit/wso2_openapi.py).
`writes` records every write, so a test sees that a second run sends none.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from municloud.identity.wso2_api import API

Validator = Any  # (method, path, body) -> None, raises AssertionError


class HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"HTTP {code}: {message}")
        self.code = code


@dataclass
class Wso2Api:
    validate: Validator
    idps: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if method != "GET":
            try:
                self.validate(method, path, body)
            except AssertionError as exc:
                raise HTTPError(400, str(exc)) from exc
            self.writes.append(f"{method} {path}")
        url = urlsplit(path)
        rel = url.path[len(API):]
        name = (parse_qs(url.query).get("filter") or [""])[0]
        m = re.match(r"^name eq (.+)$", unquote(name))
        wanted = m.group(1) if m else None
        if rel == "/identity-providers":
            return self._collection(self.idps, "identityProviders", method, body, wanted)
        if rel == "/applications":
            return self._collection(self.apps, "applications", method, body, wanted)
        if m := re.match(r"^/(identity-providers|applications)/([^/]+)(/.*)?$", rel):
            store = self.idps if m.group(1) == "identity-providers" else self.apps
            return self._update(store, m.group(2), m.group(3) or "", method, body)
        if m := re.match(r"^/claim-dialects/([^/]+)/claims(?:/([^/]+))?$", rel):
            dialect = self.claims.setdefault(m.group(1), {})
            if method == "GET":
                return 200, list(copy.deepcopy(dialect).values())
            if method == "POST":
                if any(c["claimURI"] == body["claimURI"] for c in dialect.values()):
                    raise HTTPError(409, "claim exists")
                cid = str(next(self.ids))
                dialect[cid] = {"id": cid, **copy.deepcopy(body)}
                return 201, None
            if method == "PUT" and m.group(2) in dialect:
                dialect[m.group(2)] = {"id": m.group(2), **copy.deepcopy(body)}
                return 200, None
        raise HTTPError(404, f"{method} {path}")

    def _collection(self, store: dict[str, dict[str, Any]], key: str, method: str, body: Any,
                    wanted: str | None) -> tuple[int, Any]:
        if method == "GET":
            items = [{"id": i, "name": r["name"], "description": r.get("description", "")}
                     for i, r in store.items() if wanted in (None, r["name"])]
            return 200, {"totalResults": len(items), key: items}
        if method == "POST":
            if any(r["name"] == body["name"] for r in store.values()):
                raise HTTPError(409, "exists")
            store[str(next(self.ids))] = copy.deepcopy(body)
            return 201, None
        raise HTTPError(405, method)

    def _update(self, store: dict[str, dict[str, Any]], rid: str, sub: str, method: str,
                body: Any) -> tuple[int, Any]:
        if rid not in store:
            raise HTTPError(404, rid)
        res = store[rid]
        if method == "PATCH" and not sub:
            if isinstance(body, list):  # identity providers: JSON-patch-like operations
                for op in body:
                    res[op["path"].strip("/")] = op["value"]
            else:
                res.update(copy.deepcopy(body))
            return 200, None
        if method == "PUT" and sub:
            res[sub] = copy.deepcopy(body)
            return 200, None
        raise HTTPError(405, f"{method} {sub}")


class Client:
    """Stands in for the module's HTTP client: same call(), answered by the double."""

    def __init__(self, api: Wso2Api) -> None:
        self.api = api

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.api.call(method, path, body)
