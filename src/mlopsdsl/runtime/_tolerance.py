"""Tolerant maps in the runtime: how many elements must succeed, and how an element says it failed.

A tolerant map (``step.map(..., allow_failures=True)`` or ``min_success=0.9``) collects the results of the
elements that succeeded and reports the failed ones. The rule is here, in the runtime, because it is
applied in two places that must agree to the letter: the local runner's scheduler (through
:mod:`mlopsdsl.lowering`, which re-exports it) and the ``settle`` task that lowering adds for the engines
(:func:`mlopsdsl.runtime.builtins.settle`, which runs in a pod with nothing but the runtime).

On an engine each element's pod runs in *tolerant mode* (the call spec's ``tolerant`` section): when its
last attempt fails (or an attempt fails with an error retrying cannot fix), the runtime writes a
placeholder for each output and the outcome ``failed: <error>`` in the output :data:`OUTCOME`, and the pod
succeeds; ``settle`` then reads every element's outcome. Standard library only.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["OK", "OUTCOME", "failure_of", "needed", "outcome", "verdict"]

OUTCOME = "mlopsdsl-outcome"
"""The output of a tolerant map's element that says how it ended (no Python name can clash with it)."""

OK = "ok"
"""The outcome of an element that succeeded."""

_FAILED = "failed: "


def outcome(error: dict[str, object] | None) -> str:
    """The outcome an element records: :data:`OK`, or ``failed: <type>: <message>`` for ``error`` (the
    runtime's error record)."""
    if error is None:
        return OK
    return f"{_FAILED}{error.get('type')}: {error.get('message')}"


def failure_of(text: object) -> str | None:
    """The error an element's outcome holds (``ValueError: ...``), or ``None`` when it succeeded."""
    if text == OK:
        return None
    text = str(text)
    return text[len(_FAILED) :] if text.startswith(_FAILED) else text


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
