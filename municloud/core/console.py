"""How `municloud` commands talk to people: progress on long work, tables, summaries."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def info(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print a step as it starts and how long it took when it ends."""
    start = time.monotonic()
    print(f"==> {title} ...", flush=True)
    try:
        yield
    except BaseException:
        print(f"<== {title}: FAILED after {time.monotonic() - start:.1f}s", flush=True)
        raise
    print(f"<== {title}: done in {time.monotonic() - start:.1f}s", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
