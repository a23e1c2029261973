"""The report as one self-contained HTML page: no external assets, printable, filterable
by status and framework (a little inline JavaScript), the per-framework summary as an
inline SVG chart."""

from __future__ import annotations

from pathlib import Path

import jinja2

from municloud.audit.report_model import STATUSES, Report

TEMPLATE = Path(__file__).with_name("templates") / "report.html.j2"
COLORS = {"pass": "#2e7d32", "fail": "#c62828", "waived": "#f9a825",
          "not applicable": "#90a4ae", "not deployed": "#6a1b9a", "not run": "#546e7a"}
BAR_WIDTH = 520


def chart(report: Report) -> list[dict[str, object]]:
    """Bars of the SVG: per framework, one segment per status, widths in pixels."""
    bars = []
    for i, (fw, counts) in enumerate(report.summary.frameworks.items()):
        total = sum(counts.values()) or 1
        x = 0.0
        segments = []
        for s in STATUSES:
            n = counts.get(s, 0)
            if n:
                w = BAR_WIDTH * n / total
                segments.append({"x": round(x, 1), "w": round(w, 1), "status": s, "n": n,
                                 "color": COLORS[s]})
                x += w
        bars.append({"framework": fw, "y": 10 + i * 34, "total": sum(counts.values()),
                     "segments": segments})
    return bars


def render(report: Report) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE.name).render(
        r=report, statuses=STATUSES, colors=COLORS, bars=chart(report), bar_width=BAR_WIDTH,
        frameworks=list(report.summary.frameworks))
