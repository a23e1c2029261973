"""The fast path of `yamlfile.loads`: plain data built straight from the parser's events.

PyYAML's C loader parses in C but then builds a Python node object for every scalar,
mapping and sequence (with its marks) and walks that graph with a generator-based Python
constructor: for a 10,000-host topology (150,000 scalars) that is about five sixths of
the load. The files a sysadmin edits are plain block YAML (mappings, sequences, scalars
without tags or anchors), and for those the same result comes straight from the event
stream: each plain scalar is resolved once by the loader's own resolver and constructor
(YAML 1.1 as PyYAML has it: `yes` is true, `010` is 8), each mapping refuses a key it
already has.

`build` returns the document, or raises `Unsupported` at the first thing outside that
subset (an anchor, an alias, a tag, a merge key, a non-scalar key, a duplicate key, a
second document) or at any parse or construction error; the caller then loads the text
with the full strict loader, which alone words the errors. Both paths give equal data
for every file (tests/unit/test_yaml_fast_path.py).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

STR_TAG = "tag:yaml.org,2002:str"
# Tags a plain scalar resolves to whose values are immutable, so one constructed value
# may stand for every occurrence of the same text.
PLAIN_TAGS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool",
                        "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                        "tag:yaml.org,2002:timestamp"})
_NO_KEY, _SEQUENCE = object(), object()


class Unsupported(Exception):
    """The text needs the full loader (or is invalid: the full loader says why)."""


def build(text: str, loader_class: type[yaml.SafeLoader]) -> Any:
    loader: Any = loader_class(text)  # PyYAML's loaders are untyped
    try:
        return _build(loader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise Unsupported(str(exc)) from exc
    finally:
        loader.dispose()


def _scalar(loader: Any, value: str, cache: dict[str, Any]) -> Any:
    """A plain scalar's value, resolved and constructed as the loader would."""
    try:
        return cache[value]
    except KeyError:
        pass
    tag = loader.resolve(yaml.ScalarNode, value, (True, False))
    if tag == STR_TAG:
        result: Any = value
    elif tag in PLAIN_TAGS:
        result = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, value))
    else:  # a merge key (<<), the value key (=) or a resolver of another kind
        raise Unsupported(f"plain scalar of tag {tag}")
    cache[value] = result
    return result


def _build(loader: Any) -> Any:
    get = loader.get_event
    get()  # StreamStartEvent
    event = get()
    if type(event) is StreamEndEvent:
        return None  # an empty file, as yaml.load gives it
    if type(event) is not DocumentStartEvent:
        raise Unsupported("no document")
    cache: dict[str, Any] = {}
    # One frame per open collection: [the collection, the key awaiting its value, or
    # _NO_KEY, or _SEQUENCE for a sequence].
    stack: list[list[Any]] = []
    root: Any = None
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise Unsupported("anchor or tag")
            value = (_scalar(loader, event.value, cache) if event.implicit[0]
                     else event.value)
            container = False
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise Unsupported("anchor or tag")
            if stack and stack[-1][1] is _NO_KEY:
                raise Unsupported("a collection as a mapping key")
            stack.append([{}, _NO_KEY] if kind is MappingStartEvent else [[], _SEQUENCE])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value = stack.pop()[0]
            container = True
        elif kind is DocumentEndEvent:
            break
        else:  # an alias
            raise Unsupported(kind.__name__)
        if not stack:
            root = value
            continue
        frame = stack[-1]
        key = frame[1]
        if key is _SEQUENCE:
            frame[0].append(value)
        elif key is _NO_KEY:
            if container:
                raise Unsupported("a collection as a mapping key")
            if value in frame[0]:
                raise Unsupported("duplicate key")
            frame[1] = value
        else:
            frame[0][key] = value
            frame[1] = _NO_KEY
    if type(get()) is not StreamEndEvent:
        raise Unsupported("more than one document")
    return root
