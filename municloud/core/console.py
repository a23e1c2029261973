"""How `municloud` commands talk to people: progress on long work, tables, summaries.

Inside a progress session (municloud/progress/session.py: `run`, `deploy`, `verify`,
`lab up`) steps and messages go through its display and into its log; elsewhere they
are printed as plain lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from municloud.progress import session
from municloud.progress.display import Phase, PlainDisplay


def info(msg: str) -> None:
    sess = session.current()
    if sess is not None:
        sess.info(msg)
    else:
        print(msg, flush=True)


def warn(msg: str) -> None:
    sess = session.current()
    if sess is not None:
        sess.info(f"WARNING: {msg}", err=True)
    else:
        print(f"WARNING: {msg}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[Phase]:
    """A step: shown as it starts, with its progress (`phase.update`) while it runs, and
    how long it took when it ends."""
    sess = session.current()
    if sess is not None:
        with sess.step(title) as phase:
            yield phase
        return
    start = time.monotonic()
    phase = Phase(_PLAIN, title, 0)
    print(f"==> {title} ...", flush=True)
    try:
        yield phase
    except BaseException:
        print(f"<== {title}: FAILED after {time.monotonic() - start:.1f}s", flush=True)
        raise
    print(f"<== {title}: done in {time.monotonic() - start:.1f}s", flush=True)


_PLAIN = PlainDisplay()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
