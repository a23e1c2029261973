"""The report as JUnit XML for CI dashboards: one test case per control; a failure for
`fail`, a skip (with the status and reason) for everything that neither passed nor failed,
the evidence in system-out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from municloud.audit.report_model import ControlResult, Report


def _evidence(c: ControlResult) -> str:
    return "\n".join(f"[{e.outcome}] {e.layer} {e.where} {e.when}: {e.check}\n{e.excerpt}"
                     for e in c.evidence)


def render(report: Report) -> str:
    suites = ET.Element("testsuites", name=f"municloud audit {report.environment}")
    suite = ET.SubElement(suites, "testsuite", name=f"municloud audit {report.environment}",
                          timestamp=report.generated, time=str(report.seconds),
                          tests=str(len(report.controls)),
                          failures=str(len(report.failed)), errors="0",
                          skipped=str(sum(1 for c in report.controls
                                          if c.status not in ("pass", "fail"))))
    props = ET.SubElement(suite, "properties")
    for name, value in (("commit", report.commit), ("municipality", report.municipality)):
        ET.SubElement(props, "property", name=name, value=value)
    for c in report.controls:
        case = ET.SubElement(suite, "testcase", classname=f"controls.{c.id.split('-')[0]}",
                             name=f"{c.id} {c.title}", time="0")
        if c.status == "fail":
            f = ET.SubElement(case, "failure", message=c.reason[:500], type="control failed")
            f.text = _evidence(c)
        elif c.status != "pass":
            ET.SubElement(case, "skipped", message=f"{c.status}: {c.reason}"[:500])
        out = ET.SubElement(case, "system-out")
        out.text = _evidence(c)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
