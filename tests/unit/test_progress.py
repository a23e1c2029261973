"""The progress display's logic, from recorded events: Ansible's (our municloud_events
callback, recorded from tests/fixtures/progress/playbook.yml) and pytest's (the verify
plugin, live on a small sample suite)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.progress.ansible_events import AnsibleProgress
from municloud.progress.display import Display, Phase, PlainDisplay, plain
from municloud.progress.pytest_events import PytestProgress
from municloud.progress.runlog import RunLog

FIXTURES = paths.TESTS / "fixtures" / "progress"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def recorded_events() -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (FIXTURES / "converge.events.jsonl").read_text().splitlines()]


def recorded_log(tmp_path: Path) -> RunLog:
    log = RunLog(tmp_path / "logs" / "deploy.log")
    for ln in (FIXTURES / "converge.log").read_text().splitlines():
        log.write(ln)
    return log


class Recorder(Display):
    """Keeps every row update and note, for assertions."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str | None, int | None, int | None]] = []
        self.notes: list[str] = []

    def begin(self, phase: Phase) -> None: ...
    def end(self, phase: Phase, ok: bool) -> None: ...

    def update(self, phase: Phase, row: str, text: str | None, done: int | None,
               total: int | None, restart: bool) -> None:
        self.rows.append((row, text, done, total))

    def note(self, phase: Phase, text: str) -> None:
        self.notes.append(text)

    def milestone(self, phase: Phase, text: str) -> None:
        self.notes.append(f"(plain) {text}")

    def line(self, text: str, err: bool = False) -> None: ...
    def raw(self, text: str) -> None: ...


def test_a_recorded_converge_replays_to_plays_a_failure_in_place_and_the_slowest(
        tmp_path: Path) -> None:
    log = recorded_log(tmp_path)
    out = io.StringIO()
    phase = Phase(PlainDisplay(out=out), "converge (unit)", 0)
    fold = AnsibleProgress(phase, log)
    fold.start_line = 0
    for ev in recorded_events():
        fold.feed(ev)
    fold.finish()
    text = out.getvalue()
    fatal = next(i for i, ln in enumerate((FIXTURES / "converge.log").read_text().splitlines(),
                                          1) if ln.startswith("fatal: [localhost]"))
    assert "play 1/2 Prepare a scratch folder: 1 host, 4 tasks, 1 changed" in text
    assert "play 2/2 Fail on purpose: 1 host, 1 tasks, 0 changed" in text
    assert "    FAILED localhost  task 'Check a condition that does not hold'\n" \
           "        the scratch folder is not what it should be\n" \
           f"        log: {log.path}:{fatal}\n" in text
    slowest = text.split("slowest tasks:\n", 1)[1].splitlines()
    assert "scratch : Write a file into the scratch folder (1 host)" in slowest[0]
    assert len(slowest) == 5
    assert not CONTROL.search(text.replace("\n", ""))
    assert [f.host for f in fold.failures] == ["localhost"]


def test_the_live_rows_show_play_task_role_and_hosts_done() -> None:
    rec = Recorder()
    fold = AnsibleProgress(Phase(rec, "converge (unit)", 0))
    events = recorded_events()
    for ev in events[:4]:  # playbook, play, task "Say hello", its host result
        fold.feed(ev)
    main = [r for r in rec.rows if r[0] == "main"]
    task = [r for r in rec.rows if r[0] == "task"]
    assert main[-1] == ("main", "play 1/2 Prepare a scratch folder", 0, 2)
    assert task[-2] == ("task", "scratch : Say hello  (hosts 0/1)", 0, 4)
    assert task[-1] == ("task", "scratch : Say hello  (hosts 1/1)", 0, 4)
    for ev in events[4:5]:  # the next task starts: one task of four is done
        fold.feed(ev)
    assert [r for r in rec.rows if r[0] == "task"][-1][2:] == (1, 4)


