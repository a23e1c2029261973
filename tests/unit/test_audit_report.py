"""The compliance report (`municloud audit ENV`) without hosts: completeness, the JSON
schema, JUnit, waivers, history and the report's own secrets check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import junitparser
import pytest

from municloud import cli
from municloud.audit import assemble, history, render_junit, report_cmd, secrets_scan, waivers
from municloud.audit.report_model import SCHEMA_VERSION, json_schema
from municloud.core import paths
from municloud.core.controls import catalog
from municloud.core.errors import InvalidInput

from .audit_builders import evidence, report, waiver, write

SCHEMA = paths.REPO / "municloud" / "audit" / "report.schema.json"


@pytest.mark.control("BASE-CAT-01")
def test_the_report_holds_every_catalog_control() -> None:
    r = report()
    assert assemble.missing_controls(r) == []
    assert {c.id for c in r.controls} == set(catalog())
    for c in r.controls:
        assert c.status and (c.evidence or c.reason), c.id
    # The check itself can fail: drop one control and it is named.
    dropped = r.model_copy(update={"controls": r.controls[1:]})
    assert assemble.missing_controls(dropped) == [r.controls[0].id]


@pytest.mark.control("BASE-CAT-01")
def test_lab_has_no_cloud_and_no_stack() -> None:
    r = report("lab")
    for cid in ("CLOUD-DRIFT-01", "CLOUD-NET-01"):
        c = r.control(cid)
        assert c.status == "not applicable"
        assert "no cloud" in c.reason
    assert {layer.layer: layer.state for layer in r.layers}["cloud"] == "not applicable"


def test_plan_layer_judges_the_mocked_program() -> None:
    from municloud.audit import collect
    from municloud.core import topology

    g = collect.plan(topology.load("production"), None)
    assert g.layers[0].state == "ran" and "resources judged" in g.layers[0].detail
    net = g.evidence["CLOUD-NET-01"]
    assert [e.outcome for e in net] == ["pass"], net


def test_json_validates_against_the_checked_in_schema() -> None:
    assert json.loads(SCHEMA.read_text()) == json_schema(), (
        "report.schema.json is stale: regenerate it with "
        "`python -c 'import json; from municloud.audit.report_model import json_schema; "
        "print(json.dumps(json_schema(), indent=1))' > municloud/audit/report.schema.json`")
    schema = json.loads(SCHEMA.read_text())
    doc = json.loads(report_cmd.render(report())["json"])
    assert doc["schema_version"] == SCHEMA_VERSION
    jsonschema.validate(doc, schema)
    doc["controls"][0]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_junit_is_read_back_by_a_junit_parser(tmp_path: Path) -> None:
    r = report(outcomes={"BASE-SSH-01": [evidence("fail", excerpt="PasswordAuthentication yes")]})
    f = write(tmp_path / "r.xml", render_junit.render(r))
    xml = junitparser.JUnitXml.fromfile(str(f))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [c for s in suites for c in s]
    assert len(cases) == len(r.controls)
    failed = [c for c in cases if any(isinstance(x, junitparser.Failure) for x in c.result)]
    assert [c.name.split()[0] for c in failed] == ["BASE-SSH-01"]
    assert "PasswordAuthentication yes" in failed[0].result[0].text
    skipped = [c for c in cases if any(isinstance(x, junitparser.Skipped) for x in c.result)]
    assert len(skipped) == sum(1 for c in r.controls if c.status not in ("pass", "fail"))


def test_a_valid_waiver_waives_and_an_expired_one_fails() -> None:
    fail = {"BASE-SYSCTL-01": [evidence("fail", excerpt="kernel.kptr_restrict 0")]}
    ok = report(outcomes=fail, waivers=[waiver(expires="2099-01-01")])
    c = ok.control("BASE-SYSCTL-01")
    assert c.status == "waived" and c.waiver is not None and c.waiver.expires == "2099-01-01"
    assert ok.waivers[0].control == "BASE-SYSCTL-01"
    expired = report(outcomes=fail, waivers=[waiver(expires="2020-01-01")])
    c = expired.control("BASE-SYSCTL-01")
    assert c.status == "fail" and c.waiver is not None and c.waiver.expired
    assert any("expired on 2020-01-01" in e.excerpt for e in c.evidence)
    # Even a passing check does not hide that the waiver ran out.
    passing = report(waivers=[waiver(expires="2020-01-01")])
    assert passing.control("BASE-SYSCTL-01").status == "fail"


def test_a_waiver_scope_covers_only_its_hosts() -> None:
    fail = {"BASE-SSH-03": [evidence("fail", where="db1"), evidence("fail", where="backup1")]}
    r = report(outcomes=fail, waivers=[waiver("BASE-SSH-03", scope=["db1"])])
    c = r.control("BASE-SSH-03")
    assert c.hosts == {"backup1": "fail", "db1": "waived"} and c.status == "fail"


def _inventories(tmp_path: Path, text: str) -> Path:
    inv = tmp_path / "inventories"
    shutil.copytree(paths.INVENTORIES / "lab", inv / "lab")
    write(inv / "lab" / "waivers.yml", text)
    return inv


@pytest.mark.parametrize(("text", "expected"), [
    ("- {control: NOPE-01, scope: [all], reason: because of reasons, approver: me, "
     "expires: 2099-01-01}\n", "[0] (NOPE-01).control: unknown control NOPE-01"),
    ("- {control: BASE-SSH-01, scope: [all], reason: because of reasons, approver: me}\n",
     "[0] (BASE-SSH-01).expires: a waiver needs an expiry date"),
    ("- {control: BASE-SSH-01, scope: [nohost], reason: because of reasons, approver: me, "
     "expires: 2099-01-01}\n", "[0] (BASE-SSH-01).scope: not a host or service of lab: nohost"),
])
def test_bad_waivers_are_refused_naming_file_and_entry(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str],
                                                       text: str, expected: str) -> None:
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(_inventories(tmp_path, text)))
    with pytest.raises(InvalidInput) as exc:
        waivers.load("lab", known_scopes={"db1", "backup1"})
    assert expected in str(exc.value) and "waivers.yml" in str(exc.value)
    # The command refuses before collecting anything: exit 2, the same message.
    assert cli.main(["audit", "lab", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(tmp_path / "inventories" / "lab" / "waivers.yml") in err
    assert not (tmp_path / "out").exists()


def test_the_lab_waivers_file_is_valid() -> None:
    loaded = waivers.load("lab")
    assert [w.control for w in loaded] == ["BASE-SYSCTL-01"]
    assert not loaded[0].expired()


def test_history_names_new_failures_fixed_and_changed_evidence() -> None:
    before = report(outcomes={"BASE-SSH-01": [evidence("fail", excerpt="password yes")],
                              "BASE-FW-02": [evidence("fail", excerpt="port 8080")]})
    now = report(outcomes={"BASE-SSH-02": [evidence("fail", excerpt="root login")],
                           "BASE-FW-02": [evidence("fail", excerpt="port 9090")]})
    c = history.compare(before, now, "earlier.json")
    assert c.new_failures == ["BASE-SSH-02"]
    assert c.fixed == ["BASE-SSH-01"]
    assert c.changed_evidence == ["BASE-FW-02"]
    assert c.changed_status == {"BASE-SSH-01": ["fail", "pass"], "BASE-SSH-02": ["pass", "fail"]}
    # Passing checks whose timings differ are not "changed evidence".
    assert history.compare(now, report(outcomes={
        "BASE-SSH-02": [evidence("fail", excerpt="root login")],
        "BASE-FW-02": [evidence("fail", excerpt="port 9090")]}), "x").changed_evidence == []


def test_since_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    f = write(tmp_path / "old.json", json.dumps({"environment": "lab"}))
    with pytest.raises(InvalidInput, match=r"old\.json"):
        history.load(f)


def _store(tmp_path: Path) -> list[secrets_scan.Secret]:
    write(tmp_path / "db" / "horde.password", "Xq8-very-secret-value-41\n")
    write(tmp_path / "pki" / "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIBpublicpublicpublic\n")
    return secrets_scan.load("lab", store=tmp_path)


@pytest.mark.control("SEC-RPT-01")
def test_secrets_are_masked_in_the_report_and_the_report_is_searched(tmp_path: Path) -> None:
    secrets = _store(tmp_path / "store")
    assert [s.name for s in secrets] == ["db/horde.password"]  # certificates are public
    leaky = {"BASE-SSH-01": [evidence("fail", excerpt="mysql -pXq8-very-secret-value-41")]}
    r = report(outcomes=leaky, secrets=secrets)
    assert "Xq8-very-secret-value-41" not in r.model_dump_json()
    assert secrets_scan.MASK in r.control("BASE-SSH-01").evidence[0].excerpt
    judged = assemble.judge_secrets_in_report(r, report_cmd.render(r), secrets)
    assert judged.control("SEC-RPT-01").status == "pass"
    # The search can fail: an unmasked value in a rendered form fails the control,
    # naming the secret's file in the store and never its value.
    rendered = {**report_cmd.render(r), "html": "<p>Xq8-very-secret-value-41</p>"}
    judged = assemble.judge_secrets_in_report(r, rendered, secrets)
    c = judged.control("SEC-RPT-01")
    assert c.status == "fail" and "db/horde.password in report.html" in c.reason
    assert "Xq8-very-secret-value-41" not in judged.model_dump_json()


@pytest.mark.control("SEC-GIT-01")
def test_git_search_finds_a_planted_secret_without_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import subprocess

    secrets = _store(tmp_path / "store")
    repo = tmp_path / "repo"
    write(repo / "group_vars" / "all.yml", "password: Xq8-very-secret-value-41\n")
    write(repo / "README", "nothing here\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    hits = secrets_scan.in_git(secrets, repo)
    assert {(h.secret, h.where) for h in hits} == {("db/horde.password", "git:group_vars/all.yml")}
    out = capsys.readouterr()
    assert "Xq8" not in out.out + out.err
    (repo / "group_vars" / "all.yml").write_text("password: '{{ lookup(...) }}'\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    assert secrets_scan.in_git(secrets, repo) == []


def test_formats_are_checked() -> None:
    assert report_cmd.parse_formats("json,html") == ["json", "html"]
    with pytest.raises(Exception, match="allowed: a comma-separated list of html, json, junit"):
        report_cmd.parse_formats("pdf")


def test_plan_layer_reads_a_saved_preview(tmp_path: Path) -> None:
    """A `pulumi preview --json` document (steps with newState) judged by the same rules: a
    volume switched to the unencrypted type fails CLOUD-DATA-02, nothing else."""
    from municloud.audit import collect, plan
    from municloud.core import topology

    topo = topology.load("production")
    resources = plan.mocked_resources(topo)
    steps = [{"op": "create", "urn": r.urn, "newState": {
        "type": r.resource_type, "urn": r.urn, "id": r.id, "inputs": dict(r.props)}}
        for r in resources]
    f = write(tmp_path / "preview.json", json.dumps({"steps": steps}, default=str))
    g = collect.plan(topo, f)
    assert {c: [e.outcome for e in evs] for c, evs in g.evidence.items()
            if any(e.outcome != "pass" for e in evs)} == {}
    vol = next(s for s in steps if s["newState"]["type"].endswith("volume:Volume")
               and "db1" in s["urn"])
    vol["newState"]["inputs"]["volumeType"] = "ceph-ssd"
    f.write_text(json.dumps({"steps": steps}, default=str))
    failing = {c: [e.excerpt for e in evs if e.outcome == "fail"]
               for c, evs in collect.plan(topo, f).evidence.items()}
    assert {c for c, ex in failing.items() if ex} == {"CLOUD-DATA-02"}
    assert "db1" in failing["CLOUD-DATA-02"][0]
    with pytest.raises(InvalidInput, match="no resources in the preview"):
        collect.plan(topo, write(tmp_path / "empty.json", '{"steps": []}'))
