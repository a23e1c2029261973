"""Unit tests never read the controller's real state: `MUNICLOUD_STATE` points at a
package directory, with the lab administrator key `municloud lab up` would generate (the
lab topology refers to it, so building the lab's inventory needs its public half)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from municloud.core import admin_keys


@pytest.fixture(scope="package", autouse=True)
def unit_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUNICLOUD_STATE", str(state))
        admin_keys.ensure_lab_admin_key("lab")
        yield
