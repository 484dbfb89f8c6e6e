"""Steps that mlopsdsl itself adds to a pipeline when a backend lowers it (see :mod:`mlopsdsl.lowering`).

A written list of step outputs (``total(xs=[a, b, c])``) becomes a ``gather`` task, and a condition that
reads a stored value becomes a ``decide`` task whose ``bool`` output the engine compares. They run through
the same step runtime as user steps, imported by name from the runtime bundle, so they read and write
values exactly as user steps do. Pure standard library: they run in a stock Python image.
"""

from __future__ import annotations

import operator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["compare", "decide", "gather", "gather_dict"]

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def gather(**items: Any) -> list[Any]:
    """``item_0``, ``item_1``... as one list, in that order."""
    return [items[f"item_{i}"] for i in range(len(items))]


def gather_dict(keys: list[str], **items: Any) -> dict[str, Any]:
    """``item_0``, ``item_1``... as one dict under ``keys``, in that order."""
    return {key: items[f"item_{i}"] for i, key in enumerate(keys)}


def compare(op: str, left: Any, right: Any) -> bool:
    """``left op right`` as every path decides it: a comparison Python refuses (``None < 1``) does not hold.

    The local runner decides conditions on values with this, and ``decide`` tasks run it in the pod.
    """
    try:
        return bool(_COMPARE[op](left, right))
    except TypeError:
        return False


def decide(condition: dict[str, Any], **operands: Any) -> bool:
    """Whether ``condition`` holds: a tree of ``compare``/``all``/``any``/``not`` nodes whose operands are
    literals (``{"value": ...}``) or inputs of this task (``{"input": "operand_0"}``)."""
    return _holds(condition, operands)


def _holds(node: dict[str, Any], operands: dict[str, Any]) -> bool:
    kind = node["kind"]
    if kind == "compare":
        return compare(node["op"], _operand(node["left"], operands), _operand(node["right"], operands))
    if kind == "not":
        return not _holds(node["condition"], operands)
    parts = [_holds(part, operands) for part in node["conditions"]]
    return all(parts) if kind == "all" else any(parts)


def _operand(side: dict[str, Any], operands: dict[str, Any]) -> Any:
    return side["value"] if "input" not in side else operands[side["input"]]
