"""Reading the YAML files a sysadmin edits (topologies, manifests, inventories): one
`InvalidInput` line naming the file and the problem for every way such a file can be
wrong, never a traceback.

- the bytes must be UTF-8 text: a UTF-16/32 file (byte-order mark or NUL bytes), a binary
  file or an invalid UTF-8 sequence is named as such;
- a key given twice in one mapping is refused with its line and the line of the first one
  (PyYAML silently keeps the last);
- PyYAML's C parser (libyaml, `yaml.CSafeLoader`) is used where present, and a plain
  file (no anchors, aliases or tags: what sysadmins write) is built straight from its
  events (`yamlevents`), about three times faster than through PyYAML's nodes and
  constructor; anything else, and every error, goes through the full `StrictLoader`,
  whose duplicate-key detection lives in the constructor.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from municloud.core import yamlevents
from municloud.core.errors import InvalidInput, Problem

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR_TAG = "tag:yaml.org,2002:str"
BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


class DuplicateKey(yaml.constructor.ConstructorError):
    def __init__(self, key: Any, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first
        super().__init__(None, None, f"duplicate key {key!r}")


class StrictLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader (C where available) refusing duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            tag = key_node.tag
            if tag == "tag:yaml.org,2002:merge":
                continue
            # A string key is its text: no need to construct it (the common case, fast).
            key = key_node.value if tag == STR_TAG else self.construct_object(key_node,
                                                                             deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor names it
                break
            if first is not None:
                raise DuplicateKey(key, key_node.start_mark.line + 1, first)
            seen[key] = key_node.start_mark.line + 1
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def problem(shown: str, text: str) -> InvalidInput:
    return InvalidInput([Problem(shown, "", text)])


def decode(data: bytes, shown: str) -> str:
    """The text of a file that must be UTF-8; InvalidInput naming what it is instead."""
    for bom, name in BOMS:
        if data.startswith(bom):
            raise problem(shown, f"is {name} encoded, not UTF-8 (save it as UTF-8)")
    if b"\0" in data:
        even, odd = data[0::2].count(0), data[1::2].count(0)
        if len(data) >= 4 and (even == 0 or odd == 0) and max(even, odd) * 3 >= len(data):
            raise problem(shown, "looks UTF-16 encoded (NUL bytes between characters), "
                                 "not UTF-8 (save it as UTF-8)")
        raise problem(shown, f"is a binary file (NUL byte at offset {data.index(0)}), "
                             "not UTF-8 YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise problem(shown, f"is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at "
                             f"offset {exc.start})") from None


def read_text(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise problem(shown, "is a directory, not a file") from None
    except OSError as exc:
        raise problem(shown, f"cannot read: {exc.strerror or exc}") from None
    return decode(data, shown)


def loads(text: str, shown: str) -> Any:
    """Parse YAML text; InvalidInput with the line of the problem."""
    try:
        return yamlevents.build(text, StrictLoader)
    except yamlevents.Unsupported:
        pass
    try:
        return yaml.load(text, Loader=StrictLoader)
    except DuplicateKey as exc:
        raise problem(shown, f"line {exc.line}: duplicate key {exc.key!r} (first at line "
                             f"{exc.first}; YAML would silently keep the last)") from None
    except yaml.YAMLError as exc:
        raise problem(shown, f"not valid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # SafeConstructor raises these for values such as the timestamp 2026-13-01.
        raise problem(shown, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise problem(shown, "not valid YAML: nested too deeply") from None


def load(path: Path, shown: str) -> Any:
    """Read and parse one YAML file the sysadmin edits."""
    return loads(read_text(path, shown), shown)
