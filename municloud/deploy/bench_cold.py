"""`scripts/bench-cold`: the cold main job against its package floor, in one run.

On a fresh machine (no node image, an empty package cache): bootstrap (timed by the
script), `lab up`, the first converge, verify's state checks; then the floor, measured
through the same apt-cacher-ng: the packages the converge left installed on all the
hosts, installed in one `apt-get install` on one spare node of the same image, first
with the cache emptied (cold), then again on a second spare node (warm). Prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from municloud.core import paths, topology
from municloud.core.errors import UserError
from municloud.deploy.bench import cli, converge, machine, timed, verified
from municloud.deploy.verify import DEFAULT_WORKERS

PACKAGE_MODULES = ("ansible.builtin.apt", "apt")


def package_seconds(events: Path) -> dict[str, float]:
    """Role -> wall seconds of its package tasks (from the converge's events: a task's
    time runs from its start to the next task's or play's start)."""
    lines = [json.loads(x) for x in events.read_text().splitlines() if x.strip()]
    out: dict[str, float] = defaultdict(float)
    open_task: dict[str, str] | None = None
    started = 0.0
    for ev in lines:
        if ev["event"] in ("task_start", "play_start", "stats"):
            if open_task is not None and open_task.get("action") in PACKAGE_MODULES:
                out[open_task.get("role") or "(play)"] += ev["t"] - started
            open_task = ev if ev["event"] == "task_start" else None
            started = ev["t"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def lab_floor(env: str, *args: str) -> dict[str, Any]:
    """municloud.lab.floor's answer (the lab's side of this benchmark, run as its own
    process: deploy does not import lab)."""
    proc = subprocess.run([sys.executable, "-m", "municloud.lab.floor", "--env", env, *args],
                          cwd=paths.REPO, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise UserError(f"python -m municloud.lab.floor {' '.join(args)} failed "
                        f"(exit {proc.returncode})")
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def main_job(env: str, events: Path, results: list[tuple[str, float]],
             verify_failed: list[str]) -> None:
    """lab up, the first converge (its events kept), verify's state checks; each timed."""
    timed("lab up", lambda: cli("lab", "--env", env, "up"), results)
    events.unlink(missing_ok=True)
    timed("first converge", lambda: converge(env, events=events), results)

    def verify_states() -> None:
        try:
            verified(env, DEFAULT_WORKERS)
        except UserError as exc:  # still timed: the floor is measured all the same
            verify_failed.append(str(exc))

    timed(f"verify: state checks ({DEFAULT_WORKERS} workers)", verify_states, results)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--bootstrap-seconds", type=float, default=None,
                    help="the time scripts/bootstrap took (the script measures it)")
    ap.add_argument("--floor-only", action="store_true",
                    help="measure the floor only, on the running converged lab")
    args = ap.parse_args()
    topo = topology.load(args.env)
    start = lab_floor(args.env, "--state")
    cold_image, cold_cache = not start["image_exists"], start["cache_bytes"] == 0
    results: list[tuple[str, float]] = []
    if args.bootstrap_seconds is not None:
        results.append(("scripts/bootstrap (Debian packages, .venv)", args.bootstrap_seconds))
    events = paths.env_state(args.env) / "bench-cold-converge.events.jsonl"
    verify_failed: list[str] = []
    if not args.floor_only:
        main_job(args.env, events, results, verify_failed)
    main_seconds = sum(s for _, s in results)
    measured = lab_floor(args.env)
    packages: list[str] = measured["packages"]
    cold: list[tuple[str, float]] = measured["cold"]
    warm: list[tuple[str, float]] = measured["warm"]
    fetched: int = measured["fetched_bytes"]
    print()
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"Machine: {machine()}; {len(topo.hosts)} lab hosts; {when}; "
          f"node image {'built in this run' if cold_image else 'ALREADY BUILT (not cold)'}, "
          f"package cache {'empty' if cold_cache else 'NOT EMPTY (not cold)'} at the start")
    print()
    print("| the cold main job | seconds |\n| --- | ---: |")
    for label, took in results:
        print(f"| {label} | {took:.1f} |")
    print(f"| **bootstrap to verified** | **{main_seconds:.1f}** |")
    for failure in verify_failed:
        print(f"\nVERIFY FAILED: {failure}")
    print()
    print("| the converge's package tasks, by role (wall time) | seconds |\n| --- | ---: |")
    per_role = package_seconds(events) if events.exists() else {}
    for role, took in per_role.items():
        print(f"| {role} | {took:.1f} |")
    print(f"| **all package tasks** | **{sum(per_role.values()):.1f}** |")
    print()
    print(f"| the floor: {len(packages)} packages, one node, one transaction | cold cache | "
          f"warm cache |\n| --- | ---: | ---: |")
    for (label, c), (_, w) in zip(cold, warm, strict=True):
        print(f"| {label} | {c:.1f} | {w:.1f} |")
    cold_t, warm_t = sum(s for _, s in cold), sum(s for _, s in warm)
    print(f"| **floor** | **{cold_t:.1f}** | **{warm_t:.1f}** |")
    print(f"\nFetched from the mirror for the floor: {fetched / 2**20:.0f} MiB. "
          f"The cold main job is {main_seconds / cold_t:.1f}x the cold floor (goal: 2x).")
    print("Packages: " + " ".join(packages))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"bench-cold: {exc}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        print(f"bench-cold: {exc}", file=sys.stderr)
        sys.exit(2)
