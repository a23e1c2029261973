"""The shortcuts `topology check` takes for 10,000 hosts (issue 17, scale) decide exactly as
the libraries they stand in for: a host address is the address `ipaddress` reads, or
refused where `ipaddress` refuses it."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from municloud.core import topology


def _library(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _check(text: str) -> None:
    got, want = topology._ip(text), _library(text)
    assert got == want and type(got) is type(want), text


@pytest.mark.parametrize("text", [
    "10.70.1.11", "0.0.0.0", "255.255.255.255", "256.0.0.1", "1.2.3.04", "01.2.3.4",
    "1.2.3", "1.2.3.4.5", "1.2.3.4\n", " 1.2.3.4", "1.2.3.", "1..2.3", "\u0661\u0660.1.1.1",
    "0x0a.1.1.1", "fd00::1", "fd00:0::1", "::ffff:10.0.0.1", "fe80::1%eth0", "", "a.b.c.d",
])
def test_an_address_is_read_as_ipaddress_reads_it(text: str) -> None:
    _check(text)


octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "007", "",
                                                                  "1a", "\u0663", " 1", "+1"]))


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(octets, min_size=1, max_size=6), st.sampled_from([".", ":", ". "]))
def test_random_dotted_text_is_read_as_ipaddress_reads_it(parts: list[str], sep: str) -> None:
    _check(sep.join(parts))
