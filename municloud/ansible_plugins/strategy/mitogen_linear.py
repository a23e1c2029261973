"""Ansible's linear strategy run through Mitogen (ansible.cfg `strategy = mitogen_linear`).

Mitogen keeps one Python interpreter per host alive for the whole run and runs each
module inside it, instead of one SSH exec and one Python start-up per task; modules and
their imports are sent once and cached. On our 2-core controller this is what makes a
no-op converge fast (docs/benchmarks.md). The plugin itself is Mitogen's: this file only
lets Ansible find it on the project's plugin path, without a path into the virtualenv.
"""

from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy

_Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):  # type: ignore[misc,valid-type]
    """Linear, with Mitogen's connection and module runner."""
