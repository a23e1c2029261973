"""The estate as a picture: tiers, hosts, their services and the declared flows.

Everything drawn is derived, nothing is restated: the tiers and hosts come from the
topology, the services from their declarations (`roles/<role>/meta/service.yml`), the
flows from the same rules the firewall and the security groups are built from
(`municloud.core.ports`) and from what the declarations say a service needs:

- internet -> host: every port a host opens to the internet (red: what is exposed);
- edge -> host: the upstream port of every published web service;
- host -> host: each `requires` and `needs` of a service (database, directory, mail
  relay, OIDC client), with the provider's ports whose rules admit the consumer's network
  (a requirement no rule allows is drawn dashed red: it cannot work);
- host -> backup server: the stateful hosts' backups (borg over SSH);
- admin sources -> each tier: SSH, the baseline's only inbound port.

`graph` builds the Graphviz graph (DOT); `render` writes DOT, SVG and PNG with `dot`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path

import graphviz

from municloud.core.errors import UserError
from municloud.core.ports import Rule, host_rules, service_rules
from municloud.core.services import PROVIDERS, Service, load_services
from municloud.core.topology import Host, Topology

INTERNET = "internet"
PNG_DPI = 110
ADMIN = "admins"
TIER_COLOURS = {"edge": "#fde8e8", "services": "#e6f0fb", "data": "#eaf6ea",
                "management": "#f1ecf8"}
KIND_STYLES = {
    "internet": {"color": "#c62828", "fontcolor": "#c62828", "penwidth": "2"},
    "publish": {"color": "#1565c0", "fontcolor": "#1565c0"},
    "requires": {"color": "#37474f", "fontcolor": "#37474f"},
    "backup": {"color": "#6a1b9a", "fontcolor": "#6a1b9a", "style": "dashed"},
    "admin": {"color": "#757575", "fontcolor": "#757575", "style": "dotted"},
    "refused": {"color": "#c62828", "fontcolor": "#c62828", "style": "dashed"},
}


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    kind: str  # internet | publish | requires | backup | admin | refused
    ports: tuple[str, ...]  # "443/tcp"
    why: tuple[str, ...] = ()  # the needs behind a requirement: database, directory, ...

    @property
    def label(self) -> str:
        return ", ".join(self.ports) + (f"\n({', '.join(self.why)})" if self.why else "")


def _port(r: Rule) -> str:
    return f"{r.ports}/{r.proto}"


def _allowed(topo: Topology, provider: Service, consumer: Host,
             declared: Mapping[str, Service]) -> tuple[str, ...]:
    """The provider's ports whose rules admit the consumer's network."""
    cidr = topo.network(consumer.network).cidr
    return tuple(_port(r) for r in service_rules(topo, provider, declared) if cidr in r.sources)


def _requirements(svc: Service) -> dict[str, list[str]]:
    """{provider service: [why]}: its `requires` (the edge aside: drawn as the edge's
    publish flow, in the edge's direction) and the providers of its `needs`."""
    out: dict[str, list[str]] = {dep: [] for dep in svc.requires if dep != "edge"}
    for kind in svc.needed():
        out.setdefault(PROVIDERS[kind], []).append(kind.replace("_", " "))
    return out


def flows(topo: Topology, services: Mapping[str, Service] | None = None) -> list[Flow]:
    declared = load_services() if services is None else services
    raw: dict[tuple[str, str, str], tuple[list[str], list[str]]] = {}

    def add(src: str, dst: str, kind: str, ports: tuple[str, ...],
            why: tuple[str, ...] = ()) -> None:
        have_ports, have_why = raw.setdefault((src, dst, kind), ([], []))
        have_ports.extend(p for p in ports if p not in have_ports)
        have_why.extend(w for w in why if w not in have_why)

    edges = topo.hosts_running("edge")
    backups = topo.hosts_running("backup_server")
    for host in topo.hosts:
        exposed = tuple(_port(r) for r in host_rules(topo, host) if r.from_internet)
        if exposed:
            add(INTERNET, host.name, "internet", exposed)
        for name in host.services:
            svc = declared.get(name)
            if svc is None:
                continue
            if svc.publish is not None:
                for e in edges:
                    add(e.name, host.name, "publish", (f"{svc.publish.upstream_port}/tcp",))
            for dep, why in _requirements(svc).items():
                provider = declared.get(dep)
                if provider is None:
                    continue
                for target in topo.hosts_running(dep):
                    if target.name == host.name:
                        continue
                    ports = _allowed(topo, provider, host, declared)
                    add(host.name, target.name, "requires" if ports else "refused",
                        ports or ("no rule allows it",), tuple(why))
            if svc.stateful and svc.implemented:
                for b in backups:
                    add(host.name, b.name, "backup", ("22/tcp borg",))
    for net in topo.networks:
        first = next((h for h in topo.hosts if h.network == net.name), None)
        if first is not None:
            add(ADMIN, first.name, "admin", ("22/tcp ssh",))
    return [Flow(s, d, k, tuple(p), tuple(w)) for (s, d, k), (p, w) in raw.items()]


def _summary(svc: Service | None, name: str) -> str:
    if svc is None:
        return name
    text = svc.summary
    for cut in (" - ", " (", ", ", "; "):
        text = text.split(cut)[0]
    return textwrap.shorten(text, width=34, placeholder="…")


def _host_label(topo: Topology, host: Host, declared: Mapping[str, Service],
                exposed: bool) -> str:
    """An HTML-like Graphviz label: name and address, then one row per service."""
    head = "#c62828" if exposed else "#263238"
    rows = [f'<TR><TD BGCOLOR="{head}" ALIGN="LEFT"><FONT COLOR="white"><B>{escape(host.name)}'
            f'</B>  {escape(str(host.address or "address from the platform"))}</FONT></TD></TR>']
    for name in host.services:
        svc = declared.get(name)
        state = "" if svc is None or svc.implemented else \
            '<BR/><FONT COLOR="#c62828" POINT-SIZE="9">not deployed: vendor artifact</FONT>' \
            if svc.vendor else '<BR/><FONT COLOR="#c62828" POINT-SIZE="9">not deployed</FONT>'
        rows.append(f'<TR><TD ALIGN="LEFT"><B>{escape(name)}</B>'
                    f'<BR/><FONT POINT-SIZE="9">{escape(_summary(svc, name))}</FONT>'
                    f'{state}</TD></TR>')
    if any(v.backup for v in host.volumes):
        vols = ", ".join(v.mount for v in host.volumes)
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">volumes: {escape(vols)}'
                    '</FONT></TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
            'BGCOLOR="white">' + "".join(rows) + "</TABLE>>")


