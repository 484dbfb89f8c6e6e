"""Tolerant maps: whether a map whose elements partly failed still succeeds, decided once for every engine.

``step.map(..., allow_failures=True)`` or ``min_success=0.9`` sets :attr:`~mlopsdsl.ir.MapSpec.min_success`;
the failed elements are reported (index and error) and left out of the collected lists, which keep the
successful elements' results in input order. Whoever collects a map's results (the local runner, an
engine's gather) asks :func:`verdict`, so that "how many may fail" and the message when too many did are
the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlopsdsl import ir

__all__ = ["needed", "tolerates", "verdict"]


def tolerates(spec: ir.MapSpec | None) -> bool:
    """Whether a failed element leaves the map running (the map collects what succeeded)."""
    return spec is not None and spec.min_success is not None


def needed(min_success: float, total: int) -> int:
    """How many of ``total`` elements must succeed: the fraction, rounded up (0.9 of 5 is 5, 0.5 of 5 is 3).

    A tiny tolerance absorbs binary fractions (0.3 * 10 is 3.0000000000000004, which must mean 3).
    """
    return max(0, math.ceil(min_success * total - 1e-9))


def verdict(task: str, min_success: float, total: int, failed: Sequence[int]) -> str | None:
    """``None`` when the map succeeds with ``failed`` (element indices) out of ``total``; else the message."""
    succeeded = total - len(failed)
    need = needed(min_success, total)
    if succeeded >= need:
        return None
    shown = ", ".join(str(i) for i in sorted(failed))
    return (
        f"map {task!r}: {succeeded} of {total} elements succeeded, but min_success={min_success:g} needs "
        f"{need}; failed elements: {shown}"
    )
