"""Import the TAXISnet bridge the identity role ships (roles/identity/files/) by path."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from municloud.core import paths

BRIDGE = paths.ROLES / "identity" / "files" / "taxisnet_bridge.py"


def load_bridge() -> ModuleType:
    name = "taxisnet_bridge"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BRIDGE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
