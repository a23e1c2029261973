"""`scripts/bench-verify`: `municloud verify ENV` (the state checks) N times in a row on a
converged environment, wall-clock per run as a sysadmin sees it (the command started
afresh each time), then the median and the spread.

With `--baseline DIR` (another checkout of municloud, e.g. a worktree of main) the runs
alternate between that checkout and this one (baseline, this, baseline, ...), so that
the load other jobs put on the machine falls on both alike; DIR's code and tests are used
through PYTHONPATH with this checkout's Python environment.

Every run must pass; the test counts of each run are printed, so that a faster run
that ran fewer tests shows. Prints Markdown for docs/benchmarks.md.
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

# The closing line of `municloud verify` (municloud/deploy/cli.py: report_controls).
SUMMARY = re.compile(r"tests: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) not run")
RUN_TIMEOUT = 600  # seconds: one verify run by default; a hung run fails the benchmark


@dataclass(frozen=True)
class Run:
    checkout: str
    seconds: float
    counts: str
    ok: bool


def verify_once(env: str, checkout: Path, label: str, timeout: float = RUN_TIMEOUT) -> Run:
    environ = dict(os.environ)
    if checkout != paths.REPO:
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(checkout), *filter(None, [environ.get("PYTHONPATH")])])
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "municloud.cli", "verify", env],
                              cwd=checkout, env=environ, capture_output=True, text=True,
                              check=False, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise UserError(f"municloud verify {env} ({label}) took over {timeout:.0f}s") from e
    took = time.monotonic() - start
    found = SUMMARY.findall(proc.stdout + proc.stderr)
    counts = ("{} passed, {} failed, {} skipped, {} not run".format(*found[-1])
              if found else "no summary line")
    return Run(label, took, counts, proc.returncode == 0)


def spread(times: list[float]) -> str:
    return (f"median {statistics.median(times):.1f} s, min {min(times):.1f}, "
            f"max {max(times):.1f} (spread {max(times) - min(times):.1f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--runs", type=int, default=5, help="runs of each checkout (default 5)")
    ap.add_argument("--baseline", type=Path,
                    help="another municloud checkout to alternate with (e.g. main's)")
    ap.add_argument("--timeout", type=float, default=RUN_TIMEOUT,
                    help=f"seconds one run may take (default {RUN_TIMEOUT})")
    args = ap.parse_args(argv)
    if args.runs < 1:
        print(f"--runs: {args.runs}: at least 1", file=sys.stderr)
        return 2
    checkouts = [("this", paths.REPO)]
    if args.baseline is not None:
        base = args.baseline.resolve()
        if not (base / "municloud" / "cli.py").exists():
            print(f"--baseline: {base}: not a municloud checkout (no municloud/cli.py)",
                  file=sys.stderr)
            return 2
        checkouts.insert(0, ("baseline", base))
    runs: list[Run] = []
    for i in range(args.runs):
        for label, checkout in checkouts:
            run = verify_once(args.env, checkout, label, args.timeout)
            runs.append(run)
            print(f"run {i + 1} ({label}): {run.seconds:.1f} s, {run.counts}"
                  f"{'' if run.ok else ', FAILED'}", flush=True)
    print(f"\nMachine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"load average at the end {os.getloadavg()[0]:.1f}\n")
    print("| checkout | " + " | ".join(f"run {i + 1}" for i in range(args.runs))
          + " | median | spread (max - min) |")
    print("| --- |" + " ---: |" * (args.runs + 2))
    for label, _ in checkouts:
        times = [r.seconds for r in runs if r.checkout == label]
        print(f"| {label} | " + " | ".join(f"{t:.1f}" for t in times)
              + f" | **{statistics.median(times):.1f}** | {max(times) - min(times):.1f} |")
    for label, _ in checkouts:
        print(f"{label}: {spread([r.seconds for r in runs if r.checkout == label])}")
    failed = [r for r in runs if not r.ok]
    if failed:
        print(f"{len(failed)} run(s) failed: the timings do not count", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
