"""The edge failover drill (issue 15, EDGE-HA-02), shared by the disruptive test
(tests/infra/edge/test_edge_vip.py) and the benchmark (scripts/bench-failover).

While a loop of HTTPS requests goes from the controller to webmail's public name through
the edge tier's virtual address (TLS verified against the municipal CA; a new connection
per request, as new visitors make), the holder of the address breaks (its nginx stopped,
or its whole container); the drill measures how many requests failed, how long the
service was out for a client (the longest run of failed requests, from its first
failure to the next success) and how long until the other edge host held the
address; then it restores what it broke and waits, bounded, until the first edge host
holds the address again.

Every wait is bounded (`*_WITHIN`); targets are the lab's own addresses only.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from municloud.core import inventory, topology
from municloud.lab import nodes, podman

from .environment import ENV
from .webclient import EdgeSession, ca_file

REQUEST_TIMEOUT = 2.0  # seconds per request: connect, TLS, the webmail's answer
INTERVAL = 0.2  # between the start of two requests
SSH_TIMEOUT = 20.0
TAKEOVER_WITHIN = 30.0  # keepalived: a failed check every 1 s, FAULT after 2; or 3 missed adverts
REJOIN_WITHIN = 180.0  # a container's boot (systemd, sshd, nftables, nginx, keepalived) included
STEADY = 3.0  # seconds of successful requests asked for before and after each step
LOOP_LIMIT = 600.0  # the request loop stops by itself after this long, whatever happens


@dataclass
class Sample:
    at: float  # monotonic start of the request
    ok: bool
    detail: str


@dataclass
class RequestLoop:
    """HTTPS GETs of one URL through one address, in a thread, until stopped (bounded)."""

    url: str
    name: str
    address: str
    ca: Path
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _one(self) -> Sample:
        start = time.monotonic()
        try:
            with EdgeSession(self.address, [self.name], self.ca) as s:
                r = s.get(self.url, allow_redirects=False, timeout=REQUEST_TIMEOUT,
                          headers={"Connection": "close"})
            return Sample(start, r.status_code < 500, str(r.status_code))
        except requests.RequestException as exc:
            return Sample(start, False, type(exc).__name__)

    def _run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            sample = self._one()
            self.samples.append(sample)
            self._stop.wait(max(0.0, INTERVAL - (time.monotonic() - sample.at)))

    def __enter__(self) -> RequestLoop:
        self._thread = threading.Thread(target=self._run, name="https-loop", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT + 5)

    def since(self, t: float) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= t]

    def steady_since(self, t: float) -> bool:
        """Every request started after `t` succeeded, over at least STEADY seconds."""
        after = self.since(t)
        return bool(after) and all(s.ok for s in after) and after[-1].at - after[0].at >= STEADY


@dataclass(frozen=True)
class Outcome:
    case: str  # "nginx" or "container"
    requests: int  # during the drill, from the fault to the rejoin
    failed: int
    outage_s: float  # the longest run of failed requests: first failure to the next success
    takeover_s: float  # the fault to the other edge host holding the address
    rejoin_s: float  # the restore to the first edge host holding the address again
    errors: tuple[str, ...]  # what the failed requests saw

    def row(self) -> str:
        return (f"| {self.case} | {self.requests} | {self.failed} | {self.outage_s:.2f} | "
                f"{self.takeover_s:.2f} | {self.rejoin_s:.1f} |")


class Lab:
    """The lab's edge as the drill needs it: the virtual address, who holds it, commands
    on a host over the lab's SSH configuration (bounded; ControlMaster reused)."""

    def __init__(self, inv: dict[str, Any]) -> None:
        v = inv["all"]["vars"]
        self.inv = inv
        self.vip = str(v["municloud_virtual_address"])
        self.edges = [h["name"] for h in v["municloud_service_hosts"]["edge"]]
        self.name = v["municloud_public_names"]["webmail"]
        self.ca = ca_file(v["municloud_secrets_dir"])
        self.config = str(inventory.ssh_config_file(ENV))
        self.topo = topology.load(ENV)

    def ssh(self, host: str, *argv: str, timeout: float = SSH_TIMEOUT,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["ssh", "-F", self.config, host, "--", *argv],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {' '.join(argv)}: {proc.stderr.strip()}")
        return proc

    def forget_connection(self, host: str) -> None:
        """End the ControlMaster connection to a host whose container stopped."""
        subprocess.run(["ssh", "-F", self.config, "-O", "exit", host], capture_output=True,
                       timeout=SSH_TIMEOUT, check=False)

    def holds(self, host: str) -> bool | None:
        """Whether `host` holds the virtual address (None: it did not answer)."""
        try:
            proc = self.ssh(host, "ip", "-4", "-o", "addr", "show", timeout=5, check=False)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0:
            return None
        return any(f" {self.vip}/" in line for line in proc.stdout.splitlines())

    def holders(self) -> list[str]:
        return [h for h in self.edges if self.holds(h)]

    def wait(self, what: str, cond: Callable[[], bool], within: float) -> float:
        """Poll `cond` until true; the seconds it took. Fails after `within`."""
        start = time.monotonic()
        while time.monotonic() - start < within:
            if cond():
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {within:.0f} s")

    def loop(self) -> RequestLoop:
        return RequestLoop(f"https://{self.name}/", self.name, self.vip, self.ca)

    def container(self, host: str) -> str:
        return str(nodes.container(self.topo, host))

    def running(self, host: str) -> bool:
        info = podman.inspect("container", self.container(host))
        return bool(info and info["State"].get("Running"))


def _steady(lab: Lab, loop: RequestLoop, what: str) -> None:
    start = time.monotonic()
    lab.wait(f"{what}: {STEADY:.0f} s of successful requests through {lab.vip}",
             lambda: loop.steady_since(start), STEADY + TAKEOVER_WITHIN)


def settle(lab: Lab) -> str:
    """Wait until exactly one edge host, the first, holds the address (bounded)."""
    first = str(lab.edges[0])
    lab.wait(f"{first} alone holds {lab.vip}", lambda: lab.holders() == [first],
             TAKEOVER_WITHIN)
    return first


def drill(lab: Lab, case: str) -> Outcome:
    """Break the holder (case `nginx`: stop its nginx; `container`: stop its container),
    measure, restore, wait for the rejoin. Restores also when an assertion fails."""
    first = settle(lab)
    other = next(h for h in lab.edges if h != first)
    with lab.loop() as loop:
        _steady(lab, loop, "before the fault")
        fault = time.monotonic()
        try:
            if case == "nginx":
                lab.ssh(first, "systemctl", "stop", "nginx.service")
            else:
                podman.run("stop", "--time", "20", lab.container(first), timeout=60)
                lab.forget_connection(first)
            takeover = lab.wait(f"{other} takes {lab.vip} over", lambda: bool(lab.holds(other)),
                                TAKEOVER_WITHIN)
            _steady(lab, loop, f"after {other} took over")
        finally:
            restore(lab, first, case)
        rejoin = lab.wait(f"{first} takes {lab.vip} back",
                          lambda: lab.holders() == [first], REJOIN_WITHIN)
        end = time.monotonic()
        _steady(lab, loop, f"after {first} rejoined")
        during = [s for s in loop.since(fault) if s.at <= end]
    failed = [s for s in during if not s.ok]
    return Outcome(case=case, requests=len(during), failed=len(failed),
                   outage_s=longest_outage(during), takeover_s=takeover, rejoin_s=rejoin,
                   errors=tuple(sorted({s.detail for s in failed})))


def longest_outage(samples: list[Sample]) -> float:
    """The longest run of failed requests: its first failure to the next success (the end
    of the samples when none followed)."""
    longest, first_failed = 0.0, None
    for s in samples:
        if not s.ok and first_failed is None:
            first_failed = s.at
        elif s.ok and first_failed is not None:
            longest, first_failed = max(longest, s.at - first_failed), None
    if first_failed is not None:
        longest = max(longest, samples[-1].at + REQUEST_TIMEOUT - first_failed)
    return longest




def restore(lab: Lab, host: str, case: str) -> None:
    """Put back what the drill broke: start nginx, or the container (and wait for SSH)."""
    if case == "container":
        if not lab.running(host):
            nodes.start(lab.container(host))
        lab.forget_connection(host)
        nodes.wait_for_ssh(lab.topo, [lab.topo.host(host)], timeout=REJOIN_WITHIN)
    lab.wait(f"nginx on {host} active again", lambda: lab.ssh(
        host, "systemctl", "start", "nginx.service", check=False).returncode == 0,
        REJOIN_WITHIN)
