"""A full mail data volume (MAIL-FULL-01): delivery defers, nothing is lost, and once
space is freed the queued message is delivered.

What a deployment has: the mailboxes on their own data volume (the topology's `vmail`
volume of the mail host, mounted at the declaration's paths.vmail), Postfix's queue on
the root filesystem. When the data volume is full, Dovecot's LMTP cannot write the
message: Postfix must keep it queued (a 4xx deferral, no bounce to the sender) and
deliver it when space is back.

In the lab the `vmail` volume is a Podman volume, a directory on the lab machine's disk
with no size of its own: filling it would fill the machine. The test therefore puts one
mailbox, the dedicated `mailprobe` person's (no group: no list mails it meanwhile), on a
1 MiB tmpfs mounted in the mail host's mount namespace under the data volume, and fills
that: the write fails with the same ENOSPC at the same point of delivery. The tmpfs is
unmounted at the end, also on failure, and the probe message is removed from the queue
if it is still there. Outside the lab (no Podman container for the host) it skips.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from typing import Any

import pytest

from municloud.core import topology
from municloud.lab import nodes, podman

from ..environment import ENV, Person
from ..environment import missing as _missing
from .test_mail import DELIVERY_TIMEOUT, MailHost, fetch, mx, new_message, submission

__all__ = ["mx"]  # the fixture, shared with test_mail

PROBE = "mailprobe"
VOLUME = "1m"
# Postfix moves a message whose delivery failed temporarily to the deferred queue within
# a second or two here; bounded all the same.
DEFER_TIMEOUT = 60.0


def _container_pid(host: str) -> int:
    """The mail host's container init process on the lab machine, or skip."""
    topo = topology.load(ENV)
    if topo.platform != "lab":
        pytest.skip(f"environment '{ENV}' is not a lab: no way to bound the data volume here")
    info = podman.inspect("container", nodes.container(topo, host))
    pid = int((info or {}).get("State", {}).get("Pid", 0))
    if pid <= 0:
        pytest.skip(f"no running container for {host}")
    return pid


def _in_namespace(pid: int, *argv: str) -> None:
    # -p as well: mount and umount read /proc/self/mountinfo, the container's own /proc.
    subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "--", *argv], check=True,
                   capture_output=True, text=True, timeout=30)


def _queued(host: Any, queue_id: str) -> dict[str, Any] | None:
    """The queue entry of `queue_id` (postqueue -j), or None when it left the queue."""
    for line in host.check_output("postqueue -j").splitlines():
        entry = json.loads(line)
        if entry.get("queue_id") == queue_id:
            return dict(entry)
    return None


def _log(host: Any, queue_id: str, since: str) -> str:
    return str(host.check_output(
        f"journalctl --no-pager -o cat --since {shlex.quote(since)} -t postfix/lmtp "
        f"-t postfix/bounce -t postfix/qmgr | grep -F {shlex.quote(queue_id)} || true"))


def _submit(mx: MailHost, sender: Person, to: str, token: str, size: int) -> str:
    """Submit a message of about `size` bytes; Postfix's queue id from its reply to DATA."""
    body = "".join(f"{i:08d} municloud full-volume probe line\n" for i in range(size // 40))
    msg = new_message(sender, to, token, body).as_bytes()
    with submission(mx, sender) as s:
        code, _ = s.mail(sender.mail)
        assert code == 250
        code, reply = s.rcpt(to)
        assert code == 250, f"RCPT TO {to} refused: {code} {reply!r}"
        code, reply = s.data(msg)
    assert code == 250, f"the MTA did not take the message: {code} {reply!r}"
    return reply.decode().rsplit(" ", 1)[-1]


# Full: Dovecot's quota check at RCPT time cannot write (451 4.3.0). Nearly full: the
# check passes and the message does not fit, so the write fails at DATA (451 4.2.0).
CASES = {"full": (0, 4096), "nearly-full": (64 * 1024, 256 * 1024)}


@pytest.mark.disruptive
@pytest.mark.control("MAIL-FULL-01")
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_full_data_volume_defers_delivery_and_loses_nothing(
        mx: MailHost, people: list[Person], target: Any, case: str) -> None:
    left, size = CASES[case]
    by_uid = {p.uid: p for p in people if p.state == "present" and p.password}
    if PROBE not in by_uid:
        _missing(f"no present person '{PROBE}' with a password (people.yml, playbooks/users.yml)")
    probe = by_uid[PROBE]
    sender = next(p for p in by_uid.values() if p.uid != PROBE)
    host = target(mx.name)
    pid = _container_pid(mx.name)
    home = f"{mx.vmail_root}/{mx.domain}/{probe.uid}"
    filler = f"{home}/filler"
    uid = host.check_output("id -u vmail").strip()
    gid = host.check_output("id -g vmail").strip()
    host.check_output(f"install -d -o vmail -g vmail -m 0700 {shlex.quote(home)}")
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'").strip()
    queue_id = ""
    _in_namespace(pid, "mount", "-t", "tmpfs", "-o",
                  f"size={VOLUME},mode=0700,uid={uid},gid={gid}", "municloud-full-test", home)
    try:
        host.run(f"runuser -u vmail -- dd if=/dev/zero of={shlex.quote(filler)} bs=4k")
        if left:
            host.check_output(f"truncate -s -{left} {shlex.quote(filler)}")
        free = int(host.check_output(f"df --output=avail -B1 {shlex.quote(home)} | tail -n 1"))
        assert free <= left + 4096 and free < size, (
            f"the volume under {home} has {free} bytes free, not about {left}")

        token = uuid.uuid4().hex
        queue_id = _submit(mx, sender, probe.mail, token, size)
        deadline = time.monotonic() + DEFER_TIMEOUT
        entry = _queued(host, queue_id)
        while time.monotonic() < deadline and (entry or {}).get("queue_name") != "deferred":
            time.sleep(1)
            entry = _queued(host, queue_id)
        log = _log(host, queue_id, since)
        assert entry is not None, (f"message {queue_id} left the queue while the mailbox's "
                                   f"volume was full (bounced or lost):\n{log}")
        reasons = [r.get("delay_reason", "") for r in entry.get("recipients", [])]
        assert entry.get("queue_name") == "deferred", (
            f"message {queue_id} not deferred within {DEFER_TIMEOUT:.0f} s: {entry}\n{log}")
        assert "status=bounced" not in log and "sender non-delivery notification" not in log, (
            f"a bounce was generated for {queue_id}:\n{log}")
        print(f"deferred with: {reasons}")

        host.check_output(f"rm -f {shlex.quote(filler)}")
        host.check_output(f"postqueue -i {shlex.quote(queue_id)}")
        raw = fetch(mx, probe, token, timeout=DELIVERY_TIMEOUT)
        assert raw is not None, (f"the queued message {queue_id} did not arrive in "
                                 f"{probe.mail}'s INBOX within {DELIVERY_TIMEOUT:.0f} s after "
                                 f"space was freed:\n{_log(host, queue_id, since)}")
        assert _queued(host, queue_id) is None
    finally:
        host.run(f"rm -f {shlex.quote(filler)}")
        if queue_id and _queued(host, queue_id) is not None:
            host.run(f"postsuper -d {shlex.quote(queue_id)}")
        _in_namespace(pid, "umount", "--lazy", home)
        assert not host.run(f"findmnt -n {shlex.quote(home)}").stdout.strip()
