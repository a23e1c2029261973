"""Files a sysadmin edits, in every broken shape: binary, not UTF-8, UTF-16, duplicate
keys; outputs that are no object; `-o` where nothing can be written; a closed stdout.
Each gives one line naming the file and the problem and a documented exit code, never a
traceback (issue 17, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from municloud.core import admin_keys, paths
from municloud.core.errors import InvalidInput

from .topology_cases import write_env

LAB_TOPOLOGY = (Path(__file__).parents[2] / "inventories" / "lab" / "topology.yml").read_text()
BROKEN: dict[str, tuple[bytes, str]] = {
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x03\x00>\x00", "is a binary file"),
    "latin-1": ("environment: bad\nmunicipality: {name: Δήμος}\n".encode("iso-8859-7"),
                "is not UTF-8 text (invalid byte"),
    "utf-16-with-bom": (LAB_TOPOLOGY.encode("utf-16"), "is UTF-16 encoded"),
    "utf-16-without-bom": (LAB_TOPOLOGY.encode("utf-16-le"), "looks UTF-16 encoded"),
    "duplicate-key": (b"environment: bad\nplatform: lab\nplatform: openstack\n",
                      "line 3: duplicate key 'platform' (first at line 2"),
    "bad-timestamp": (b"environment: 2026-13-01\n", "not valid YAML"),
    "directory": (b"", "is a directory"),
}


def run(*args: str, inv: Path, state: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    with pytest.MonkeyPatch.context() as mp:  # the lab key `lab up` leaves in the state
        mp.setenv("MUNICLOUD_STATE", str(state))
        admin_keys.ensure_lab_admin_key("lab")
    env = dict(os.environ, MUNICLOUD_INVENTORIES=str(inv), MUNICLOUD_STATE=str(state))
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "municloud.cli", *args], env=env, text=True,
        capture_output="stdout" not in kw, check=False, timeout=120, **kw)
    return done


def _plant(path: Path, kind: str) -> None:
    if path.exists():
        path.unlink()
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(BROKEN[kind][0])


def _one_clean_line(proc: subprocess.CompletedProcess[str], file: Path, words: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert str(file.name) in lines[0] and words in lines[0], lines


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("kind", [k for k in BROKEN if k != "directory"])
def test_broken_topology_file_is_one_line_exit_2(kind: str, tmp_path: Path) -> None:
    inv = tmp_path / "inventories"
    topo = write_env(inv, "bad", None)
    _plant(topo, kind)
    proc = run("topology", "check", "bad", inv=inv, state=tmp_path / "state")
    assert proc.returncode == 2
    _one_clean_line(proc, topo, BROKEN[kind][1])


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("kind", BROKEN)
def test_broken_manifest_is_one_line_exit_2(kind: str, tmp_path: Path) -> None:
    manifest = tmp_path / "artifacts.yml"
    _plant(manifest, kind)
    proc = run("artifacts", "show", "--manifest", str(manifest), inv=paths.INVENTORIES,
               state=tmp_path / "state")
    assert proc.returncode == 2
    _one_clean_line(proc, manifest, BROKEN[kind][1])


@pytest.mark.parametrize("kind", [k for k in BROKEN if k != "duplicate-key"])
def test_broken_stack_outputs_file_is_one_line(kind: str, tmp_path: Path) -> None:
    inv = tmp_path / "inventories"
    write_env(inv, "lab", None)
    outputs = tmp_path / "outputs.json"
    _plant(outputs, kind)
    proc = run("inventory", "lab", "--from-stack", str(outputs), inv=inv,
               state=tmp_path / "state")
    assert proc.returncode != 0
    _one_clean_line(proc, outputs, "" if kind == "bad-timestamp" else BROKEN[kind][1])


@pytest.mark.parametrize("content", ["[1, 2]", '"hosts"', "null", "3"])
def test_state_outputs_that_are_no_object(content: str, tmp_path: Path) -> None:
    inv, state = tmp_path / "inventories", tmp_path / "state"
    write_env(inv, "lab", None)
    (state / "lab").mkdir(parents=True)
    (state / "lab" / "outputs.json").write_text(content)
    proc = run("inventory", "lab", inv=inv, state=state)
    assert proc.returncode == 1
    _one_clean_line(proc, state / "lab" / "outputs.json", "not a JSON object")


@pytest.mark.parametrize("target", ["missing/dir/inventory.yml", "."])
def test_inventory_output_that_cannot_be_written(target: str, tmp_path: Path) -> None:
    inv = tmp_path / "inventories"
    write_env(inv, "lab", None)
    out = tmp_path / target
    proc = run("inventory", "lab", "-o", str(out), inv=inv, state=tmp_path / "state")
    assert proc.returncode == 2
    _one_clean_line(proc, out, "does not exist" if "missing" in target else "is a directory")
    assert not (tmp_path / "missing").exists()


def test_closed_stdout_is_one_line_exit_141(tmp_path: Path) -> None:
    inv = tmp_path / "inventories"
    write_env(inv, "lab", None)
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already exited
    try:
        proc = run("inventory", "lab", inv=inv, state=tmp_path / "state", stdout=write,
                   stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "municloud: standard output was closed before all was written"]


def test_duplicate_keys_are_found_with_the_c_loader_too() -> None:
    from municloud.core import yamlfile

    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(yamlfile.StrictLoader, yaml.CSafeLoader)
    text = "a:\n  b: 1\n  c: 2\n  b: 3\n"
    with pytest.raises(InvalidInput, match=r"line 4: duplicate key 'b' \(first at "
                                                    r"line 2"):
        yamlfile.loads(text, "x.yml")
    # The same key in different mappings, and merge keys, are fine.
    assert yamlfile.loads("a: {k: 1}\nb: {k: 2}\nc: &x {k: 1}\nd: {<<: *x, j: 2}\n", "x.yml")


def test_outputs_json_that_is_an_object_still_works(tmp_path: Path) -> None:
    inv, state = tmp_path / "inventories", tmp_path / "state"
    write_env(inv, "lab", None)
    (state / "lab").mkdir(parents=True)
    hosts = {h["name"]: {"address": h["address"]}
             for h in yaml.safe_load(LAB_TOPOLOGY)["hosts"]}
    (state / "lab" / "outputs.json").write_text(json.dumps({"hosts": hosts}))
    proc = run("inventory", "lab", inv=inv, state=state)
    assert proc.returncode == 0, proc.stderr
