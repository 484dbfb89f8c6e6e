"""Tolerant maps: whether a map whose elements partly failed still succeeds, decided once for every engine.

``step.map(..., allow_failures=True)`` or ``min_success=0.9`` sets :attr:`~mlopsdsl.ir.MapSpec.min_success`;
the failed elements are reported (index and error) and left out of the collected lists, which keep the
successful elements' results in input order. Whoever collects a map's results (the local runner, the
``settle`` task of an engine) asks :func:`verdict`, so that "how many may fail" and the message when too
many did are the same everywhere; the rule itself lives in the runtime (:mod:`mlopsdsl.runtime._tolerance`)
because ``settle`` runs it in a pod.

For the engines, :func:`mlopsdsl.lowering.desugar` turns a tolerant map into an ordinary map of a step
run in *tolerant mode* (:func:`tolerant_section`, the call spec's ``tolerant`` section) followed by a
``settle`` task; a backend renders both as it renders any map and any consumer, and adds only how its pod
learns which attempt it is.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl.runtime._tolerance import OUTCOME, needed, verdict

__all__ = [
    "OUTCOME",
    "TOLERANT_COPY",
    "function_name",
    "is_tolerant",
    "needed",
    "placeholder",
    "tolerant_section",
    "tolerates",
    "verdict",
]

TOLERANT_COPY = "-tolerant"
"""The suffix of the tolerant copy of a step that is also called strictly (no Python name holds ``-``)."""


def tolerates(spec: ir.MapSpec | None) -> bool:
    """Whether a failed element leaves the map running (the map collects what succeeded)."""
    return spec is not None and spec.min_success is not None


def is_tolerant(step: ir.StepSpec) -> bool:
    """Whether ``step`` runs in tolerant mode: desugaring gave it the :data:`OUTCOME` output."""
    return any(out.name == OUTCOME for out in step.outputs)


def function_name(step: ir.StepSpec) -> str:
    """The name ``step``'s function goes by in a backend's ``functions`` (``pipeline.step_functions()``):
    its own, or for a tolerant copy the name of the step it copies."""
    if is_tolerant(step) and step.name.endswith(TOLERANT_COPY):
        return step.name[: -len(TOLERANT_COPY)]
    return step.name


def placeholder(type_: ir.TypeSpec) -> Any:
    """A value of ``type_`` that every engine carries, written for the outputs of a failed element.

    ``settle`` leaves it out, so no step ever reads it; it only has to pass the engine's own checks of the
    declared type (KFP's launcher parses a ``NUMBER_INTEGER`` output as an integer, and so on).
    """
    kind = type_.kind
    if kind == "enum" and type_.values:
        return type_.values[0]
    return {"str": "", "int": 0, "float": 0.0, "bool": False, "list": [], "dict": {}, "model": {},
            "dataclass": {}}.get(kind)  # fmt: skip


def tolerant_section(step: ir.StepSpec) -> dict[str, Any] | None:
    """The call spec's ``tolerant`` section for ``step`` (``docs/runtime.md``), or ``None`` when it runs
    strictly. A backend adds how the pod learns its attempt number when ``attempts`` is above 1."""
    if not is_tolerant(step):
        return None
    retry = step.options.retry
    return {
        "outcome": OUTCOME,
        "attempts": retry.attempts if retry is not None else 1,
        "placeholders": {out.name: placeholder(out.type) for out in step.outputs if out.name != OUTCOME},
    }