def graph(topo: Topology, services: Mapping[str, Service] | None = None) -> graphviz.Digraph:
    declared = load_services() if services is None else services
    all_flows = flows(topo, declared)
    exposed = {f.dst for f in all_flows if f.kind == "internet"}
    g = graphviz.Digraph(name=topo.environment, engine="dot")
    g.attr(rankdir="LR", compound="true", newrank="true", nodesep="0.35", ranksep="1.1",
           fontname="DejaVu Sans", fontsize="12", labelloc="t",
           label=f"{topo.municipality.name}: environment '{topo.environment}' "
                 f"({topo.platform})", pad="0.3")
    g.attr("node", shape="plain", fontname="DejaVu Sans", fontsize="11")
    g.attr("edge", fontname="DejaVu Sans", fontsize="9", arrowsize="0.7")
    g.node(INTERNET, "internet", shape="ellipse", style="filled", fillcolor="#ffcdd2",
           color="#c62828", fontsize="12", margin="0.15")
    admins = ", ".join(topo.access.admin_sources) or "management tier"
    g.node(ADMIN, f"admins\n{admins}", shape="ellipse", style="filled", fillcolor="#eeeeee",
           color="#757575", fontsize="10")
    for net in topo.networks:
        with g.subgraph(name=f"cluster_{net.name}") as c:
            c.attr(label=f"{net.name} tier  {net.cidr}", labeljust="l", style="filled,rounded",
                   color="#90a4ae", fillcolor=TIER_COLOURS.get(net.purpose, "#f5f5f5"),
                   fontsize="12", margin="12")
            for h in topo.hosts:
                if h.network == net.name:
                    c.node(h.name, _host_label(topo, h, declared, h.name in exposed))
    for f in all_flows:
        attrs = dict(KIND_STYLES[f.kind])
        if f.kind == "admin":
            attrs["lhead"] = f"cluster_{topo.host(f.dst).network}"
        g.edge(f.src, f.dst, label=f.label, **attrs)
    with g.subgraph(name="cluster_legend") as lg:
        lg.attr(label="flows", style="rounded", color="#b0bec5", fontsize="10")
        lg.node("legend", _LEGEND, shape="plain")
    return g


_LEGEND = ('<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="1">'
           + "".join(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{KIND_STYLES[k]["color"]}" '
                     f'POINT-SIZE="9">━━ {escape(text)}</FONT></TD></TR>'
                     for k, text in (("internet", "open to the internet"),
                                     ("publish", "edge proxy to a published service"),
                                     ("requires", "a service's declared requirement"),
                                     ("backup", "encrypted backups (borg over SSH)"),
                                     ("admin", "administration (SSH) to every host of a tier"),
                                     ("refused", "required but no rule allows it")))
           + "</TABLE>>")


def render(topo: Topology, out: Path, services: Mapping[str, Service] | None = None) -> list[Path]:
    """Write <env>.dot, <env>.svg and <env>.png into `out`; return their paths."""
    g = graph(topo, services)
    out.mkdir(parents=True, exist_ok=True)
    dot_file = out / f"{topo.environment}.dot"
    dot_file.write_text(g.source)
    written = [dot_file]
    for fmt in ("svg", "png"):
        target = out / f"{topo.environment}.{fmt}"
        drawn = g
        if fmt == "png":
            drawn = g.copy()
            drawn.attr(dpi=str(PNG_DPI))
        try:
            data = drawn.pipe(format=fmt)
        except graphviz.ExecutableNotFound as exc:
            raise UserError("Graphviz's `dot` is not installed: run scripts/bootstrap "
                            "(Debian package graphviz)") from exc
        except graphviz.CalledProcessError as exc:
            raise UserError(f"dot could not draw {dot_file}: {exc.stderr!r}") from exc
        target.write_bytes(data)
        written.append(target)
    return written
