"""Run `municloud deploy`'s converge step, with its progress session, on a small playbook
against the controller itself (tests/fixtures/progress): the same session, display,
runner, Ansible callback and strategy as a deploy, without a lab.

    python -m tests.unit.progress_run SCRATCH_DIR [--no-fail] [-v]
"""

from __future__ import annotations

import sys
from pathlib import Path

from municloud.core import paths
from municloud.core.errors import UserError
from municloud.core.paths import TESTS
from municloud.deploy import ansible_run, converge
from municloud.progress import session

FIXTURES = TESTS / "fixtures" / "progress"


def main(argv: list[str]) -> int:
    scratch = Path(argv[0])
    extra = ["-e", f"scratch={scratch}"]
    if "--no-fail" in argv:
        extra += ["-e", "progress_fail=false"]
    converge.SITE = str(FIXTURES / "playbook.yml")
    ansible_run.inventory_source = lambda env: FIXTURES / "hosts.yml"
    original = ansible_run.run_playbook

    def with_vars(*args: object, **kwargs: object) -> ansible_run.PlayResult:
        return original(*args, extra_args=extra, **kwargs)  # type: ignore[arg-type]

    ansible_run.run_playbook = with_vars
    with session.start(paths.env_state("unit"), "deploy", verbose="-v" in argv):
        try:
            converge.converge("unit")
        except UserError as exc:
            print(f"municloud: error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
