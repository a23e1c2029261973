"""Ansible inventory plugin: the municloud topology of one environment.

Used as `inventories/<env>/municloud.yml` (``plugin: municloud_topology``). All logic is
in the `municloud.core.inventory` module, shared with `municloud inventory`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
name: municloud_topology
short_description: Hosts, groups and variables from a municloud topology
description:
  - Reads C(topology.yml) beside this file and the addresses the platform reported
    (lab or Pulumi stack outputs), and builds one group per service.
options:
  plugin:
    description: Must be C(municloud_topology).
    required: true
    choices: [municloud_topology]
  environment:
    description: The environment; defaults to the name of the folder holding this file.
    required: false
    type: str
"""


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]
    NAME = "municloud_topology"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and Path(path).name in ("municloud.yml", "municloud.yaml")

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        env = self.get_option("environment") or Path(path).resolve().parent.name
        from municloud.core.errors import UserError
        from municloud.core.inventory import for_env

        try:
            data = for_env(env)
        except UserError as exc:
            raise AnsibleParserError(str(exc)) from exc
        root = data["all"]
        for key, value in root["vars"].items():
            self.inventory.set_variable("all", key, value)
        for host, hostvars in root["hosts"].items():
            self.inventory.add_host(host)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
        for group, spec in root["children"].items():
            self.inventory.add_group(group)
            for host in spec["hosts"]:
                self.inventory.add_child(group, host)
