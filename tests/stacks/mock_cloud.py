"""Pulumi mocks for the municloud program: no CLI, no provider plugin, no cloud.

`run(topo)` registers the program against fresh mocks and returns what it registered
(inputs as the engine sends them, camelCase) and the stack outputs. A plain module, not
conftest, so `set_mocks` runs once per program run and nowhere else.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

STACKS = Path(__file__).resolve().parents[2] / "stacks"
for p in (STACKS, STACKS / "policy"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

PROJECT = "municloud"
FLOATING_POOL = ipaddress.ip_network("100.64.0.0/10")  # shared space: clearly not a real pool
DYNAMIC_POOL = ipaddress.ip_network("10.255.0.0/16")


@dataclass
class Registered:
    """One resource the program registered: what a PolicyResource offers, plus its id."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]
    id: str
    property_dependencies: dict[str, list[Any]] = field(default_factory=dict)


class CloudMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.invokes: list[str] = []
        self._floating = FLOATING_POOL.hosts()
        self._dynamic = DYNAMIC_POOL.hosts()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        rid = f"{args.typ.rsplit(':', 1)[-1].lower()}-{args.name}-id"
        if args.typ == "openstack:networking/port:Port":
            fixed = [f.get("ipAddress") for f in state.get("fixedIps", [])]
            state["allFixedIps"] = [a for a in fixed if a] or [str(next(self._dynamic))]
        elif args.typ == "openstack:networking/floatingIp:FloatingIp":
            state["address"] = str(next(self._floating))
        urn = f"urn:pulumi:{pulumi.get_stack()}::{PROJECT}::{args.typ}::{args.name}"
        self.resources.append(Registered(args.typ, args.name, urn, dict(state), rid))
        return rid, state

    def call(
        self, args: pulumi.runtime.MockCallArgs,
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append(args.token)
        name = str(args.args.get("name", "unnamed"))
        return {"id": f"{name}-id", "name": name}, []  # no check failures


@dataclass
class Run:
    resources: list[Registered]
    outputs: dict[str, Any]
    invokes: list[str]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.resource_type == typ]

    def by_id(self) -> dict[str, Registered]:
        return {r.id: r for r in self.resources}


def run(topo: Any, build: Any = None) -> Run:
    """Run the program for a validated topology; `build` defaults to program.build."""
    mocks = CloudMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=topo.environment, preview=False)
    from municloud_stack.program import no_full_collections

    if build is None:
        from municloud_stack.program import build
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]  # pulumi leaves it unannotated
    def program() -> pulumi.Output[Any]:
        exported = build(topo)
        return pulumi.Output.all(**exported).apply(outputs.update)

    with no_full_collections():
        program()
    return Run(mocks.resources, outputs, mocks.invokes)


def run_main(env: str, topology_file: str) -> tuple[CloudMocks, BaseException | None]:
    """Run `program.main()` as `pulumi up` would for stack `env`; return the mocks and the
    error the program raised, if any."""
    mocks = CloudMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=env, preview=False)
    pulumi.runtime.set_all_config({f"{PROJECT}:topology": topology_file})
    from municloud_stack.program import main

    error: list[BaseException] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]  # pulumi leaves it unannotated
    def program() -> None:
        try:
            main()
        except Exception as exc:
            error.append(exc)

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    return mocks, (error[0] if error else None)
