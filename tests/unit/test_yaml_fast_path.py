"""The fast path of the YAML loader (`municloud.core.yamlevents`, issue 17's scale goal)
gives exactly what the full strict loader gives, or steps aside: every YAML file of the
repository, YAML 1.1's scalars, random documents and random text."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from municloud.core import paths, yamlevents, yamlfile
from municloud.core.errors import InvalidInput

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _full(text: str) -> Any:
    return yaml.load(text, Loader=yamlfile.StrictLoader)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout (1, 1.0 and True are equal in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return bool(list(a) == list(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return bool(b != b)
    return bool(a == b)


def _agree(text: str) -> bool:
    """True when the fast path built the text (and agreed), False when it stepped aside."""
    try:
        fast = yamlevents.build(text, yamlfile.StrictLoader)
    except yamlevents.Unsupported:
        return False
    assert _same(fast, _full(text)), text
    return True


def _tracked_yaml() -> list[str]:
    out = subprocess.run(["git", "-C", str(paths.REPO), "ls-files", "*.yml", "*.yaml"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return out.split()


def test_every_yaml_file_of_the_repository_loads_the_same() -> None:
    files = _tracked_yaml()
    built = 0
    for name in files:
        text = (paths.REPO / name).read_text(encoding="utf-8", errors="replace")
        try:
            _full(text)
        except yaml.YAMLError:
            assert not _agree(text), name
            continue
        built += _agree(text)
    # The files sysadmins edit take the fast path; a handful (anchors, tags) do not.
    assert len(files) > 100 and built > 0.9 * len(files), (built, len(files))
    for env in ("lab", "staging", "production"):
        assert _agree((paths.REPO / "inventories" / env / "topology.yml").read_text()), env


@pytest.mark.parametrize("text", [
    # YAML 1.1 as PyYAML resolves it: booleans, octal, binary, hex, underscores,
    # sexagesimal, floats, null, timestamps; quoted scalars stay strings.
    "a: [yes, No, on, OFF, y, n, true, False]\n",
    "a: [010, 0o10, 0b101, 0x1F, 1_000, 190:20:30, -0, +12]\n",
    "a: [1.5, 1e3, 6.8523015e+5, .inf, -.Inf, .NaN, 1_0.5, 190:20:30.15]\n",
    "a: [~, null, Null, '', \"\", 'null', \"yes\", '010']\n",
    "a: 2026-12-02\nb: 2026-12-02T01:02:03Z\nc: 2026-12-02 01:02:03.5 +02:00\n",
    "a:\nb: |\n  text\n  more\nc: >-\n  folded\n  line\n",
    "? plain key\n: v\n1: int key\n1.5: float key\nnull: null key\nfalse: bool key\n",
    "[1, [2, [3, {a: {b: [4]}}]], {}, []]\n",
    "--- x\n...\n",
    "",
    "# only a comment\n",
    "---\n",
    "'<<': not a merge key when quoted\n",
])
def test_scalars_and_collections_load_the_same(text: str) -> None:
    assert _agree(text)


@pytest.mark.parametrize("text", [
    "a: &x {k: 1}\nb: *x\n",                     # anchor and alias: one shared object
    "a: {k: 1}\nb: {<<: {k: 2}, j: 3}\n",         # merge key
    "a: !!str 3\n",                               # explicit tag
    "a: ! 3\n",                                   # non-specific tag
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "? [1, 2]\n: complex key\n",
    "? {a: 1}\n: complex key\n",
    "a: 1\nb: 2\na: 3\n",                         # duplicate key
    "a: 1\n'a': 2\n",                             # the same key, quoted
    "1: x\n1.0: y\n",                             # equal keys of different types
    "a: =\n",                                     # the value key
    "--- 1\n--- 2\n",                             # two documents
    "a: [1, 2\n",                                 # not valid YAML
    "a: 2026-13-01\n",                            # invalid timestamp
])
def test_the_fast_path_steps_aside_for_what_it_does_not_build(text: str) -> None:
    assert not _agree(text)


def test_errors_are_worded_by_the_strict_loader() -> None:
    with pytest.raises(InvalidInput, match=r"line 3: duplicate key 'a' \(first at "
                                                    r"line 1"):
        yamlfile.loads("a: 1\nb: 2\na: 3\n", "x.yml")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        yamlfile.loads("a: [1, 2\n", "x.yml")
    with pytest.raises(InvalidInput, match="expected a single document"):
        yamlfile.loads("--- 1\n--- 2\n", "x.yml")


def test_an_alias_is_one_object_as_with_the_strict_loader() -> None:
    data = yamlfile.loads("a: &x [1]\nb: *x\n", "x.yml")
    assert data["a"] is data["b"]


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["yes", "no", "on", "010", "0x1f", "1:30", "~", "=",
                                     "<<", "2026-12-02", "1e3", ".inf", "10.70.1.11", ""]))


def _collections(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans())
    return st.one_of(st.lists(inner, max_size=4),
                     st.dictionaries(keys, inner, max_size=4))


documents = st.recursive(scalars, _collections, max_leaves=20)


@SETTINGS
@given(documents, st.booleans(), st.booleans())
def test_random_documents_load_the_same(data: Any, flow: bool, canonical: bool) -> None:
    _agree(yaml.safe_dump(data, default_flow_style=flow, canonical=canonical,
                          allow_unicode=True))


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab1: -[]{}&*!?'\"#|>.,~\n\t<=@%")),
               max_size=60))
def test_random_text_loads_the_same_or_steps_aside(text: str) -> None:
    _agree(text)
