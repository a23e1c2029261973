"""`municloud diagram`: the drawing names every host and draws the declared flows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from municloud.cli import main
from municloud.core import topology
from municloud.diagram import estate

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is missing: run scripts/bootstrap")


@pytest.fixture(scope="module")
def lab() -> topology.Topology:
    return topology.load("lab")


def _svg_texts(svg: str) -> set[str]:
    return {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}


@needs_dot
def test_the_command_draws_every_host_in_svg_and_png(lab: topology.Topology,
                                                     tmp_path: Path) -> None:
    assert main(["diagram", "lab", "--out", str(tmp_path)]) == 0
    svg = (tmp_path / "lab.svg").read_text()
    texts = _svg_texts(svg)
    for h in lab.hosts:
        assert h.name in texts, f"{h.name} is not drawn"
        assert any(str(h.address) in t for t in texts), f"{h.address} is not drawn"
    for net in lab.networks:
        assert any(net.cidr in t for t in texts), f"tier {net.name} is not drawn"
    png = (tmp_path / "lab.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_flows_follow_the_rules_and_requirements(lab: topology.Topology) -> None:
    flows = {(f.src, f.dst, f.kind): f.ports for f in estate.flows(lab)}
    # What the internet reaches: the edge's web ports and mail's, nothing in the data tier.
    assert flows[(estate.INTERNET, "edge1", "internet")] == ("80/tcp", "443/tcp")
    assert "25/tcp" in flows[(estate.INTERNET, "mail1", "internet")]
    assert not [k for k in flows if k[0] == estate.INTERNET and k[1] in ("db1", "dir1")]
    # Requirements and needs carry the provider's ports whose rules admit the consumer.
    assert flows[("webmail1", "db1", "requires")] == ("3306/tcp",)
    assert flows[("webmail1", "mail1", "requires")] == ("587/tcp", "993/tcp")
    why = {(f.src, f.dst): f.why for f in estate.flows(lab)}
    assert why[("webmail1", "db1")] == ("database",)
    assert why[("webmail1", "mail1")] == ("mail relay",)
    assert flows[("mail1", "dir1", "requires")] == ("389/tcp", "636/tcp")
    # The edge proxies to each published service's upstream port.
    assert flows[("edge2", "webmail1", "publish")] == ("443/tcp",)
    # Stateful hosts send their backups to the backup server.
    assert ("db1", "backup1", "backup") in flows


def test_a_requirement_no_rule_allows_is_drawn_as_refused(lab: topology.Topology) -> None:
    from municloud.core.services import load_services

    declared = dict(load_services())
    # db accepts only the services tier; a mail host (edge tier) requiring it is refused.
    declared["mail"] = declared["mail"].model_copy(update={"requires": ["directory", "db"]})
    kinds = {(f.src, f.dst): f.kind for f in estate.flows(lab, declared)}
    assert kinds[("mail1", "db1")] == "refused"
    assert kinds[("webmail1", "db1")] == "requires"
