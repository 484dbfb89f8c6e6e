"""Names in a compiled KFP document: components, executors, tasks, and the names we keep for ourselves.

Everything the cluster turns into a Kubernetes object goes through :func:`mlopsdsl.naming.k8s_name`, the
function validation already checked, so a name that would break on the cluster failed where it was
written. Component and executor names follow kfp's own ``comp-NAME`` / ``exec-NAME`` convention; the
second distinct component for the same name gets ``-2``, as kfp does.
"""

from __future__ import annotations

from mlopsdsl.naming import k8s_name

__all__ = [
    "PACK_COMPONENT",
    "PACK_INPUT",
    "PACK_OUTPUT",
    "RUNTIME_COMPONENT",
    "RUNTIME_EXECUTOR",
    "RUNTIME_INPUT",
    "RUNTIME_OUTPUT",
    "RUNTIME_TASK",
    "Names",
    "executor_for",
    "task_name",
]

RUNTIME_TASK = "mlopsdsl-runtime"
"""The task that writes the runtime bundle for every other task (bundle mode)."""
RUNTIME_COMPONENT = "comp-mlopsdsl-runtime"
RUNTIME_EXECUTOR = "exec-mlopsdsl-runtime"
RUNTIME_OUTPUT = "bundle"
RUNTIME_INPUT = "mlopsdsl_runtime"
"""The input artifact through which each step (and each sub-pipeline) receives the bundle."""
PACK_COMPONENT = "mlopsdsl-pack"
"""The component (``comp-mlopsdsl-pack``) of the tasks that pack a collected list to enter a sub-DAG."""
PACK_INPUT = "items"
PACK_OUTPUT = "pack"


class Names:
    """Hands out unique component names in the order they are asked for, which is deterministic."""

    def __init__(self, reserved: set[str]) -> None:
        self._taken = set(reserved)

    def component(self, name: str) -> str:
        """A fresh ``comp-NAME``, ``comp-NAME-2``, ... for ``name``."""
        base = f"comp-{k8s_name(name)}"
        candidate, number = base, 1
        while candidate in self._taken:
            number += 1
            candidate = f"{base}-{number}"
        self._taken.add(candidate)
        return candidate


def executor_for(component: str) -> str:
    """The executor label of a step component: ``comp-train`` runs ``exec-train``."""
    return "exec-" + component.removeprefix("comp-")


def task_name(task_id: str) -> str:
    """The KFP task name of an IR task."""
    return k8s_name(task_id)
