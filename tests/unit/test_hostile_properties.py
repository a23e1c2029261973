"""Property tests (issue 17): no topology or manifest, however malformed, makes
`municloud topology check` or `municloud artifacts show` end in a traceback or an exit
code other than 0 (valid) or 2 (bad input, named). Bounded: a few seconds in all.

The inputs: the lab topology (and a valid manifest) with random values put at random
places, random edits of their YAML text, and random bytes.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from municloud import cli

from .topology_cases import LAB, write_env

SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
MANIFEST = {"policy": "best_effort", "artifacts": [
    {"name": "tool", "kind": "file", "component": "files", "version": "1.2.3",
     "url": "https://vendor.example/tool-1.2.3", "sha256": "a" * 64},
    {"name": "repo", "kind": "apt", "component": "meet", "url": "https://vendor.example",
     "suite": "stable/", "key_url": "https://vendor.example/key.asc",
     "key_fingerprint": "B" * 40, "packages": {"pkg-a": "1.0-1"}}]}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True), st.text(max_size=30),
                    st.sampled_from(["", "\n", "edge1", "10.70.1.11", "/", "../x", "sudo",
                                     "ssh-ed25519 AAAA", "Europe/Athens", "x;touch /tmp/p",
                                     "fd00::1", "10.70.0.0/16", "0", "-1", "1e9"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutated(base: dict[str, Any], draw: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_paths(data)[1:]))
        node: Any = data
        try:
            for p in where[:-1]:
                node = node[p]
            node[where[-1]] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced the parent
    return data


@st.composite
def topology_bytes(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["mutated", "text-edit", "bytes"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=200)))
    data = copy.deepcopy(LAB)
    data["environment"] = "bad"
    if kind == "mutated":
        return yaml.safe_dump(_mutated(data, draw), allow_unicode=True).encode()
    text = yaml.safe_dump(data, sort_keys=False)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        text = text[:at] + draw(st.text(max_size=5)) + text[at + cut:]
    return text.encode("utf-8", "surrogatepass")


@st.composite
def manifest_bytes(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "bytes"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=200)))
    return yaml.safe_dump(_mutated(MANIFEST, draw), allow_unicode=True).encode()


def _exit_code(argv: list[str]) -> int:
    """What `municloud ARGV` exits with, in this process (a traceback fails the test)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return cli.main(argv)
        except SystemExit as exc:  # argparse
            return int(exc.code or 0)


@pytest.mark.control("BASE-TOPO-01")
@SETTINGS
@given(content=topology_bytes())
def test_topology_check_never_crashes(content: bytes, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    inv = tmp_path / "inventories"
    if not (inv / "bad").exists():
        write_env(inv, "bad", None)
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(inv))
    (inv / "bad" / "topology.yml").write_bytes(content)
    assert _exit_code(["topology", "check", "bad"]) in (0, 2)


@pytest.mark.control("ART-03")
@SETTINGS
@given(content=manifest_bytes())
def test_manifest_loader_never_crashes(content: bytes, tmp_path: Path) -> None:
    f = tmp_path / "artifacts.yml"
    f.write_bytes(content)
    assert _exit_code(["artifacts", "show", "--manifest", str(f)]) in (0, 2)


def test_the_generators_reach_both_outcomes(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator that only ever produced garbage would prove little: the valid inputs
    pass (0) and a mutated one is refused (2) by the same in-process call."""
    inv = tmp_path / "inventories"
    write_env(inv, "bad", None)
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(inv))
    assert _exit_code(["topology", "check", "bad"]) == 0
    (inv / "bad" / "topology.yml").write_text("hosts: 3\n")
    assert _exit_code(["topology", "check", "bad"]) == 2
    monkeypatch.delenv("MUNICLOUD_INVENTORIES")
    f = tmp_path / "m.yml"
    f.write_text(yaml.safe_dump(MANIFEST))
    assert _exit_code(["artifacts", "show", "--manifest", str(f)]) == 0
    f.write_text(yaml.safe_dump({**MANIFEST, "policy": ["require"]}))
    assert _exit_code(["artifacts", "show", "--manifest", str(f)]) == 2
