"""A small, fast YAML writer for compiled manifests (mappings, sequences, strings, ints and booleans).

PyYAML spends most of a compilation representing Python objects node by node; manifests are plain data of
a few types, so this writer emits them directly, several times faster. Strings are written plain only when
they match a conservative pattern and cannot be read as anything but that string; otherwise they are
double-quoted with JSON's escapes (a subset of YAML's), plus escapes for the characters YAML treats as line
breaks or that are not printable. The multi-line launcher program is a literal block. Tests check that
``yaml.safe_load`` reads every compiled document back to exactly the data that was written.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dump"]

_PLAIN = re.compile(r"[A-Za-z_/$][A-Za-z0-9_./$'-]*(?:[ ][A-Za-z0-9_./$'!=-]+)*")
_NOT_PLAIN = re.compile(r"(?i:y|n|yes|no|true|false|on|off|null|[-+]?\.?(inf|nan))|[-+]?[0-9._:eE+-]+")
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_BLOCK_SAFE = re.compile(r"[\x20-\x7e\n]*")


def _quoted(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


_TEXTS: dict[str, str] = {}
"""String -> its YAML form, for the strings that come back in every task (keys, template names): the two
pattern matches were most of the writer's time."""


def _text(value: str) -> str:
    found = _TEXTS.get(value)
    if found is None:
        found = value if _PLAIN.fullmatch(value) and not _NOT_PLAIN.fullmatch(value) else _quoted(value)
        if len(_TEXTS) > 4096:  # a long manifest's many one-off strings must not pile up
            _TEXTS.clear()
        _TEXTS[value] = found
    return found


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return repr(value)  # a plain YAML float (histogram buckets are numbers)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} to a manifest")
    return _text(value)


def _block(text: str, indent: str) -> str | None:
    """``text`` as a literal block, when that reads back exactly."""
    if not (
        text.endswith("\n")
        and not text.endswith("\n\n")
        and _BLOCK_SAFE.fullmatch(text)
        and not text.startswith(" ")
        and " \n" not in text
    ):
        return None
    lines = text[:-1].split("\n")
    return "|\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def _value(value: Any, indent: str, out: list[str]) -> None:
    """Write what follows ``key:`` or ``- `` (the caller wrote that and no newline)."""
    if type(value) is str and "\n" not in value:
        out.append(" " + _text(value) + "\n")
    elif isinstance(value, dict) and value:
        out.append("\n")
        _mapping(value, indent, out)
    elif isinstance(value, list) and value:
        out.append("\n")
        _sequence(value, indent, out)
    elif isinstance(value, dict):
        out.append(" {}\n")
    elif isinstance(value, list):
        out.append(" []\n")
    else:
        block = _block(value, indent + "  ") if isinstance(value, str) and "\n" in value else None
        out.append(" " + block if block is not None else f" {_scalar(value)}\n")


def _mapping(data: dict[str, Any], indent: str, out: list[str], first: str | None = None) -> None:
    lead = indent if first is None else first
    deeper = indent + "  "
    for key, value in data.items():
        head = lead + (_text(key) if type(key) is str else _scalar(key)) + ":"
        lead = indent
        if type(value) is str and "\n" not in value:  # most values: one append, no further call
            out.append(head + " " + _text(value) + "\n")
            continue
        out.append(head)
        _value(value, deeper if isinstance(value, dict) and value else indent, out)


def _sequence(items: list[Any], indent: str, out: list[str]) -> None:
    for item in items:
        if isinstance(item, dict) and item:
            _mapping(item, indent + "  ", out, first=indent + "- ")
        elif isinstance(item, list) and item:
            out.append(indent + "-\n")
            _sequence(item, indent + "  ", out)
        else:
            out.append(indent + "-")
            _value(item, indent, out)


def dump(data: dict[str, Any]) -> str:
    """``data`` as YAML, keys in insertion order."""
    out: list[str] = []
    _mapping(data, "", out)
    return "".join(out)
