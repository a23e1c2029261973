"""coturn of the meet role: allocations only with valid time-limited credentials from the
shared secret (TURN REST API); expired or forged credentials are refused; TURN over TLS
on 5349 with the host's certificate of the municipal CA."""

from __future__ import annotations

from typing import Any

import pytest

from . import turn
from .conftest import Meet


@pytest.fixture(scope="module")
def secret(meet: Meet) -> str:
    f = meet.secrets / "meet" / "turn_secret"
    if not f.exists():
        pytest.skip(f"{f} does not exist: the meet role has not run")
    assert oct(f.stat().st_mode & 0o777) == "0o600", f"{f} is not 0600"
    return f.read_text().strip()


@pytest.mark.control("MEET-TURN-01")
def test_valid_time_limited_credentials_get_an_allocation(meet: Meet, target: Any,
                                                          secret: str) -> None:
    user, pw = turn.credentials(secret, "probe")
    ok, out = turn.uclient(target(meet.host), meet.address, user, pw)
    assert ok, out[-2000:]


@pytest.mark.control("MEET-TURN-01")
def test_valid_credentials_over_tls_on_5349(meet: Meet, target: Any, secret: str) -> None:
    user, pw = turn.credentials(secret, "probe-tls")
    ok, out = turn.uclient(target(meet.host), meet.address, user, pw, tls=True)
    assert ok, out[-2000:]


@pytest.mark.control("MEET-TURN-01")
@pytest.mark.parametrize("case", ["expired", "forged", "renamed"])
def test_expired_or_forged_credentials_are_refused(meet: Meet, target: Any, secret: str,
                                                   case: str) -> None:
    if case == "expired":
        user, pw = turn.credentials(secret, "probe", ttl=-60)
    elif case == "forged":
        user, pw = turn.credentials("not-the-secret-" + secret[:4], "probe")
    else:
        user, pw = turn.credentials(secret, "probe")
        user = user.replace(":probe", ":someone-else")
    ok, out = turn.uclient(target(meet.host), meet.address, user, pw)
    assert not ok, f"{case} credentials got an allocation:\n{out[-2000:]}"
    # coturn answers 401 (its log: "check_stun_auth: Cannot find credentials"), so the
    # client cannot complete the allocation.
    assert "Cannot complete Allocation" in out, out[-2000:]


@pytest.mark.control("MEET-TURN-01")
def test_turns_certificate_chains_to_the_municipal_ca(meet: Meet, lab: dict[str, Any],
                                                     target: Any) -> None:
    # From the meeting host itself (the controller is outside the internet tier's reach
    # only by the lab's firewall layout): openssl verifies against the municipal CA.
    host = target(meet.host)
    fqdn = next(h["fqdn"] for h in lab["all"]["vars"]["municloud_service_hosts"]["meet"])
    r = host.run(f"echo | timeout 10 openssl s_client -connect {meet.address}:5349 "
                 f"-servername {fqdn} -verify_hostname {fqdn} -CAfile /etc/ssl/municloud/ca.crt "
                 "-verify_return_error 2>&1")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout[-1500:]
