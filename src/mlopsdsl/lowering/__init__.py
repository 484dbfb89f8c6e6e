"""The lowering layer: the one place that decides what each construct of the IR means for the engines.

Every consumer after the IR reads it through here. :mod:`._sources` resolves bindings into typed sources
(the local runner's plan); :func:`flatten` opens sub-pipelines into the step calls that run (the local
runner's plan, and the tasks of an engine without nested graphs); :func:`desugar` rewrites what engines
have no direct form for into built-in tasks, so backends only render; :func:`code_spec` and its
neighbours say how a step's code and the runtime reach a pod; :class:`Capabilities` and :func:`check`
report, at the user's line, what a backend still cannot run; :func:`prepare` is what every compile and
``validate --backend`` call, so the check runs before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopsdsl.lowering._capabilities import ALL, ARGUMENT_BYTES, Capabilities, Gap, argument_problem, check
from mlopsdsl.lowering._desugar import BUILTINS, desugar, is_builtin
from mlopsdsl.lowering._flatten import Guard, Node, flatten, guard_sources, sub_environment
from mlopsdsl.lowering._launch import (
    INTERPRETER,
    MAX_SPEC_BYTES,
    PACKAGES_ENV,
    RUNTIME_ENV,
    RUNTIMES,
    bundle_needs_cloudpickle,
    code_spec,
    launch_command,
    launch_prologue,
    runtime_bundle_text,
    runtime_problem,
    stored_kind,
)
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
    "Guard",
    "INTERPRETER",
    "Identity",
    "MACROS",
    "MAX_SPEC_BYTES",
    "Node",
    "OUTCOME",
    "PACKAGES_ENV",
    "RUNTIMES",
    "RUNTIME_ENV",
    "argument_problem",
    "bundle_needs_cloudpickle",
    "capabilities_of",
    "check",
    "check_schedule",
    "code_spec",
    "desugar",
    "flatten",
    "function_name",
    "guard_sources",
    "identity_of",
    "is_builtin",
    "is_tolerant",
    "launch_command",
    "launch_prologue",
    "pod_of",
    "runtime_bundle_text",
    "runtime_problem",
    "schedule_of",
    "stored_kind",
    "sub_environment",
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
