"""scripts/bench-noop reads the recap and the profile_tasks list (deploy.bench_noop)."""

from __future__ import annotations

from pathlib import Path

from municloud.deploy.bench_noop import PROFILE, RECAP, Converge, common_seconds, streams_on_request

OUTPUT = """\
PLAY RECAP *********************************************************************
db1                        : ok=52   changed=0    unreachable=0    failed=0    skipped=4
dir1                       : ok=61   changed=2    unreachable=0    failed=0    skipped=1

common : Install the baseline packages ---------------------------------- 7.09s
db : Install MariaDB and PyMySQL ---------------------------------------- 1.90s
service_facts : Create the service facts directory ---------------------- 0.80s
service_facts : Create the service facts directory ---------------------- 0.70s
"""


def test_the_recap_and_the_profile_are_read() -> None:
    assert [(h, ok, c) for h, ok, c, *_ in RECAP.findall(OUTPUT)] == [
        ("db1", "52", "0"), ("dir1", "61", "2")]
    titles = [t for t, _ in PROFILE.findall(OUTPUT)]
    assert titles[0] == "common : Install the baseline packages"
    assert len(titles) == 4


def test_only_the_tasks_both_ran_are_compared() -> None:
    before = Converge("before", 10.0, 100, 0, {"a": 1.0, "b": 2.0, "gone": 5.0})
    after = Converge("after", 12.0, 120, 0, {"a": 0.5, "b": 2.5, "new": 4.0})
    assert common_seconds(before, after) == (2, 3.0, 3.0)


def test_older_checkouts_stream_without_minus_v(tmp_path: Path) -> None:
    cli = tmp_path / "municloud" / "deploy" / "cli.py"
    assert not streams_on_request(tmp_path)
    cli.parent.mkdir(parents=True)
    cli.write_text('p.add_argument("-v", "--verbose", action="store_true")\n')
    assert streams_on_request(tmp_path)
