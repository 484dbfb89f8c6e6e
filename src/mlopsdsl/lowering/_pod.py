"""Pod settings: the one rule that combines a pipeline's ``pod=`` defaults with a step's own.

Every Kubernetes backend asks :func:`pod_of` what a step's pod looks like, and :func:`identity_of` which
user it runs as, so that a setting means the same on KFP and Argo. Only the pipeline that is run gives
defaults: a sub-pipeline's own ``pod=`` applies when it is run by itself, not when another pipeline calls
it (a step shared by two sub-pipelines would otherwise need two pods in one run).
"""

from __future__ import annotations

import dataclasses

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass

__all__ = ["DEFAULT_USER", "Identity", "identity_of", "pod_of"]

DEFAULT_USER = 1000
"""The user and group id a step runs as unless its pod says otherwise: never root by default."""


@dataclass(frozen=True)
class Identity:
    """Which user a step's container runs as."""

    user: int
    group: int
    non_root: bool


def pod_of(document: ir.Document, step: ir.StepSpec) -> ir.Pod | None:
    """The pod settings of ``step`` in a run of ``document``'s root pipeline, or ``None`` when none are set.

    A step's own value of a setting wins over the pipeline's; affinity rules and image pull secrets add
    up (the pipeline's first), because a default meant for every step should not vanish when one step
    adds a rule of its own.
    """
    base = document.pipeline.pod
    own = step.options.kubernetes.pod
    if base is None or own is None:
        return own if base is None else base
    merged: dict[str, object] = {}
    for field in dataclasses.fields(ir.Pod):
        mine, theirs = getattr(own, field.name), getattr(base, field.name)
        if field.name in ("affinity", "image_pull_secrets"):
            merged[field.name] = tuple(dict.fromkeys([*theirs, *mine]))
        else:
            merged[field.name] = mine if mine is not None else theirs
    if own.run_as_root is False and own.run_as_user is None and merged["run_as_user"] == 0:
        merged["run_as_user"] = None  # the step takes back the root the pipeline allowed
    return ir.Pod(**merged)  # type: ignore[arg-type]


def identity_of(pod: ir.Pod | None) -> Identity | None:
    """The user of a pod that chooses one, or ``None``: then the backend's non-root default applies."""
    if pod is None or (pod.run_as_user is None and pod.run_as_group is None and pod.run_as_root is None):
        return None
    root = pod.run_as_root is True
    user = pod.run_as_user if pod.run_as_user is not None else (0 if root else DEFAULT_USER)
    group = pod.run_as_group if pod.run_as_group is not None else (0 if root else DEFAULT_USER)
    return Identity(user=user, group=group, non_root=not root)
