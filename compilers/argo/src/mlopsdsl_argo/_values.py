"""Literal values as text that neither Argo, Kubernetes nor a shell will ever interpret.

Argo expands ``{{...}}`` (and evaluates ``{{=...}}`` expressions) in every template field and in the
workflow's arguments; Kubernetes expands ``$(VAR)`` in a container's ``args`` and ``env``. A user's value
must reach the step unchanged, so every literal the compiler writes (parameter defaults, constants,
submitted values) and every value a step hands to the next one is *armored JSON*: plain JSON whose strings
spell ``{``, ``}``, ``$`` and every non-ASCII character as ``\\uXXXX`` escapes. Such text contains no
``{{``, no ``$`` and no newline, and ``json.loads`` gives back exactly the original value. The in-pod
launcher (:mod:`mlopsdsl_argo._launch`) writes step outputs the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["armor", "is_armored_safe"]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPES = {"{": "\\u007b", "}": "\\u007d", "$": "\\u0024"}
_UNSAFE = re.compile(r"[{}$]")


def _escape_string(match: re.Match[str]) -> str:
    return _UNSAFE.sub(lambda m: _ESCAPES[m.group(0)], match.group(0))


def armor(value: Any) -> str:
    """``value`` as compact, ASCII-only JSON with ``{``, ``}`` and ``$`` escaped inside strings.

    Object keys are sorted, so the text is deterministic. Outside strings JSON never writes ``{{``
    (an object's members always start with a key), so the result holds no Argo tag at all.
    """
    text = json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return _STRING.sub(_escape_string, text)


def is_armored_safe(text: str) -> bool:
    """True when ``text`` can sit in an Argo template field or a container argument unchanged."""
    return "{{" not in text and "$" not in text and text.isascii() and "\n" not in text
