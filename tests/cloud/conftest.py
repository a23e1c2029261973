"""devcloud for the tests: brought up once per session (installing Debian's packages on a
fresh machine), torn down at the end. Needs root; without it these tests are skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from municloud.devcloud import ADMIN_CLOUD, CLOUD, clouds_yaml, control


@pytest.fixture(scope="session")
def devcloud() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("devcloud needs root (apt-get, MariaDB as the mysql user)")
    control.up()
    old = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml())
    try:
        yield CLOUD
    finally:
        if old is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = old
        control.down()


@pytest.fixture(scope="session")
def conn(devcloud: str) -> Any:
    import openstack

    return openstack.connect(cloud=devcloud)


@pytest.fixture(scope="session")
def admin(devcloud: str) -> Any:
    import openstack

    return openstack.connect(cloud=ADMIN_CLOUD)
