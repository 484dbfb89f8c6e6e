"""The lowering layer: the one place that decides what each construct of the IR means for the engines.

Every consumer after the IR reads it through here. :mod:`._sources` resolves bindings into typed sources
(the local runner's plan); :func:`desugar` rewrites what engines have no direct form for into built-in
tasks, so backends only render; :class:`Capabilities` and :func:`check` report, at the user's line, what a
backend still cannot run; :func:`prepare` is what every compile and ``validate --backend`` call, so the
check runs before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopsdsl.lowering._capabilities import ALL, ARGUMENT_BYTES, Capabilities, Gap, argument_problem, check
from mlopsdsl.lowering._desugar import BUILTINS, desugar, is_builtin
from mlopsdsl.lowering._maps import OUTCOME, function_name, is_tolerant, tolerant_section, tolerates, verdict
from mlopsdsl.lowering._pod import DEFAULT_USER, Identity, identity_of, pod_of
from mlopsdsl.lowering._schedule import MACROS, check_schedule, schedule_of

if TYPE_CHECKING:
    from mlopsdsl import ir

__all__ = [
    "ALL",
    "ARGUMENT_BYTES",
    "BUILTINS",
    "Capabilities",
    "DEFAULT_USER",
    "Gap",
    "Identity",
    "MACROS",
    "OUTCOME",
    "argument_problem",
    "capabilities_of",
    "check",
    "check_schedule",
    "desugar",
    "function_name",
    "identity_of",
    "is_builtin",
    "is_tolerant",
    "pod_of",
    "schedule_of",
    "tolerant_section",
    "tolerates",
    "verdict",
]


def capabilities_of(backend: Any) -> Capabilities:
    """What ``backend`` declares it can run (its ``capabilities`` attribute); everything when it is silent."""
    declared = getattr(backend, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else ALL


def gaps(document: ir.Document, backend: Any) -> list[Gap]:
    """What ``backend`` cannot run in ``document``, located."""
    return check(document, capabilities_of(backend), getattr(backend, "name", "this"))
