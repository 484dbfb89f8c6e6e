"""Conditions as KFP trigger policies: the IR's condition tree written in KFP's CEL dialect.

A condition group becomes a sub-DAG task whose ``triggerPolicy.condition`` the KFP driver evaluates over
that task's own inputs, so every value a condition reads is first made an input of the condition task
(``_lower.py`` does that) and referred to as ``inputs.parameter_values['NAME']``. We emit a small, fixed
subset, which the emulator in ``mlopsdsl.testing`` evaluates exactly:

* operands: ``inputs.parameter_values['NAME']`` followed by ``['field']``/``[0]`` selections; literals
  ``true``, ``false``, ``null``, double-quoted strings, and numbers written as doubles (``3.0``), because
  KFP holds every number parameter as a float64 and CEL does not compare ints with doubles;
* ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; ``&&``, ``||``, ``!(...)``, parentheses around every
  operand of ``&&`` and ``||``.
"""

from __future__ import annotations

import math
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl.runtime._values import SAFE_INT, shown_int

__all__ = ["literal", "reference"]


def literal(value: Any, where: ir.SourceLocation | None) -> str:
    """A JSON scalar as a CEL literal; ``where`` (the ``ml.when`` block) locates one KFP cannot hold."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > SAFE_INT:
            # A double would round it (or, beyond its range, have none): the comparison would be another one.
            raise CompileError(
                f"a condition compares with {shown_int(value)}, beyond ±(2**53 - 1), which KFP (its numbers "
                "are 64-bit floats) cannot hold exactly; compare in a step",
                "kfp",
                location=where,
            )
        number = float(value)
        if not math.isfinite(number):
            raise CompileError(
                f"a condition compares with {value!r}, which KFP cannot hold", "kfp", location=where
            )
        return repr(number)
    if isinstance(value, str):
        return _string(value)
    raise CompileError(
        f"a condition compares with {value!r}; on KFP conditions compare single values (str, numbers, "
        "bool, None)",
        "kfp",
        location=where,
    )


def reference(name: str, select: tuple[str | int, ...]) -> str:
    """The CEL for the condition task's input ``name``, with fields selected."""
    text = f"inputs.parameter_values['{name}']"
    for part in select:
        text += f"[{part}]" if isinstance(part, int) else f"[{_string(part)}]"
    return text


def _string(value: str) -> str:
    """A double-quoted CEL string: backslash, quote and control characters escaped; other text as is."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
