"""WSO2's published OpenAPI files (../shared/reference/wso2-is-api-v1.5.31, third-party,
read-only): find them, and validate a request the role would send against the operation
it targets (path and method must exist; the body must match the operation's request
schema, without read-only fields and without properties the schema does not declare)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import paths
from municloud.identity.wso2_api import API

FOLDER = "wso2-is-api-v1.5.31"
# ../shared/reference beside the clone (as laid for the developers and for CI).
CANDIDATES = (paths.REPO.parent / "shared" / "reference" / FOLDER,)
FILES = {"identity-providers": "idp.yaml", "applications": "applications.yaml",
         "claim-dialects": "claim-management.yaml"}


def reference() -> Path:
    for c in CANDIDATES:
        if (c / "idp.yaml").is_file():
            return c
    pytest.skip(f"WSO2's OpenAPI files are absent (looked in {', '.join(map(str, CANDIDATES))}):"
                " request bodies cannot be validated on this machine")


@cache
def spec(name: str) -> dict[str, Any]:
    # claim-management.yaml has tabs after "<br>" in its descriptions, which YAML refuses
    # there; they carry no meaning, so they are read as spaces.
    data: dict[str, Any] = yaml.safe_load((reference() / name).read_text().replace("\t", " "))
    return data


def _operation(path: str, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    assert path.startswith(API), path
    rel = path[len(API):].split("?", 1)[0]
    top = rel.strip("/").split("/", 1)[0]
    if top not in FILES:
        raise AssertionError(f"{method} {rel}: no such operation (no API for '{top}')")
    doc = spec(FILES[top])
    for template, ops in doc["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/"))) + "/?$"
        if re.match(pattern, rel.replace("{id}", "x")) and method.lower() in ops:
            return doc, ops[method.lower()]
    raise AssertionError(f"{method} {rel}: no such operation in {FILES[top]}")


def request_schema(path: str, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc, op = _operation(path, method)
    if "requestBody" in op:
        body = op["requestBody"]
        if "$ref" in body:
            body = deref(doc, body)
        schema = body["content"]["application/json"]["schema"]
    else:  # Swagger 2.0 (claim management)
        (param,) = [p for p in op.get("parameters", []) if p.get("in") == "body"]
        schema = param["schema"]
    return doc, schema


def node_ref(ref: str) -> list[str]:
    return ref.lstrip("#/").split("/")


def deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node_ref(node["$ref"]):
            target = target[part]
        node = target
    return node


def undeclared(doc: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "") -> list[str]:
    """Properties the body sends that the schema does not declare (typos WSO2 ignores)."""
    schema = deref(doc, schema)
    found: list[str] = []
    for sub in schema.get("allOf", []):
        found += undeclared(doc, sub, value, at)
    if isinstance(value, dict) and "properties" in schema and \
            schema.get("additionalProperties") in (None, False):
        for k, v in value.items():
            if k not in schema["properties"]:
                found.append(f"{at}/{k}")
            else:
                found += undeclared(doc, schema["properties"][k], v, f"{at}/{k}")
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            found += undeclared(doc, schema["items"], v, f"{at}[{i}]")
    return found


def validate(method: str, path: str, body: Any) -> None:
    from openapi_schema_validator import OAS30WriteValidator

    doc, schema = request_schema(path, method)
    root = {**schema, "components": doc.get("components", {}),
            "definitions": doc.get("definitions", {})}
    errors = sorted(OAS30WriteValidator(root).iter_errors(body), key=str)
    assert not errors, f"{method} {path}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
    extra = undeclared(doc, schema, body)
    assert not extra, f"{method} {path}: properties the API does not declare: {extra}"
