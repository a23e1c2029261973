"""Converging an environment: one run of playbooks/site.yml; the idempotency gate
(converge, converge again, check mode: the second and the check-mode run change nothing);
and the drift gate (check mode alone changes nothing: the hosts are as declared)."""

from __future__ import annotations

from municloud.core import console
from municloud.core.errors import UserError
from municloud.deploy import ansible_run
from municloud.progress import session

SITE = "site.yml"


def _describe(tasks: list[dict[str, str]]) -> str:
    return "\n".join(f"    {t['host']}: {t['role'] + ' : ' if t['role'] else ''}{t['task']}"
                     for t in tasks)


def converge(env: str, *, check: bool = False, limit: str | None = None,
             label: str = "converge") -> ansible_run.PlayResult:
    with console.step(f"{label} ({env}{', check mode' if check else ''})"):
        result = ansible_run.run_playbook(env, SITE, check=check, limit=limit)
    if result.returncode != 0 or result.failed:
        sess = session.current()
        where = f"the log {sess.log.path}" if sess is not None else "the output above"
        detail = _describe(result.failed) if result.failed else f"    (see {where})"
        raise UserError(f"{label} failed (ansible-playbook exit {result.returncode}):\n{detail}")
    console.info(f"    {label}: {result.changed_count} changed tasks on {len(result.stats)} hosts")
    return result


def idempotency_gate(env: str, limit: str | None = None) -> None:
    converge(env, limit=limit, label="converge")
    second = converge(env, limit=limit, label="second converge")
    if second.changed:
        raise UserError("NOT IDEMPOTENT: the second converge changed "
                        f"{len(second.changed)} tasks:\n{_describe(second.changed)}")
    drift_gate(env, limit, after="after convergence")
    console.info("idempotency gate passed: second converge and check mode report changed=0")


def drift_gate(env: str, limit: str | None = None, *, after: str = "") -> None:
    """One check-mode run that fails when any task would change: the hosts are as declared
    (after a converge, or after tests that must leave them as they found them)."""
    checked = converge(env, check=True, limit=limit, label="check-mode run")
    if checked.changed:
        raise UserError(f"NOT CHECK-MODE CLEAN: the check-mode run{' ' + after if after else ''} "
                        f"reports {len(checked.changed)} changes:\n{_describe(checked.changed)}")