def test_plays_without_a_host_of_this_run_are_counted_not_listed() -> None:
    rec = Recorder()
    fold = AnsibleProgress(Phase(rec, "converge", 0))
    events: tuple[dict[str, Any], ...] = (
        {"event": "playbook_start", "plays": 3},
        {"event": "play_start", "play": "elsewhere", "hosts": []},
        {"event": "play_start", "play": "here", "hosts": ["a"]},
        {"event": "task_start", "task": "x", "role": "", "title": "x"},
        {"event": "host_ok", "host": "a", "task": "x", "role": "", "title": "x"},
        {"event": "play_start", "play": "also elsewhere", "hosts": []},
        {"event": "stats", "hosts": {}})
    for t, ev in enumerate(events):
        fold.feed({**ev, "t": float(t)})
    fold.finish()
    assert rec.notes[0] == "play 2/3 here: 1 host, 1 tasks, 0 changed, 3.0s"
    assert rec.notes[1] == "2 of 3 plays had no host in this run"
    assert [r for r in rec.rows if r[0] == "main"][-1][1:] == ("3/3 plays", 3, 3)


def test_ignored_failures_are_not_reported_and_unreachable_hosts_are() -> None:
    rec = Recorder()
    fold = AnsibleProgress(Phase(rec, "converge", 0))
    t = 1.0
    for ev in ({"event": "play_start", "play": "p", "hosts": ["a", "b"], "tasks": 1},
               {"event": "task_start", "task": "probe", "role": "r", "title": "r : probe"},
               {"event": "host_failed", "host": "a", "task": "probe", "role": "r",
                "title": "r : probe", "msg": "expected", "ignored": True},
               {"event": "host_unreachable", "host": "b", "task": "probe", "role": "r",
                "title": "r : probe", "msg": "ssh: connect to host b port 22: timed out"}):
        fold.feed({**ev, "t": t})
        t += 1
    assert len(fold.failures) == 1
    assert rec.notes[0].startswith("UNREACHABLE b  role r  task 'probe'\n    ssh: connect")


def test_a_task_header_and_failure_lines_are_found_in_the_log(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "l.log")
    for ln in ("TASK [r : probe] ****", "fatal: [a]: FAILED! => {}",
               "TASK [r : other] ****", "failed: [b] (item=x) => {}",
               "TASK [r : probe] ****", "ok: [a]", "fatal: [b]: FAILED! => {}"):
        log.write(ln)
    assert log.failure_line("b", "r : probe", wait=0) == 7
    assert log.failure_line("a", "r : probe", wait=0) == 2
    assert log.failure_line("b", "r : other", wait=0) == 4
    assert log.failure_line("c", "r : probe", wait=0) is None
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


def test_plain_text_has_no_escape_or_control_characters() -> None:
    assert plain("\x1b[31mred\x1b[0m \x1b]0;title\x07done\r\x08") == "red done"
    assert plain("tab\tand\nnewline") == "tab\tand\nnewline"


def test_verify_progress_from_the_plugin_events_under_xdist(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    env = dict(os.environ, MUNICLOUD_VERIFY_EVENTS=str(events))
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "municloud.deploy.verify_plugin",
         "-p", "no:cacheprovider", "-q", "-n", "2", str(FIXTURES / "sample_checks.py")],
        cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = RunLog(tmp_path / "verify.log")
    for ln in proc.stdout.splitlines():
        log.write(ln)
    rec = Recorder()
    fold = PytestProgress(Phase(rec, "state checks", 0), log)
    for ln in events.read_text().splitlines():
        fold.feed(json.loads(ln))
    fold.finish()
    assert (fold.total, fold.done) == (4, 4)
    # Each of the 2 workers reports its collection: the count is said once.
    assert rec.notes.count("(plain) 4 tests collected") == 1, rec.notes
    assert fold.outcomes == {"passed": 2, "failed": 1, "skipped": 1}
    assert rec.rows[-1][2:] == (4, 4)
    assert (rec.rows[-1][1] or "").startswith("4/4 tests, 1 failed, 1 skipped")
    failed = [n for n in rec.notes if n.startswith("FAILED")]
    assert failed == ["FAILED sample_checks.py::test_a_check_that_fails (SAMPLE-02)\n"
                      "    AssertionError: the answer is not 42"]
    slowest = next(n for n in rec.notes if n.startswith("slowest tests:"))
    assert "test_a_check_that_passes[host" in slowest.splitlines()[1]
    reports = next(n for n in rec.notes if n.startswith("failure reports in the log:"))
    header = next(i for i, ln in enumerate(proc.stdout.splitlines(), 1)
                  if "_ test_a_check_that_fails _" in ln)
    assert reports.endswith(f"test_a_check_that_fails: {log.path}:{header}")
    assert "(plain) 4/4 tests, 1 failed, 1 skipped" in rec.notes
