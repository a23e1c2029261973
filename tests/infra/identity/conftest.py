"""Fixtures of the single sign-on tests: the declaration as the inventory exports it, and
the upstream test doubles (tests/doubles) started on the lab controller's management
gateway address, where the identity host reaches them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from doubles.oidc_upstream import Upstream

from .sso import Sso, lemonldap, running_double


@pytest.fixture(scope="session")
def sso(lab: dict[str, Any]) -> Sso:
    return lemonldap(lab)


@pytest.fixture(scope="module")
def google(sso: Sso, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with running_double(sso, "google", tmp_path_factory.mktemp("google-double")) as double:
        yield double
