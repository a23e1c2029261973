"""Progress of long `municloud` work: a live block per phase on a terminal, plain lines
elsewhere (CI), the full raw output of every tool in a log file under the state directory.

- `session`: one per command (`run`, `deploy`, `verify`, `lab up`): its log file, its
  display, and the subprocess runner that feeds both.
- `display`: the two displays (rich on a terminal; plain lines without control
  characters when stdout is not one) and the phases they show.
- `runlog`: the log file, with the line numbers of task headers and failures.
- `ansible_events`, `pytest_events`: fold the JSON events of our Ansible callback
  (municloud_events) and of the verify plugin into a phase's progress.
"""
