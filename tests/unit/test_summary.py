"""The summary reads what roles record on hosts, one-line or pretty-printed JSON."""

from __future__ import annotations

import json

from municloud.deploy.summary import SEPARATOR, parse_records


def test_records_in_both_json_layouts_are_read() -> None:
    one_line = json.dumps({"service": "identity", "component": "wso2is",
                           "status": "not deployed", "reason": "artifact unavailable"})
    pretty = json.dumps({"service": "webmail", "status": "deployed"}, indent=4)
    text = f"{one_line}\n{SEPARATOR}\n{pretty}\n{SEPARATOR}\nnot json\n{SEPARATOR}\n[1]\n"
    records = parse_records(text)
    assert set(records) == {"wso2is", "webmail"}
    assert records["wso2is"]["status"] == "not deployed"
    assert records["webmail"]["status"] == "deployed"


def test_no_records() -> None:
    assert parse_records("") == {}
