"""`scripts/bench-noop`: the no-op converge of this checkout against another one's, in one
run, so that a change's cost shows beside what it replaced (issue 12: "not slower than
before, same run, before and after").

Each round converges the hosts with the baseline's code (to the baseline's own state, not
timed), then times the baseline's no-op converge; then the same for this checkout. Rounds
alternate, so that the load other jobs put on the machine falls on both alike. Each timed
run must report changed=0 (`municloud deploy` exits 1 otherwise with `--changed-fails`;
here the count of changed tasks is read from Ansible's recap in the run's log).

The baseline's code runs through PYTHONPATH with this checkout's Python environment, as
`scripts/bench-verify --baseline` does. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from municloud.core import paths
from municloud.core.errors import UserError
from municloud.deploy.bench import machine

# Ansible's PLAY RECAP lines: "host : ok=12 changed=0 unreachable=0 failed=0 ...".
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.MULTILINE)
# profile_tasks' closing list (all tasks, by the env vars below): "role : task ---- 1.23s".
PROFILE = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$", re.MULTILINE)
PROFILE_ALL = {"PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "PROFILE_TASKS_SORT_ORDER": "none"}
RUN_TIMEOUT = 1800  # seconds: one converge; a hung run fails the benchmark


@dataclass(frozen=True)
class Converge:
    checkout: str
    seconds: float
    tasks: int      # ok + changed over every host and play (what the run did)
    changed: int
    per_task: dict[str, float]  # task title -> seconds (summed where a title recurs)


def streams_on_request(checkout: Path) -> bool:
    """Whether that checkout's `deploy` shows progress unless given -v (newer ones); older
    ones stream Ansible's output as it comes and know no -v."""
    cli = checkout / "municloud" / "deploy" / "cli.py"
    return cli.is_file() and '"--verbose"' in cli.read_text()


def converge(env: str, checkout: Path, limit: str, label: str,
             timeout: float = RUN_TIMEOUT) -> Converge:
    environ = dict(os.environ, **PROFILE_ALL)
    if checkout != paths.REPO:
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(checkout), *filter(None, [environ.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "municloud.cli", "deploy", env, "--limit", limit]
    if streams_on_request(checkout):
        cmd.append("-v")  # Ansible's raw output (with its recap) instead of the progress
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd,
                              cwd=checkout, env=environ, capture_output=True, text=True,
                              check=False, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise UserError(f"municloud deploy {env} ({label}) took over {timeout:.0f}s") from e
    took = time.monotonic() - start
    recaps = RECAP.findall(proc.stdout)
    if proc.returncode != 0 or not recaps:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise UserError(f"municloud deploy {env} ({label}) failed "
                        f"(exit {proc.returncode}): {' | '.join(tail)}")
    tasks = sum(int(ok) for _, ok, *_ in recaps)
    changed = sum(int(c) for _, _, c, *_ in recaps)
    per_task: dict[str, float] = {}
    for title, seconds in PROFILE.findall(proc.stdout):
        per_task[title.strip()] = per_task.get(title.strip(), 0.0) + float(seconds)
    return Converge(label, took, tasks, changed, per_task)


def common_seconds(before: Converge, after: Converge) -> tuple[int, float, float]:
    """The tasks both runs ran (by title): how many, and their seconds in each run. The
    like-for-like part of two versions whose roles do not run the same tasks."""
    common = sorted(set(before.per_task) & set(after.per_task))
    return (len(common), sum(before.per_task[t] for t in common),
            sum(after.per_task[t] for t in common))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--baseline", type=Path, required=True,
                    help="the other municloud checkout (e.g. a worktree of the commit before)")
    ap.add_argument("--limit", required=True,
                    help="the hosts both checkouts deploy (comma-separated)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        print(f"--rounds: {args.rounds}: at least 1", file=sys.stderr)
        return 2
    if not (args.baseline / "municloud" / "cli.py").is_file():
        print(f"--baseline: {args.baseline}: not a municloud checkout", file=sys.stderr)
        return 2
    checkouts = [("before", args.baseline.resolve()), ("after", paths.REPO)]
    timed: dict[str, list[Converge]] = {"before": [], "after": []}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for n in range(1, args.rounds + 1):
        for label, checkout in checkouts:
            print(f"==> round {n}, {label}: converge to its state ...", flush=True)
            settle = converge(args.env, checkout, args.limit, label)
            print(f"    {settle.changed} changed in {settle.seconds:.1f}s", flush=True)
            print(f"==> round {n}, {label}: no-op converge (timed) ...", flush=True)
            run = converge(args.env, checkout, args.limit, label)
            print(f"<== {run.seconds:.1f}s, {run.tasks} tasks, {run.changed} changed",
                  flush=True)
            if run.changed:
                raise UserError(f"{label}'s second converge changed {run.changed} tasks: "
                                "not a no-op, no figure")
            timed[label].append(run)
    print()
    print(f"Machine: {machine()}; {started}; hosts {args.limit}; "
          f"before = {args.baseline}, after = {paths.REPO}")
    print()
    print("| round | before: seconds (host-tasks) | after: seconds (host-tasks) "
          "| tasks both ran: before | after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for n, (b, a) in enumerate(zip(timed["before"], timed["after"], strict=True), 1):
        count, b_common, a_common = common_seconds(b, a)
        print(f"| {n} | {b.seconds:.1f} ({b.tasks}) | {a.seconds:.1f} ({a.tasks}) "
              f"| {b_common:.1f} s ({count} tasks) | {a_common:.1f} s |")
    for label in ("before", "after"):
        secs = [r.seconds for r in timed[label]]
        per_task = [r.seconds / r.tasks * 1000 for r in timed[label]]
        print(f"\n{label}: median {statistics.median(secs):.1f} s, "
              f"{statistics.median(per_task):.0f} ms per host-task")
    return 0


if __name__ == "__main__":
    sys.exit(main())
