"""The audit report sees a host broken by hand: a port opened outside the firewall, a
weakened sshd setting, a secret copied to a world-readable file and a drifted config file
make exactly those controls fail on that host, with evidence; undone, they pass again.

Breaks backup1 (no other work converges it during a verify run) for about two minutes and
always restores it (finally). Disruptive: run by `municloud verify --all` and scripts/test.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from municloud.audit import assemble, collect, secrets_scan
from municloud.core import topology
from municloud.core.inventory import ssh_config_file

from ..environment import ENV

HOST = "backup1"
PORT = 8999  # declared by no service
UNIT = "municloud-audit-probe"
WEAK_SSHD = "/etc/ssh/sshd_config.d/05-audit-weak.conf"
LEAK = "/var/tmp/municloud-audit-leak.txt"
DRIFTED = "/etc/systemd/journald.conf.d/50-municloud.conf"
# The controls each breakage makes fail (BASE-IDEM-01: the check run wants to undo the
# hand-made firewall rule and the edited journald file).
EXPECTED = {"BASE-FW-01", "BASE-FW-02", "BASE-SSH-03", "SEC-FILE-01", "BASE-IDEM-01"}


def _ssh(cmd: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["ssh", "-F", str(ssh_config_file(ENV)), HOST, cmd], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"{HOST}: {cmd}: {proc.stderr}"
    return proc.stdout


def _failing() -> tuple[set[str], dict[str, list[str]]]:
    """The controls failing on HOST (its state checks and a check-mode run of it), with the
    failing evidence's excerpts."""
    topo = topology.load(ENV)
    secrets = secrets_scan.load(ENV)
    g = collect.hosts(ENV, workers=4, skip_drift_test=True, extra=["-k", HOST])
    g.merge(collect.drift(ENV, topo, secrets, limit=HOST))
    report = assemble.build(topo, g, [], 0.0, secrets)
    failing = {c.id: [f"{e.where}: {e.check}: {e.excerpt}" for e in c.evidence
                      if e.outcome == "fail"] for c in report.controls
               if c.hosts.get(HOST) == "fail"}
    return set(failing), failing


def _restore() -> None:
    _ssh(f"systemctl stop {UNIT} 2>/dev/null; "
         f"for h in $(nft -a list chain inet municloud input | "
         f"sed -n 's/.*dport {PORT} accept # handle \\([0-9]*\\)/\\1/p'); do "
         f"nft delete rule inet municloud input handle $h; done; "
         f"rm -f {WEAK_SSHD} {LEAK}; sed -i '/^# drifted by the audit test$/d' {DRIFTED}; true")


@contextmanager
def broken() -> Iterator[None]:
    secret = next((s for s in secrets_scan.load(ENV) if s.name.endswith(".password")), None)
    assert secret is not None, "no password in the secret store to leak"
    try:
        _ssh(f"systemd-run --unit {UNIT} python3 -m http.server {PORT} --bind 0.0.0.0 && "
             f"nft insert rule inet municloud input tcp dport {PORT} accept")
        _ssh(f"printf 'MaxAuthTries 10\\n' > {WEAK_SSHD}")
        _ssh(f"umask 022; cat > {shlex.quote(LEAK)}", stdin=secret.needles[0] + "\n")
        _ssh(f"echo '# drifted by the audit test' >> {DRIFTED}")
        yield
    finally:
        _restore()


@pytest.mark.disruptive
@pytest.mark.control("BASE-FW-01", "BASE-FW-02", "BASE-SSH-03", "SEC-FILE-01", "BASE-IDEM-01")
def test_hand_breakage_fails_exactly_those_controls(lab: dict[str, Any]) -> None:
    if HOST not in lab["all"]["hosts"]:
        pytest.skip(f"no {HOST} in {ENV}")
    before, _ = _failing()
    assert not before & EXPECTED, f"{HOST} already fails {before & EXPECTED}: converge it first"
    with broken():
        after, evidence = _failing()
    assert after - before == EXPECTED, (after - before, evidence)
    text = "\n".join(e for c in EXPECTED for e in evidence[c])
    assert str(PORT) in "\n".join(evidence["BASE-FW-02"])
    assert "maxauthtries" in "\n".join(evidence["BASE-SSH-03"]).lower()
    assert LEAK in "\n".join(evidence["SEC-FILE-01"])
    assert "drifted by the audit test" in "\n".join(evidence["BASE-IDEM-01"])
    assert all(n not in text for s in secrets_scan.load(ENV) for n in s.needles)
    restored, evidence = _failing()
    assert not restored & EXPECTED, (restored & EXPECTED, evidence)
