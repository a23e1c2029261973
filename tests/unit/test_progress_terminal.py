"""The progress display as a person and as CI see it, on a real converge: deploy's
converge step with its session (tests/unit/progress_run.py) runs a small playbook
against the controller through Ansible, the Mitogen strategy and our callback.

- on a pseudo-terminal (pexpect): the live block shows the play and task running now,
  the finished plays, the failure in place; the log file holds the full raw stream;
- on a pipe (CI): plain lines, one per phase step, and not one control character;
- with -v: the raw stream on screen, as before the display existed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from municloud.core import paths

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TIMEOUT = 300
# What Ansible's own output holds and the display does not: it must be in the log.
RAW = ("PLAY [Prepare a scratch folder]", "TASK [scratch : Take a moment]",
       'fatal: [localhost]: FAILED! => {"changed": false, "msg": "the scratch folder is not',
       "PLAY RECAP", "localhost                  : ok=3    changed=1")


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, MUNICLOUD_STATE=str(tmp_path / "state"), TERM="xterm-256color",
               COLUMNS="120", LINES="40")
    env.pop("NO_COLOR", None)
    return env


def _cmd(tmp_path: Path, *extra: str) -> list[str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return [sys.executable, "-m", "tests.unit.progress_run", str(scratch), *extra]


def _log(text: str) -> Path:
    m = re.search(r"log: (\S+\.log)", text)
    assert m, f"the log's path is not printed:\n{text}"
    return Path(m.group(1))


def test_on_a_terminal_the_progress_is_live_and_the_log_holds_the_full_stream(
        tmp_path: Path) -> None:
    cmd = _cmd(tmp_path)
    child = pexpect.spawn(cmd[0], cmd[1:], cwd=str(paths.REPO), env=_env(tmp_path),
                          encoding="utf-8", codec_errors="replace", timeout=TIMEOUT,
                          dimensions=(40, 120))
    # While it runs: the phase, the play n/total and the task with its role and hosts.
    child.expect(r"converge \(unit\): play 1/2 Prepare a scratch folder")
    child.expect(r"scratch : \S[^\r\n]*\(hosts \d/1\)")
    # What stays: each finished play, the failure in place, the slowest tasks.
    child.expect(r"play 1/2 Prepare a scratch folder: 1 host, 4 tasks, 1 changed")
    child.expect(r"FAILED localhost  task 'Check a condition that does not hold'")
    child.expect(r"the scratch folder is not what it should be")
    child.expect(r"log: (\S+\.log):(\d+)")
    assert isinstance(child.match, re.Match)
    log, line = Path(child.match.group(1)), int(child.match.group(2))
    child.expect(r"slowest tasks:")
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before or ""
    assert child.exitstatus == 1, screen
    assert log.parent == tmp_path / "state" / "unit" / "logs"
    assert "\x1b[" in screen, "a terminal gets the live display (cursor control)"
    text = log.read_text()
    for raw in RAW:
        assert raw in text, f"the log lacks {raw!r}"
    assert text.splitlines()[line - 1].startswith("fatal: [localhost]: FAILED!")
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_not_on_a_terminal_the_lines_are_plain(tmp_path: Path) -> None:
    proc = subprocess.run(_cmd(tmp_path), cwd=paths.REPO, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert not CONTROL.search(out.replace("\n", "")), \
        f"control characters in the non-TTY output: {CONTROL.findall(out)!r}"
    lines = proc.stdout.splitlines()
    log = _log(proc.stdout)
    assert lines[0] == f"log: {log}"
    assert lines[1] == "==> converge (unit) ..."
    assert lines[2].startswith("    play 1/2 Prepare a scratch folder: 1 host, 4 tasks, "
                               "1 changed, ")
    assert lines[3] == "    FAILED localhost  task 'Check a condition that does not hold'"
    assert lines[4] == "        the scratch folder is not what it should be"
    assert re.fullmatch(rf"        log: {re.escape(str(log))}:\d+", lines[5])
    assert any(ln.startswith("<== converge (unit): done in ") for ln in lines)
    assert "PLAY RECAP" not in proc.stdout, "the raw stream goes to the log, not the screen"
    assert "PLAY RECAP" in log.read_text()
    assert "localhost: Check a condition that does not hold" in proc.stderr


@pytest.mark.parametrize("flag", ["-v"])
def test_verbose_streams_the_raw_output_as_before(tmp_path: Path, flag: str) -> None:
    proc = subprocess.run(_cmd(tmp_path, "--no-fail", flag), cwd=paths.REPO,
                          env=_env(tmp_path), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for raw in ("PLAY [Prepare a scratch folder]", "TASK [scratch : Take a moment]",
                "PLAY RECAP"):
        assert raw in proc.stdout
    assert "converge: 1 changed tasks on 1 hosts" in proc.stdout
    assert "PLAY RECAP" in _log(proc.stdout).read_text()
