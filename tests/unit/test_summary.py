"""The summary reads what roles record on hosts, one-line or pretty-printed JSON."""

from __future__ import annotations

import json
from typing import Any

from municloud.core import topology
from municloud.deploy import summary
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


def test_meet_and_files_show_each_part_with_its_state_and_why(monkeypatch: Any) -> None:
    """Issue 13: the summary names every part of meet and files, deployed or not, and why
    (what the roles record on the hosts: one file per part)."""
    recorded = {
        "meet1": {
            "meet-prosody": {"service": "meet", "component": "meet-prosody",
                             "status": "deployed", "reason": "XMPP: secure domain ..."},
            "meet-coturn": {"service": "meet", "component": "meet-coturn",
                            "status": "deployed", "version": "coturn 4.6.1"},
            "jitsi": {"service": "meet", "component": "jitsi", "status": "not deployed",
                      "reason": "artifact unavailable: jitsi (2.0.9823)"},
        },
        "files1": {
            "ocis": {"service": "files", "component": "ocis", "status": "not deployed",
                     "reason": "artifact unavailable: ocis (7.1.2)"},
        },
    }
    monkeypatch.setattr(summary, "service_records",
                        lambda env, host: recorded.get(host, {}))
    rows = summary.service_rows(topology.load("lab"))
    meet = [r for r in rows if r[0] == "meet1" and r[1].startswith("meet")]
    assert meet == [
        ("meet1", "meet/jitsi", "NOT DEPLOYED", "artifact unavailable: jitsi (2.0.9823)"),
        ("meet1", "meet/meet-coturn", "deployed", "coturn 4.6.1"),
        ("meet1", "meet/meet-prosody", "deployed", "XMPP: secure domain ..."),
    ]
    assert [r for r in rows if r[0] == "files1" and r[1].startswith("files")] == [
        ("files1", "files/ocis", "NOT DEPLOYED", "artifact unavailable: ocis (7.1.2)")]
